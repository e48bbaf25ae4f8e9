import { randomBytes } from 'node:crypto';
import type { Config } from './core/config/index.js';
import type { Logger } from './core/logger.js';
import { getProfile } from './core/profiles.js';
import { Store } from './core/store.js';
import { LocationStore } from './features/registrar/location.js';
import { Lockout } from './core/security/lockout.js';
import { Authenticator } from './core/security/authenticator.js';
import { Registrar } from './features/registrar/registrar.js';
import { DigestServer } from './sip/auth/digest.js';
import { Calls, type CallUser } from './features/calls/calls.js';
import { Conferences } from './features/conference/conferences.js';
import { Voicemail, type MailboxDef } from './features/voicemail/voicemail.js';
import { MessageWaiting } from './features/voicemail/mwi.js';
import { EmailForwarder } from './features/voicemail/email.js';
import { Router } from './features/routing/index.js';
import { Trunks } from './features/trunks/index.js';
import { HuntCalls, HuntGroups, loadAnnouncements } from './features/huntgroups/index.js';
import { MediaEngine } from './media/index.js';
import { musicOnHold } from './features/calls/tones.js';
import { SettingsStore } from './features/calls/settings.js';
import type { SipRequest } from './sip/message/message.js';
import { InviteServerTransaction } from './sip/transaction/server.js';
import { openCallRecords, type CallRecords } from './features/cdr/index.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SipStack } from './sip/stack.js';
import type { ServerTransaction } from './sip/transaction/server.js';

/** Methods this node answers; the stack refuses the rest with 405/501. */
const METHODS = ['REGISTER', 'OPTIONS', 'INVITE', 'ACK', 'BYE', 'CANCEL', 'INFO', 'UPDATE', 'REFER', 'NOTIFY', 'SUBSCRIBE'];

/**
 * One node of the solution: the store, the SIP stack and the features, wired from one
 * validated configuration. `close()` leaves no socket, timer or database handle behind.
 */
export class Server {
  readonly config: Config;
  readonly #log: Logger;
  #store: Store | undefined;
  #stack: SipStack | undefined;
  #location: LocationStore | undefined;
  #registrar: Registrar | undefined;
  #engine: MediaEngine | undefined;
  #calls: Calls | undefined;
  #conferences: Conferences | undefined;
  #voicemail: Voicemail | undefined;
  #hunt: HuntCalls | undefined;
  #mwi: MessageWaiting | undefined;
  #email: EmailForwarder | undefined;
  #router: Router | undefined;
  #trunks: Trunks | undefined;
  #records: CallRecords | undefined;
  #users = new Map<string, string>();
  #closed = false;
  #statusTimer: NodeJS.Timeout | undefined;

  constructor(config: Config, logger: Logger) {
    this.config = config;
    this.#log = logger;
  }

