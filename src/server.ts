import { randomBytes } from 'node:crypto';
import type { Config } from './core/config/index.js';
import { ConfigRevisions } from './core/config/revisions.js';
import { Alarms } from './core/alarms.js';
import type { Logger } from './core/logger.js';
import { getProfile } from './core/profiles.js';
import { Store } from './core/store.js';
import { LocationStore } from './features/registrar/location.js';
import { alarmOnStore, Authenticator, securityParts } from './core/security/index.js';
import { Registrar } from './features/registrar/registrar.js';
import { DigestServer } from './sip/auth/digest.js';
import { Calls, musicOnHold, SettingsStore, type CallUser, type PhoneSettings } from './features/calls/index.js';
import { Conferences } from './features/conference/conferences.js';
import type { Voicemail } from './features/voicemail/voicemail.js';
import { buildRouter, type Router } from './features/routing/index.js';
import { Trunks } from './features/trunks/index.js';
import { HuntCalls, HuntGroups, loadAnnouncements } from './features/huntgroups/index.js';
import { MediaEngine } from './media/index.js';
import { InviteServerTransaction } from './sip/transaction/server.js';
import { RequestDispatcher, type RequestHandler } from './sip/ua/dispatch.js';
import { openCallRecords, type CallRecords } from './features/cdr/index.js';
import { CallJournal } from './features/cdr/journal.js';
import { readFileSync } from 'node:fs';
import { SipStack } from './sip/stack.js';
import { Lifecycle } from './core/lifecycle.js';
import { LogLimit } from './sip/log-limit.js';
import type { CallRecord } from './core/call-record.js';
import { callUserOf, mailboxesOf, settingsOf, type LiveState, type ReconfigureResult } from './reconfigure.js';
import { ConfigState, type ReconfigureOptions } from './config-state.js';
import { AdminServer } from './admin/server.js';
import { BackupSchedule } from './admin/backup-schedule.js';
import type { PbxNode } from './node.js';
import { advertisedAddress, isWildcard } from './core/advertise.js';
import { SolutionNode } from './solution/node.js';
import { viewText } from './solution/document.js';
import { peerCoreOf } from './solution/backup.js';
import type { HomeState } from './solution/directory.js';
import type { ReplicaTargets } from './solution/replication.js';
import { Journal } from './core/journal.js';
import type { UserConfig } from './core/config/index.js';
import { buildVoicemail, type VoicemailParts } from './voicemail-parts.js';
import type { NodeBoot } from './solution/boot.js';

export type { ReconfigureResult } from './reconfigure.js';
export type { ReconfigureOptions } from './config-state.js';

export interface ServerOptions {
  /** The node's place in a solution (src/solution/boot.ts); absent: a node on its own, no bus. */
  solution?: NodeBoot;
  /**
   * The text of the configuration document (YAML) and the file it was read from, if any: the
   * revision history keeps the text, and the admin API edits it (writing the file back).
   * Default: the configuration written out as YAML, with no file.
   */
  source?: { text: string; path?: string };
}


/** Methods this node answers; the stack refuses the rest with 405/501. */
const METHODS = ['REGISTER', 'OPTIONS', 'INVITE', 'ACK', 'BYE', 'CANCEL', 'INFO', 'UPDATE', 'REFER', 'NOTIFY', 'SUBSCRIBE'];

/** What the node's part in a solution is made with (before the features; `targets` filled in after them). */
interface SolutionParts {
  store: Store;
  stack: SipStack;
  location: LocationStore;
  journal: Journal;
  targets: ReplicaTargets;
}

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
  revisions: ConfigRevisions;
  live: LiveState;
}


/**
 * One node of the solution: the store, the SIP stack and the features, built from one
 * validated configuration (the composition root). Each part is added to one lifecycle list with
 * its start and close; `close()` closes them in reverse order and leaves no socket, timer or
 * database handle behind.
 */
