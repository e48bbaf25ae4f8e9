import { randomBytes } from 'node:crypto';
import type { Config } from './core/config/index.js';
import type { Logger } from './core/logger.js';
import { getProfile } from './core/profiles.js';
import { Store } from './core/store.js';
import { LocationStore } from './features/registrar/location.js';
import { alarmOnStore, Authenticator, securityParts } from './core/security/index.js';
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
import { CallJournal } from './features/cdr/journal.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SipStack } from './sip/stack.js';
import { Lifecycle } from './core/lifecycle.js';
import { Alarms } from './core/alarms.js';
import { LogLimit } from './sip/log-limit.js';
import type { ServerTransaction } from './sip/transaction/server.js';

/** Methods this node answers; the stack refuses the rest with 405/501. */
const METHODS = ['REGISTER', 'OPTIONS', 'INVITE', 'ACK', 'BYE', 'CANCEL', 'INFO', 'UPDATE', 'REFER', 'NOTIFY', 'SUBSCRIBE'];

/** What a started node is made of; built together in `start()`, so nothing here is optional. */
interface Parts {
  store: Store;
  stack: SipStack;
  location: LocationStore;
  auth: Authenticator;
  registrar: Registrar;
  engine: MediaEngine;
  records: CallRecords;
  conferences: Conferences;
  router: Router;
  hunt: HuntCalls;
  trunks: Trunks;
  calls: Calls;
  /** Absent when the node's profile has no voicemail channels. */
  voicemail: VoicemailParts | undefined;
}

interface VoicemailParts {
  voicemail: Voicemail;
  mwi: MessageWaiting;
  email: EmailForwarder | undefined;
}

/**
 * One node of the solution: the store, the SIP stack and the features, built from one
 * validated configuration (the composition root). Each part is added to one lifecycle list with
 * its start and close; `close()` closes them in reverse order and leaves no socket, timer or
 * database handle behind.
 */
export class Server {
  readonly config: Config;
  /** What operators must know about now (lockouts, limits hit, the disk full); the admin API lists them. */
  readonly alarms: Alarms;
  readonly #log: Logger;
  readonly #lifecycle: Lifecycle;
  #parts: Parts | undefined;
  #users = new Map<string, string>();
  #closed = false;

  constructor(config: Config, logger: Logger) {
    this.config = config;
    this.#log = logger;
    this.#lifecycle = new Lifecycle(logger);
    this.alarms = new Alarms({ logger });
  }

  get #p(): Parts {
    if (!this.#parts) throw new Error('server not started');
    return this.#parts;
  }

  get stack(): SipStack {
    return this.#p.stack;
  }

  /** The node's hunt groups and the calls to them. */
  get hunt(): HuntCalls {
    return this.#p.hunt;
  }

  /** The node's voicemail; undefined when its profile has no voicemail channels. */
  get voicemail(): Voicemail | undefined {
    return this.#parts?.voicemail?.voicemail;
  }

  get location(): LocationStore {
    return this.#p.location;
  }

  get trunks(): Trunks {
    return this.#p.trunks;
  }

  get calls(): Calls {
    return this.#p.calls;
  }

  /** Call records (CDR) of this node. */
  get records(): CallRecords {
    return this.#p.records;
  }

  get engine(): MediaEngine | undefined {
    return this.#parts?.engine;
  }

  get registrar(): Registrar {
    return this.#p.registrar;
  }

  /** The names of the node's parts in start order (they close in the reverse order). */
  get parts(): string[] {
    return this.#lifecycle.names;
  }