  get stack(): SipStack {
    if (!this.#stack) throw new Error('server not started');
    return this.#stack;
  }

  /** The node's hunt groups and the calls to them. */
  get hunt(): HuntCalls | undefined {
    return this.#hunt;
  }

  /** The node's voicemail; undefined when its profile has no voicemail channels. */
  get voicemail(): Voicemail | undefined {
    return this.#voicemail;
  }

  get location(): LocationStore {
    if (!this.#location) throw new Error('server not started');
    return this.#location;
  }

  get trunks(): Trunks {
    if (!this.#trunks) throw new Error('server not started');
    return this.#trunks;
  }

  get calls(): Calls {
    if (!this.#calls) throw new Error('server not started');
    return this.#calls;
  }

  /** Call records (CDR) of this node. */
  get records(): CallRecords {
    if (!this.#records) throw new Error('server not started');
    return this.#records;
  }

  get engine(): MediaEngine | undefined {
    return this.#engine;
  }

  get registrar(): Registrar {
    if (!this.#registrar) throw new Error('server not started');
    return this.#registrar;
  }

  async start(): Promise<void> {
    const c = this.config;
    const log = this.#log;
    const profile = getProfile(c.node.profile);
    for (const u of c.users) this.#users.set(u.extension, u.password);

    this.#store = Store.open(c.storage.path);
    const secret = c.security.secret !== null
      ? Buffer.from(c.security.secret, 'utf8')
      : Buffer.from(this.#store.getOrCreateMeta('digest.secret', () => randomBytes(32).toString('hex')), 'hex');
    const digest = new DigestServer({
      realm: c.sip.domain,
      secret,
      nonceLifetimeMs: c.security.digest.nonceLifetimeSeconds * 1000,
      algorithms: [...c.security.digest.algorithms],
    });
    this.#location = new LocationStore(this.#store);
    const lockout = new Lockout({
      maxFailures: c.security.lockout.maxFailures,
      windowMs: c.security.lockout.windowSeconds * 1000,
      lockoutMs: c.security.lockout.lockoutSeconds * 1000,
    });

    const stack = new SipStack({
      listen: c.sip.listen.map((l) => ({ ...l })),
      maxMessageSize: c.sip.maxMessageSize,
      t1: c.sip.timers.t1,
      t2: c.sip.timers.t2,
      t4: c.sip.timers.t4,
      userAgent: c.sip.userAgent,
      logger: log,
      methods: METHODS,
      supported: ['path', 'outbound', 'replaces'],
      accept: ['application/sdp', 'application/dtmf-relay', 'application/dtmf', 'message/sipfrag'],
      onRequest: (req, tx) => this.#onRequest(req, tx),
      onAck: (ack) => this.#calls?.onAck(ack),
      onStrayResponse: (res) => this.#calls?.onStrayResponse(res),
      onFlowClosed: (flowId) => this.#location?.flowClosed(flowId),
    });
    this.#stack = stack;

    const domains = new Set<string>([c.sip.domain.toLowerCase(), 'localhost']);
    for (const l of c.sip.listen) domains.add(l.address.toLowerCase());
    const auth = new Authenticator({ stack, digest, lockout, logger: log, password: (u) => this.#users.get(u) });
    this.#registrar = new Registrar({
      stack,
      location: this.#location,
      auth,
      logger: log,
      domains,
      minExpires: c.registrar.minExpires,
      maxExpires: c.registrar.maxExpires,
      defaultExpires: c.registrar.defaultExpires,
      maxContactsPerUser: c.registrar.maxContactsPerUser,
      userCapacity: profile.users,
      isUser: (ext) => this.#users.has(ext),
    });
    this.#location.onRemoved = (b, why) => log.info(`binding removed (${why})`, { aor: b.aor, contact: b.contact });

    this.#engine = new MediaEngine({ address: c.media.address, portMin: c.media.portMin, portMax: c.media.portMax });
    this.#records = await openCallRecords(c.cdr, this.#store, log);
    const records = this.#records;
    const users = new Map<string, CallUser>(c.users.map((u) => [u.extension, { extension: u.extension, name: u.name, media: u.media, voicemail: u.voicemail.enabled }]));
    const settings = new SettingsStore(this.#store, new Map(c.users.map((u) => [u.extension, {
      forwardAll: u.forward.all, forwardBusy: u.forward.busy, forwardNoAnswer: u.forward.noAnswer,
      noAnswerSeconds: u.forward.noAnswerSeconds, doNotDisturb: u.doNotDisturb, callWaiting: u.callWaiting,
      withholdCallerId: u.withholdCallerId,
    }])));
    const location = this.#location;
    this.#conferences = new Conferences({
      engine: this.#engine, logger: log, config: c.conference,
      channels: profile.conferenceChannels, maxParties: profile.conferenceChannelsPerConference,
    });
    const groupNumbers = new Set(c.huntGroups.map((g) => g.extension));
    this.#router = new Router({
      dialPlan: c.dialPlan, users: c.users,
      // hunt group numbers are dialled like extensions
      isExtension: (n) => users.has(n) || groupNumbers.has(n),
    });
    const router = this.#router;
    const moh = c.calls.musicOnHold ? { wav: readFileSync(c.calls.musicOnHold) } : musicOnHold();
    this.#hunt = new HuntCalls({
      groups: new HuntGroups({ groups: c.huntGroups, store: this.#store, inTimeProfile: (p, at) => router.timeProfileActive(p, at) }),
      logger: log, music: moh, announcement: loadAnnouncements(c.huntGroups),
    });
    this.#startVoicemail(auth);
    this.#trunks = new Trunks({ stack, logger: log, trunks: c.trunks });
    this.#calls = new Calls({
      stack,
      engine: this.#engine,
      auth,
      logger: log,
      domain: c.sip.domain,
      users,
      locate: (ext) => location.lookup(ext),
      settings,
      maxCalls: c.calls.maxChannels ?? profile.sipTrunkChannels,
      ringTimeoutMs: c.calls.ringTimeoutSeconds * 1000,
      musicOnHold: moh,
      onRecord: (r) => records.record(r),
      services: { meetMe: this.#conferences, voicemail: this.#voicemail },
      voicemailCode: c.voicemail.collectCode,
      voicemailBusyFallback: c.voicemail.busyFallback,
      adHoc: this.#conferences,
      router: this.#router,
      trunks: this.#trunks,
      huntGroups: this.#hunt,
    });

    try {
      await stack.start();
    } catch (e) {
      await this.close();
      throw e;
    }
    await this.#trunks.start();
    // a status line a minute for operators (and the figures a metrics endpoint will serve)
    this.#statusTimer = setInterval(() => log.info('status', this.status()), 60_000);
    this.#statusTimer.unref();
    log.info('server started', {
      node: c.node.name,
      role: c.node.role,
      profile: c.node.profile,
      listen: c.sip.listen.map((l) => `${l.transport}:${l.address}:${l.port}`),
      users: c.users.length,
      bindings: this.#location.size,
    });
  }

  /**
   * Mailboxes for every user and hunt group, the voicemail ports of the profile, message
   * waiting to phones (SUBSCRIBE and unsolicited NOTIFY), and email forwarding when SMTP is set.
   */
  #startVoicemail(auth: Authenticator): void {
    const c = this.config;
    const channels = c.voicemail.channels ?? getProfile(c.node.profile).voicemailChannels;
    if (channels === 0) {
      this.#log.info('voicemail: off (no voicemail channels on this node)', { profile: c.node.profile });
      return;
    }
    const mailboxes: MailboxDef[] = [
      ...c.users.map((u): MailboxDef => ({
        id: u.extension, kind: 'user', name: u.name, pin: u.voicemail.pin, email: u.voicemail.email, quotaMinutes: u.voicemail.quotaMinutes,
      })),
      ...c.huntGroups.map((g): MailboxDef => ({
        id: g.extension, kind: 'group', name: g.name, pin: g.voicemail.pin, email: g.voicemail.email, quotaMinutes: g.voicemail.quotaMinutes,
      })),
    ];
    const smtp = c.voicemail.smtp;
    const email = smtp ? new EmailForwarder({ store: this.#store!, smtp, dir: join(c.voicemail.dir, 'outbox'), logger: this.#log }) : undefined;
    this.#email = email;
    const vm = new Voicemail({
      db: this.#store!, logger: this.#log, config: c.voicemail, mailboxes, channels,
      onMessage: (m, box) => {
        if (!email || !box.email) return;
        try {
          email.enqueue({ to: box.email, mailbox: box.id, mailboxName: box.name, caller: m.caller, callerName: m.callerName, receivedAt: m.receivedAt, durationMs: m.durationMs, wavPath: m.path });
        } catch (e) {
          // the message itself is kept; only its email copy could not be queued
          this.#log.error(`voicemail ${box.id}: message ${m.id} not queued for email: ${(e as Error).message}`);
        }
      },
    });
    this.#voicemail = vm;
    const location = this.#location!;
    const stack = this.#stack!;
    this.#mwi = new MessageWaiting({
      stack, auth, logger: this.#log, domain: c.sip.domain,
      locate: (user) => location.lookup(user),
      counts: (mailbox) => (vm.has(mailbox) ? vm.store.counts(mailbox) : undefined),
      // a user watches their own mailbox and those of the hunt groups they belong to
      mayWatch: (user, mailbox) => user === mailbox || (c.huntGroups.find((g) => g.extension === mailbox)?.members.some((m) => m.extension === user) ?? false),
      contact: (protocol) => {
        const l = stack.local(protocol);
        return `<sip:${l.address}:${l.port}${protocol === 'udp' ? '' : `;transport=${protocol}`}>`;
      },
    });
    const mwi = this.#mwi;
    vm.store.on('change', (mailbox) => mwi.update(mailbox));
  }

  #onRequest(req: SipRequest, tx: ServerTransaction): void {
    const stack = this.#stack!;
    if (req.method === 'SUBSCRIBE') {
      if (!this.#mwi?.handle(req, tx)) stack.respond(tx, stack.createResponse(req, 489, 'Bad Event'));
      return;
    }
    switch (req.method) {
      case 'REGISTER':
        this.#registrar!.handle(req, tx);
        return;
      case 'OPTIONS': {
        const res = stack.createResponse(req, 200);
        res.set('allow', METHODS.join(', '));
        res.set('accept', 'application/sdp');
        res.set('supported', 'path, outbound, replaces');
        stack.respond(tx, res);
        return;
      }
      default:
        if (req.to.tag !== undefined) {
          if (!this.#calls!.onInDialog(req, tx)) stack.respond(tx, stack.createResponse(req, 481));
        } else if (req.method === 'INVITE' && tx instanceof InviteServerTransaction) {
          this.#calls!.onInvite(req, tx);
        } else {
          stack.respond(tx, stack.createResponse(req, req.method === 'BYE' || req.method === 'INFO' || req.method === 'UPDATE' ? 481 : 405));
        }
    }
  }

  /** What the node is doing now: registrations, calls, busy-hour attempts, SIP and media counters. */
  status(): Record<string, unknown> {
    const e = this.#engine?.stats();
    return {
      node: this.config.node.name,
      bindings: this.#location?.size ?? 0,
      registeredUsers: this.#location?.aorCount ?? 0,
      calls: this.#calls?.active ?? 0,
      conferences: this.#conferences?.status(),
      huntGroups: this.#hunt?.status().map((g) => ({ extension: g.extension, service: g.service, loggedIn: g.loggedIn.length, queued: g.queued })),
      voicemail: this.#voicemail ? { ...this.#voicemail.status(), ...this.#mwi?.status(), email: this.#email?.status() } : undefined,
      trunks: this.#trunks?.status(),
      callAttemptsLastHour: this.#calls?.attemptsLastHour ?? 0,
      sip: this.#stack ? { ...this.#stack.stats, transactions: this.#stack.transactions.serverCount + this.#stack.transactions.clientCount } : undefined,
      media: e ? { endpoints: this.#engine!.endpoints.length, rxPackets: e.rxPackets, txPackets: e.txPackets, lateP99Ms: e.lateP99Ms } : undefined,
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#statusTimer);
    this.#calls?.close();
    this.#conferences?.close();
    this.#hunt?.close();
    this.#voicemail?.close();
    this.#mwi?.close();
    this.#email?.close();
    await this.#trunks?.close();
    await this.#records?.close();
    await this.#stack?.close();
    this.#engine?.close();
    this.#location?.close();
    this.#store?.close();
    this.#log.info('server stopped', { node: this.config.node.name });
  }
}