export class Server implements PbxNode {
  /** What operators must know about now (lockouts, limits hit, the disk full); the admin API lists them. */
  readonly alarms: Alarms;
  readonly #log: Logger;
  readonly #lifecycle: Lifecycle;
  readonly #state: ConfigState;
  #parts: Parts | undefined;
  #users = new Map<string, string>();
  #maxCalls = 0;
  #announcer: ReturnType<typeof loadAnnouncements> | undefined;
  readonly #recordListeners = new Set<(r: CallRecord) => void>();
  #startedAt: Date | undefined;
  #closed = false;
  /** In a solution: users this node backs up (extension -> password), registered here in standby. */
  readonly #standby = new Map<string, string>();
  /** Whether this node serves its own users (in a solution its backup may, for a while). */
  #home: HomeState = 'serving';
  readonly #boot: NodeBoot | undefined;
  #solution: SolutionNode | undefined;

  constructor(config: Config, logger: Logger, options: ServerOptions = {}) {
    if (!config || typeof config !== 'object' || !Array.isArray(config.users)) throw new TypeError('config: a validated configuration expected (loadConfig, parseConfig)');
    if (options.source !== undefined && typeof options.source?.text !== 'string') throw new TypeError('options.source.text: must be a string');
    // a solution node's view is kept as JSON (a YAML document too): YAML's stringify of a view
    // with the 32 nodes took 30-200 ms, on every node at every revision that concerns it
    this.#state = new ConfigState(config, options.source ?? (options.solution ? { text: viewText(config) } : undefined));
    this.#log = logger;
    this.#lifecycle = new Lifecycle(logger);
    this.alarms = new Alarms({ logger });
    this.#boot = options.solution;
  }

  /** The node's part in a solution (bus, configuration, directory); undefined on its own. */
  get solution(): SolutionNode | undefined {
    return this.#solution;
  }

  /** The configuration in force: the last one applied by reconfigure() (see pending for what still waits for a restart). */
  get config(): Config {
    return this.#state.config;
  }

  /** The configuration the node started on (what a restart-only change is measured against). */
  get started(): Config {
    return this.#state.started;
  }

  /** The text of the document in force and its file, if the node was started on one. */
  get source(): { readonly text: string; readonly path: string | undefined } {
    return this.#state.source;
  }

  /** The revision of the configuration in force (see ConfigRevisions). */
  get revision(): number {
    return this.#state.revision;
  }

  /** When start() finished. */
  get startedAt(): Date | undefined {
    return this.#startedAt;
  }

  /** Calls `fn` with each call record as its call ends (metrics); returns the unsubscribe function. */
  onCallRecord(fn: (r: CallRecord) => void): () => void {
    this.#recordListeners.add(fn);
    return () => void this.#recordListeners.delete(fn);
  }