  async start(): Promise<void> {
    try {
      this.#parts = await this.#build();
      await this.#lifecycle.start();
    } catch (e) {
      await this.#lifecycle.close();
      throw e;
    }
    const c = this.config;
    this.#log.info('server started', {
      node: c.node.name,
      role: c.node.role,
      profile: c.node.profile,
      listen: c.sip.listen.map((l) => `${l.transport}:${l.address}:${l.port}`),
      users: c.users.length,
      bindings: this.#p.location.size,
    });
  }

  /** Builds every part and adds it to the lifecycle, the parts each later one is built on first. */
  async #build(): Promise<Parts> {
    const c = this.config;
    const log = this.#log;
    const life = this.#lifecycle;
    const alarms = this.alarms;
    const profile = getProfile(c.node.profile);
    for (const u of c.users) this.#users.set(u.extension, u.password);

    const store = life.add('store', Store.open(c.storage.path), { close: (s) => s.close() });
    alarmOnStore(store, alarms);
    const secret = c.security.secret !== null
      ? Buffer.from(c.security.secret, 'utf8')
      : Buffer.from(store.getOrCreateMeta('digest.secret', () => randomBytes(32).toString('hex')), 'hex');
    const digest = new DigestServer({
      realm: c.sip.domain,
      secret,
      nonceLifetimeMs: c.security.digest.nonceLifetimeSeconds * 1000,
      algorithms: [...c.security.digest.algorithms],
      qop: c.security.digest.requireQop ? 'required' : 'optional',
    });
    const location = life.add('location', new LocationStore(store), { close: (l) => l.close() });
    location.onRemoved = (b, why) => log.info(`binding removed (${why})`, { aor: b.aor, contact: b.contact });
    const locationLog = new LogLimit(1, 60_000);
    location.onWriteError = (err, waiting) => {
      if (locationLog.take() !== undefined) log.error(`registrations not stored (${err.message}): ${waiting} changes kept in memory, retried`, { waiting });
    };
    const sec = securityParts(c, log, alarms);
    // Requests reach the features through these late-bound hooks: the stack is built first.
    let calls: Calls | undefined;
    const stack: SipStack = new SipStack({
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
      onAck: (ack) => calls?.onAck(ack),
      onStrayResponse: (res) => calls?.onStrayResponse(res),
      onFlowClosed: (flowId) => location.flowClosed(flowId),
      ...sec.stack,
    });
    life.add('sip', stack, { start: () => stack.start(), close: (s) => s.close() });

    const domains = new Set<string>([c.sip.domain.toLowerCase(), 'localhost']);
    for (const l of c.sip.listen) domains.add(l.address.toLowerCase());
    const auth = new Authenticator({ stack, digest, lockout: sec.lockout, sourceLimit: sec.sourceLimit, userLimit: sec.userLimit, alarms, logger: log, password: (u) => this.#users.get(u) });
    const registrar = new Registrar({
      stack,
      location,
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

    const engine = life.add('media', new MediaEngine({ address: c.media.address, portMin: c.media.portMin, portMax: c.media.portMax }), { close: (e) => e.close() });
    const records = life.add('cdr', await openCallRecords(c.cdr, store, log), { close: (r) => r.close() });
    const users = new Map<string, CallUser>(c.users.map((u) => [u.extension, { extension: u.extension, name: u.name, media: u.media, voicemail: u.voicemail.enabled }]));
    const settings = new SettingsStore(store, new Map(c.users.map((u) => [u.extension, {
      forwardAll: u.forward.all, forwardBusy: u.forward.busy, forwardNoAnswer: u.forward.noAnswer,
      noAnswerSeconds: u.forward.noAnswerSeconds, doNotDisturb: u.doNotDisturb, callWaiting: u.callWaiting,
      withholdCallerId: u.withholdCallerId,
    }])));
    const conferences = life.add('conference', new Conferences({
      engine, logger: log, config: c.conference,
      channels: profile.conferenceChannels, maxParties: profile.conferenceChannelsPerConference,
    }), { close: (x) => x.close() });
    const groupNumbers = new Set(c.huntGroups.map((g) => g.extension));
    const router = new Router({
      dialPlan: c.dialPlan, users: c.users,
      // hunt group numbers are dialled like extensions
      isExtension: (n) => users.has(n) || groupNumbers.has(n),
    });
    const moh = c.calls.musicOnHold ? { wav: readFileSync(c.calls.musicOnHold) } : musicOnHold();
    const hunt = life.add('huntgroups', new HuntCalls({
      groups: new HuntGroups({ groups: c.huntGroups, store, inTimeProfile: (p, at) => router.timeProfileActive(p, at) }),
      logger: log, music: moh, announcement: loadAnnouncements(c.huntGroups),
    }), { close: (h) => h.close() });
    const voicemail = this.#buildVoicemail(store, stack, location, auth);
    const trunks = new Trunks({ stack, logger: log, trunks: c.trunks });
    life.add('trunks', trunks, { start: () => trunks.start(), close: (t) => t.close() });
    calls = life.add('calls', new Calls({
      stack,
      engine,
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
      services: { meetMe: conferences, voicemail: voicemail?.voicemail },
      voicemailCode: c.voicemail.collectCode,
      voicemailBusyFallback: c.voicemail.busyFallback,
      adHoc: conferences,
      router,
      trunks,
      huntGroups: hunt,
      callLimits: sec.callLimits,
      rtpTimeoutMs: sec.rtpTimeoutMs,
      sessionTimer: sec.sessionTimer,
    }), { close: (x) => x.close() });

    // calls up when the node last died are recorded now, ending when it was last seen alive
    const journal = new CallJournal({ store, logger: log, live: (at) => calls!.live(at) });
    journal.recoverInto((r) => records.record(r));
    life.add('call-journal', journal, { start: () => journal.start(), close: (j) => j.close() });

    // a status line a minute for operators (and the figures a metrics endpoint will serve)
    let statusTimer: NodeJS.Timeout | undefined;
    life.addPart({
      name: 'status',
      start: () => {
        statusTimer = setInterval(() => log.info('status', this.status()), 60_000);
      },
      close: () => clearInterval(statusTimer),
    });
    return { store, stack, location, auth, registrar, engine, records, conferences, router, hunt, trunks, calls, voicemail };
  }

  /**
   * Mailboxes for every user and hunt group, the voicemail ports of the profile, message
   * waiting to phones (SUBSCRIBE and unsolicited NOTIFY), and email forwarding when SMTP is set.
   */
  #buildVoicemail(store: Store, stack: SipStack, location: LocationStore, auth: Authenticator): VoicemailParts | undefined {
    const c = this.config;
    const life = this.#lifecycle;
    const channels = c.voicemail.channels ?? getProfile(c.node.profile).voicemailChannels;
    if (channels === 0) {
      this.#log.info('voicemail: off (no voicemail channels on this node)', { profile: c.node.profile });
      return undefined;
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
    const email = smtp
      ? life.add('voicemail-email', new EmailForwarder({ store, smtp, dir: join(c.voicemail.dir, 'outbox'), logger: this.#log }), { close: (e) => e.close() })
      : undefined;
    const vm = life.add('voicemail', new Voicemail({
      db: store, logger: this.#log, config: c.voicemail, mailboxes, channels, alarms: this.alarms,
      onMessage: (m, box) => {
        if (!email || !box.email) return;
        try {
          email.enqueue({ to: box.email, mailbox: box.id, mailboxName: box.name, caller: m.caller, callerName: m.callerName, receivedAt: m.receivedAt, durationMs: m.durationMs, wavPath: m.path });
        } catch (e) {
          // the message itself is kept; only its email copy could not be queued
          this.#log.error(`voicemail ${box.id}: message ${m.id} not queued for email: ${(e as Error).message}`);
        }
      },
    }), { close: (v) => v.close() });
    const mwi = life.add('message-waiting', new MessageWaiting({
      stack, auth, logger: this.#log, domain: c.sip.domain, maxPerUser: c.voicemail.maxSubscriptionsPerUser,
      locate: (user) => location.lookup(user),
      counts: (mailbox) => (vm.has(mailbox) ? vm.store.counts(mailbox) : undefined),
      // a user watches their own mailbox and those of the hunt groups they belong to
      mayWatch: (user, mailbox) => user === mailbox || (c.huntGroups.find((g) => g.extension === mailbox)?.members.some((m) => m.extension === user) ?? false),
      contact: (protocol) => {
        const l = stack.local(protocol);
        return `<sip:${l.address}:${l.port}${protocol === 'udp' ? '' : `;transport=${protocol}`}>`;
      },
    }), { close: (m) => m.close() });
    vm.store.on('change', (mailbox) => mwi.update(mailbox));
    return { voicemail: vm, mwi, email };
  }

  #onRequest(req: SipRequest, tx: ServerTransaction): void {
    const { stack, registrar, calls, voicemail } = this.#p;
    if (req.method === 'SUBSCRIBE') {
      if (!voicemail?.mwi.handle(req, tx)) stack.respond(tx, stack.createResponse(req, 489, 'Bad Event'));
      return;
    }
    switch (req.method) {
      case 'REGISTER':
        registrar.handle(req, tx);
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
        // (security, issue 15) refusals of requests that match nothing go out statelessly: a flood
        // of made-up dialogs leaves no transactions behind and brings back one packet each
        if (req.to.tag !== undefined) {
          if (!calls.onInDialog(req, tx)) stack.respond(tx, stack.stateless(stack.createResponse(req, 481)));
        } else if (req.method === 'INVITE' && tx instanceof InviteServerTransaction) {
          calls.onInvite(req, tx);
        } else {
          stack.respond(tx, stack.stateless(stack.createResponse(req, req.method === 'BYE' || req.method === 'INFO' || req.method === 'UPDATE' ? 481 : 405)));
        }
    }
  }

  /** What the node is doing now: registrations, calls, busy-hour attempts, SIP and media counters. */
  status(): Record<string, unknown> {
    const p = this.#parts;
    const e = p?.engine.stats();
    const vm = p?.voicemail;
    return {
      node: this.config.node.name,
      bindings: p?.location.size ?? 0,
      registeredUsers: p?.location.aorCount ?? 0,
      calls: p?.calls.active ?? 0,
      conferences: p?.conferences.status(),
      huntGroups: p?.hunt.status().map((g) => ({ extension: g.extension, service: g.service, loggedIn: g.loggedIn.length, queued: g.queued })),
      voicemail: vm ? { ...vm.voicemail.status(), ...vm.mwi.status(), email: vm.email?.status() } : undefined,
      trunks: p?.trunks.status(),
      callAttemptsLastHour: p?.calls.attemptsLastHour ?? 0,
      sip: p ? { ...p.stack.stats, transactions: p.stack.transactions.serverCount + p.stack.transactions.clientCount } : undefined,
      media: p && e ? { endpoints: p.engine.endpoints.length, rxPackets: e.rxPackets, txPackets: e.txPackets, lateP99Ms: e.lateP99Ms } : undefined,
    };
  }

  /** Closes every part in the reverse order of start; idempotent. */
  async close(): Promise<void> {
    const first = !this.#closed;
    this.#closed = true;
    await this.#lifecycle.close();
    if (first) this.#log.info('server stopped', { node: this.config.node.name });
  }
}