  /** Paths changed since the start that wait for a restart. */
  get pending(): readonly string[] {
    return this.#state.pending;
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

  get conferences(): Conferences {
    return this.#p.conferences;
  }

  get router(): Router {
    return this.#p.router;
  }

  /** Digest authentication of SIP requests (its stats: challenges, failures, lockouts). */
  get auth(): Authenticator {
    return this.#p.auth;
  }

  get store(): Store {
    return this.#p.store;
  }

  /** The configuration's revisions kept in the store. */
  get revisions(): ConfigRevisions {
    return this.#p.revisions;
  }

  /** The node's relayed-call channels now (configured, or the profile's). */
  get maxCalls(): number {
    return this.#maxCalls;
  }

  /** The names of the node's parts in start order (they close in the reverse order). */
  get parts(): string[] {
    return this.#lifecycle.names;
  }

  async start(): Promise<void> {
    try {
      this.#parts = await this.#build();
      this.#state.recordStart(this.#parts.revisions);
      await this.#lifecycle.start();
    } catch (e) {
      await this.#lifecycle.close();
      throw e;
    }
    this.#startedAt = new Date();
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

  /**
   * Applies a new validated configuration without dropping calls: users and their passwords,
   * hunt groups, the dial plan, conference rooms, mailboxes and the channel limit at once (calls
   * in progress keep going on what they started with); what only a restart can change (listen
   * addresses, the store, the media ports...) is reported as pending and keeps its old value.
   * The new document is kept as the next revision. Nothing is half-applied: a failure throws
   * and leaves the node as it was. (The one mechanism: the admin API and the solution bus call it.)
   */
  async reconfigure(next: Config, options: ReconfigureOptions = {}): Promise<ReconfigureResult> {
    const p = this.#p;
    if (this.#closed) throw new Error('server closed');
    return this.#state.apply(next, options, { store: p.store, revisions: p.revisions, live: p.live, log: this.#log });
  }

  /** Builds every part and adds it to the lifecycle, the parts each later one is built on first. */
  async #build(): Promise<Parts> {
    const c = this.config;
    const log = this.#log;
    const life = this.#lifecycle;
    const alarms = this.alarms;
    const profile = getProfile(c.node.profile);
    for (const u of c.users) this.#users.set(u.extension, u.password);
    const advertised = (path: string, address: string, advertise?: string): string => {
      const a = advertisedAddress(address, advertise);
      if (isWildcard(address) && advertise === undefined) log.info(`${path}: bound to ${address}, advertising ${a} (set ${path}.advertise to choose)`);
      return a;
    };

    const store = life.add('store', Store.open(c.storage.path), { close: (s) => s.close() });
    alarmOnStore(store, alarms);
    const revisions = new ConfigRevisions(store);
    // what the other core replays (voicemail, phone settings, hunt groups): kept only where there is one
    const replicaJournal = new Journal(store, this.#boot !== undefined && peerCoreOf(this.#boot.document.config, this.#boot.node) !== undefined);
    // which installation a store (and so a backup of it) belongs to: a restore refuses a foreign one
    store.getOrCreateMeta('installation.id', () => randomBytes(16).toString('hex'));
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
    // every limit of issue 15 (lockouts, connections, calls per user, session timers) from the configuration
    const sec = securityParts(c, log, alarms);
    let callTimers = { rtpTimeoutMs: sec.rtpTimeoutMs, sessionTimer: sec.sessionTimer };

    // Requests reach the features through the dispatcher; each feature adds its methods below.
    let calls: Calls | undefined;
    let solution: SolutionNode | undefined;
    const dispatcher = new RequestDispatcher(log);
    const stack: SipStack = new SipStack({
      listen: c.sip.listen.map((l, i) => ({ ...l, advertise: advertised(`sip.listen[${i}]`, l.address, l.advertise) })),
      maxMessageSize: c.sip.maxMessageSize,
      t1: c.sip.timers.t1,
      t2: c.sip.timers.t2,
      t4: c.sip.timers.t4,
      userAgent: c.sip.userAgent,
      logger: log,
      methods: METHODS,
      supported: ['path', 'outbound', 'replaces'],
      // message-summary: the counts the voicemail node sends over a node link
      accept: ['application/sdp', 'application/dtmf-relay', 'application/dtmf', 'message/sipfrag', 'application/simple-message-summary'],
      onRequest: (req, tx) => dispatcher.dispatch(req, tx),
      // a linked node's keepalive proves the link's credentials
      onOptions: (req, tx) => solution?.links.onOptions(req, tx) ?? false,
      onAck: (ack) => calls?.onAck(ack),
      onStrayResponse: (res) => calls?.onStrayResponse(res),
      onFlowClosed: (flowId) => location.flowClosed(flowId),
      ...sec.stack,
    });
    life.add('sip', stack, { start: () => stack.start(), close: (s) => s.close() });
    dispatcher.attach(stack);

    const domains = new Set<string>([c.sip.domain.toLowerCase(), 'localhost']);
    for (const l of c.sip.listen) domains.add(l.address.toLowerCase());
    // standby users (this node backs up their home node) register here too, before it serves them
    const auth = new Authenticator({ stack, digest, lockout: sec.lockout, sourceLimit: sec.sourceLimit, userLimit: sec.userLimit, alarms, logger: log, password: (u) => this.#users.get(u) ?? this.#standby.get(u) });
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
      isUser: (ext) => this.#users.has(ext) || this.#standby.has(ext),
      isStandby: (ext) => !this.#users.has(ext) && this.#standby.has(ext),
      standbyCapacity: profile.users,
    });
    dispatcher.on('REGISTER', (req, tx) => registrar.handle(req, tx));
    // made now (started last): the calls and voicemail below reach the other nodes through it
    let voicemail: VoicemailParts | undefined;
    // where the other core's journal entries are applied: filled in once the features are made
    const targets: ReplicaTargets = {};
    solution = this.#boot ? this.#solutionNode(this.#boot, { store, stack, location, journal: replicaJournal, targets }, () => voicemail) : undefined;
    // a phone registered or went: the other nodes hear it now, not at the next heartbeat
    if (solution) location.onPresence = () => solution?.presenceChanged();

    const engine = life.add('media', new MediaEngine({ address: c.media.address, advertise: advertised('media', c.media.address, c.media.advertise), portMin: c.media.portMin, portMax: c.media.portMax }), { close: (e) => e.close() });
    const records = life.add('cdr', await openCallRecords(c.cdr, store, log), { close: (r) => r.close() });
    const users = new Map<string, CallUser>(c.users.map((u) => [u.extension, callUserOf(u)]));
    const settingsBase = new Map<string, PhoneSettings>(c.users.map((u) => [u.extension, settingsOf(u)]));
    const settings = new SettingsStore(store, settingsBase, replicaJournal);
    const conferences = life.add('conference', new Conferences({
      engine, logger: log, config: c.conference,
      channels: profile.conferenceChannels, maxParties: profile.conferenceChannelsPerConference,
    }), { close: (x) => x.close() });
    const groupNumbers = new Set(c.huntGroups.map((g) => g.extension));
    this.#announcer = loadAnnouncements(c.huntGroups);
    this.#maxCalls = c.calls.maxChannels ?? profile.sipTrunkChannels;
    // numbers looked up live: a reconfiguration changes the users and groups in place
    const otherNumbers = solution ? (n: string) => solution.numbering.owner(n) !== undefined : undefined;
    const router = buildRouter(c, (n) => users.has(n) || groupNumbers.has(n) || (otherNumbers?.(n) ?? false));
    const moh = c.calls.musicOnHold ? { wav: readFileSync(c.calls.musicOnHold) } : musicOnHold();
    const hunt = life.add('huntgroups', new HuntCalls({
      groups: new HuntGroups({ groups: c.huntGroups, store, journal: replicaJournal, inTimeProfile: (p, at) => router.timeProfileActive(p, at) }),
      // late-bound: a reconfiguration swaps the announcements
      logger: log, music: moh, announcement: (g, which) => this.#announcer!(g, which),
    }), { close: (h) => h.close() });
    voicemail = buildVoicemail({ config: () => this.config, life, log, store, stack, location, auth, alarms: this.alarms, journal: replicaJournal, solution });
    targets.mailboxes = voicemail?.voicemail?.store;
    targets.settings = settings;
    targets.hunt = hunt.groups;
    // message waiting is the one event package (RFC 6665): other SUBSCRIBEs get 489
    const subscribe: RequestHandler = (req, tx) => {
      if (!voicemail?.mwi.handle(req, tx)) stack.refuse(tx, 489, 'Bad Event');
    };
    dispatcher.on('SUBSCRIBE', subscribe).onDialog((req, tx) => {
      if (req.method !== 'SUBSCRIBE') return false;
      subscribe(req, tx);
      return true;
    });
    // message waiting from the solution's voicemail node, over a node link
    dispatcher.on('NOTIFY', (req, tx) => {
      if (!solution?.mwi.handle(req, tx)) stack.refuse(tx, 405);
    });
    const trunks = new Trunks({ stack, logger: log, trunks: c.trunks, nodeChannels: profile.sipTrunkChannels });
    const maxCalls = () => this.#maxCalls;
    // calls up when the node last died are recorded now (ending when it was last seen alive); this
    // run's calls are journalled until the calls part has drained them (it closes before this one)
    const journal = CallJournal.recovered({ store, logger: log, live: (at) => calls?.live(at) ?? [] }, (r) => records.record(r));
    life.add('call-journal', journal, { start: () => journal.start(), close: (j) => j.close() });
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
      // a getter: a reconfiguration changes the limit for the next call
      get maxCalls(): number {
        return maxCalls();
      },
      ringTimeoutMs: c.calls.ringTimeoutSeconds * 1000,
      drainTimeoutMs: c.calls.shutdownSeconds * 1000,
      musicOnHold: moh,
      onRecord: (r) => {
        records.record(r);
        for (const fn of this.#recordListeners) fn(r);
      },
      services: { meetMe: conferences, voicemail: voicemail?.voicemail },
      voicemailCode: c.voicemail.collectCode,
      voicemailBusyFallback: c.voicemail.busyFallback,
      adHoc: conferences,
      router,
      trunks,
      huntGroups: hunt,
      serving: () => this.#home === 'serving',
      standby: (ext) => this.#standby.has(ext),
      solution: solution?.calls,
      callLimits: sec.callLimits,
      // getters: a reconfiguration changes them for the calls that follow
      get rtpTimeoutMs(): number {
        return callTimers.rtpTimeoutMs;
      },
      get sessionTimer() {
        return callTimers.sessionTimer;
      },
    }), { close: (x) => x.close() });
    const theCalls = calls;
    dispatcher.on('INVITE', (req, tx) => {
      if (tx instanceof InviteServerTransaction) theCalls.onInvite(req, tx);
    });
    dispatcher.onDialog((req, tx) => theCalls.onInDialog(req, tx));


    // a status line a minute for operators (and the figures a metrics endpoint will serve)
    let statusTimer: NodeJS.Timeout | undefined;
    life.addPart({
      name: 'status',
      start: () => {
        statusTimer = setInterval(() => log.info('status', this.status()), 60_000);
      },
      close: () => clearInterval(statusTimer),
    });
    const live: LiveState = {
      passwords: this.#users, callUsers: users, settings: settingsBase, groupNumbers, router, hunt, conferences,
      voicemail: voicemail?.voicemail, location, standby: this.#standby,
      setAnnouncer: (a) => (this.#announcer = a),
      setMaxCalls: (n) => (this.#maxCalls = n),
      otherNumbers,
      otherMailboxes: () => (solution && voicemail?.voicemail ? mailboxesOf({ users: solution.remoteUsers(), huntGroups: [] }) : []),
      callLimits: sec.callLimits,
      setCallTimers: (t) => (callTimers = t),
    };
    if (c.admin.backup.everyHours > 0) {
      const schedule = new BackupSchedule(this, log);
      life.add('backup-schedule', schedule, { start: () => schedule.start(), close: (b) => b.close() });
    }
    if (c.admin.enabled) {
      const admin = new AdminServer({ node: this, logger: log });
      life.add('admin', admin, { start: () => admin.start(), close: (a) => a.close() });
    }
    if (solution) {
      const node = solution;
      this.#solution = life.add('solution', node, { start: () => node.start(), close: (x) => x.close() });
    }
    return { store, stack, location, auth, registrar, engine, records, conferences, router, hunt, trunks, calls, voicemail, revisions, live };
  }

  /** The node's part in a solution: made before the features (they reach other nodes through it), started last. */
  #solutionNode(boot: NodeBoot, x: SolutionParts, vm: () => VoicemailParts | undefined): SolutionNode {
    const c = this.config;
    const { store, stack, location } = x;
    return new SolutionNode({
      document: boot.document, view: c, revision: boot.revision, source: boot.source, publishedAtLeast: boot.storedRevision, node: boot.node, file: boot.file,
      store, stack, logger: this.#log,
      // The bus's revision is the solution's; the node keeps its own history of what it applied
      // (reconfigure numbers it), so the two counters never have to agree.
      apply: async (cfg, _revision, actor) => {
        const r = await this.reconfigure(cfg, { actor, text: viewText(cfg) });
        return { applied: r.applied, pending: r.pending };
      },
      registered: () => [...this.#users.keys()].filter((u) => location.hasAor(u)),
      host: {
        journal: x.journal,
        targets: x.targets,
        standby: (users) => this.#setStandby(users, location),
        home: (state) => {
          const was = this.#home;
          this.#home = state;
          // back to serving its own users: their lights as this node has them now
          if (state === 'serving' && was !== 'serving') for (const u of this.#users.keys()) vm()?.mwi.update(u);
        },
        served: (users) => {
          for (const u of users) vm()?.mwi.update(u);
        },
      },
      // counts are sent only from where voicemail runs now (the secondary's replica waits until it serves)
      mailboxCounts: (mailbox) => {
        const v = vm()?.voicemail;
        if (this.#solution?.calls.voicemailNode !== undefined) return undefined;
        return v?.has(mailbox) ? v.store.counts(mailbox) : undefined;
      },
      onMailboxCounts: (mailbox) => vm()?.mwi.update(mailbox),
      // users of other nodes came or went: the primary keeps their mailboxes
      onNumbering: () => {
        const v = vm()?.voicemail;
        if (v && this.#solution) v.store.setMailboxes([...mailboxesOf(this.config), ...mailboxesOf({ users: this.#solution.remoteUsers(), huntGroups: [] })]);
      },
    });
  }

  /** What the node is doing now: registrations, calls, busy-hour attempts, SIP and media counters. */
  status(): Record<string, unknown> {
    const p = this.#parts;
    const e = p?.engine.stats();
    const vm = p?.voicemail;
    return {
      node: this.config.node.name,
      solution: this.#solution?.status(),
      bindings: p?.location.size ?? 0,
      registeredUsers: p?.location.aorCount ?? 0,
      calls: p?.calls.active ?? 0,
      conferences: p?.conferences.status(),
      huntGroups: p?.hunt.status().map((g) => ({ extension: g.extension, service: g.service, loggedIn: g.loggedIn.length, queued: g.queued })),
      voicemail: vm ? { ...vm.voicemail?.status(), ...vm.mwi.status(), email: vm.email?.status() } : undefined,
      trunks: p?.trunks.status(),
      callAttemptsLastHour: p?.calls.attemptsLastHour ?? 0,
      sip: p ? { ...p.stack.stats, transactions: p.stack.transactions.serverCount + p.stack.transactions.clientCount } : undefined,
      media: p && e ? { endpoints: p.engine.endpoints.length, rxPackets: e.rxPackets, txPackets: e.txPackets, lateP99Ms: e.lateP99Ms } : undefined,
    };
  }

  /**
   * The users whose phones may register here in standby now. A user leaving the set (removed
   * from the document, or no longer backed up here) and not served here loses its registrations.
   */
  #setStandby(users: UserConfig[], location: LocationStore): void {
    const next = new Map(users.map((u) => [u.extension, u.password]));
    for (const ext of this.#standby.keys()) {
      if (!next.has(ext) && !this.#users.has(ext)) for (const b of location.lookup(ext)) location.remove(ext, b.key);
    }
    this.#standby.clear();
    for (const [k, v] of next) this.#standby.set(k, v);
  }

  /** Closes every part in the reverse order of start; idempotent. */
  async close(): Promise<void> {
    const first = !this.#closed;
    this.#closed = true;
    await this.#lifecycle.close();
    if (first) this.#log.info('server stopped', { node: this.config.node.name });
  }
}
