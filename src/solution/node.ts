/**
 * This node's part in the solution (one lifecycle part of the server): the nats-server it
 * runs if it is a core, its bus connection, the configuration it follows and applies, the
 * document it publishes if it is the primary, the directory of the other nodes, OPTIONS to the
 * watched nodes, failover (failover.ts: which nodes' users it serves, and whether it serves its
 * own) and, on a core, replication with the other core (replication.ts).
 *
 * Applying a revision: the document is assembled from the bus, validated here again (the
 * node's own code decides what it accepts), turned into this node's view, handed to `apply`
 * (Server.reconfigure: live where it can be, the rest reported as pending a restart), and
 * stored in SQLite with its revision, so a restart without the bus starts on it.
 */
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { ConfigError, type Config, type UserConfig } from '../core/config/index.js';
import type { Raw } from '../core/config/fields.js';
import type { Journal } from '../core/journal.js';
import type { Logger } from '../core/logger.js';
import type { Store } from '../core/store.js';
import type { SipStack } from '../sip/stack.js';
import { AppliedStore } from './applied.js';
import { backedUpBy, servingView, standbyUsersOf, watchedNodes } from './backup.js';
import { Bus } from './bus.js';
import { ConfigFollower, ensureMirror, publishDocument } from './config-sync.js';
import { SolutionCalls } from './calls.js';
import { BusDirectory, type Directory, type HomeState } from './directory.js';
import { dataDirOf, homeOf, nodeEntry, nodeView, primaryOf, solutionFromRaw, type SolutionDocument } from './document.js';
import type { Manifest } from './entries.js';
import { Failover } from './failover.js';
import { NodeLinks, type LinkStatus } from './links.js';
import { MwiRelay } from './mwi-relay.js';
import type { MailboxCounts } from '../features/voicemail/mwi.js';
import { NatsServer } from './nats-server.js';
import { Numbering } from './numbering.js';
import { NodeProbe } from './probe.js';
import { Replication, type ReplicaTargets } from './replication.js';
import { DocumentValidator } from './validator.js';

/** What applying a configuration did: sections live now, and sections that wait for a restart. */
export interface ApplyResult {
  applied: string[];
  pending: string[];
}

/** Applies a node view to the running node (Server.reconfigure); `actor`: 'bus' (a revision) or 'failover'. */
export type Applier = (config: Config, revision: number, actor: 'bus' | 'failover') => Promise<ApplyResult>;

/** What the solution asks of the node beyond applying views (Server implements it). */
export interface SolutionHost {
  /** The node's journal (enabled on a core that has a peer core): replicated to the other core. */
  journal: Journal;
  /** Where the other core's journal entries are applied. */
  targets: ReplicaTargets;
  /** The users whose phones may hold standby registrations here now (their home's backup is this node, and it does not serve them). */
  standby(users: UserConfig[]): void;
  /** Whether this node serves its own users now (else new calls are refused: its backup serves them). */
  home(state: HomeState): void;
  /** This node started or stopped serving these users: their message-waiting lights may have to change. */
  served(users: string[]): void;
}

export interface SolutionNodeOptions {
  /** The node's view of `document`: what it runs on now. */
  view: Config;
  /** The document the node runs on now (its file's, or the one it applied last). */
  document: SolutionDocument;
  /** That document's revision (0: not yet published). */
  revision: number;
  /** Where the running configuration came from. */
  source: 'file' | 'store';
  /** The primary publishes revisions above this (the last one it stored). */
  publishedAtLeast: number;
  /** This node's name in the document. */
  node: string;
  /** The document's file (on the primary: the solution's document, which it publishes). */
  file?: string;
  store: Store;
  logger: Logger;
  apply: Applier;
  /** Users with a registered phone on this node now. */
  registered: () => string[];
  /** Failover and replication; absent: the node only follows the configuration (and links). */
  host?: SolutionHost;
  /** The node's SIP stack: the node links are trunks on it; OPTIONS to the watched nodes. */
  stack: SipStack;
  /** The solution's numbers changed (a user added on any node, a user moved). */
  onNumbering?: () => void;
  /** Counts of a mailbox kept on this node (the voicemail node). */
  mailboxCounts?: (mailbox: string) => MailboxCounts | undefined;
  /** Counts of a mailbox of this node's users arrived from the voicemail node. */
  onMailboxCounts?: (mailbox: string) => void;
}

export class SolutionNode {
  readonly #o: SolutionNodeOptions;
  readonly #applied: AppliedStore;
  readonly #bus: Bus;
  readonly #server: NatsServer | undefined;
  readonly #follower: ConfigFollower;
  readonly #directory: BusDirectory;
  readonly #probe: NodeProbe | undefined;
  readonly #failover: Failover | undefined;
  readonly #replication: Replication | undefined;
  /** Nodes whose users this node serves now, besides its own. */
  #serving: readonly string[] = [];
  readonly #links: NodeLinks;
  readonly #calls: SolutionCalls;
  readonly #mwi: MwiRelay;
  readonly #role: string;
  #numbering: Numbering;
  /** The document: raw as last recorded; config as last validated (its parts that concern this node are current). */
  #doc: SolutionDocument;
  #view: Config;
  /** The primary's latest document, published again on every (re)connection until it is on the bus. */
  #published: SolutionDocument;
  #revision: number;
  #source: 'file' | 'store' | 'bus';
  #pending: string[] = [];
  #appliedAt: string | undefined;
  #queue: Promise<void> = Promise.resolve();
  /** The newest revision waiting for the one being applied (see the follower's onDocument). */
  #next: { m: Manifest; raw: Raw; mine: boolean } | undefined;
  /** Validates each revision against the last one accepted, object by object. */
  readonly #validator = new DocumentValidator();
  /** The digests of the last manifest seen, and the home node of each user and trunk entry in it. */
  #seen: Manifest | undefined;
  #homes = new Map<string, string>();
  /** The last revision that concerned this node was applied (not refused). */
  #lastOk = true;
  #closed = false;
  /** Who waits for a revision to be applied here (the admin API after publishing), by revision. */
  readonly #waiters = new Map<number, ((r: ApplyResult | undefined) => void)[]>();

  constructor(o: SolutionNodeOptions) {
    const c = o.document.config;
    const me = nodeEntry(c, o.node);
    const primary = primaryOf(c)!;
    const secondary = c.nodes.find((n) => n.role === 'secondary');
    this.#o = o;
    this.#doc = o.document;
    this.#view = o.view;
    this.#published = o.document;
    this.#revision = o.revision;
    this.#source = o.source;
    this.#role = me.role;
    this.#applied = new AppliedStore(o.store);
    this.#numbering = new Numbering(o.document.raw, primary.name);
    this.#links = new NodeLinks({
      stack: o.stack, logger: o.logger, self: me.name, nodes: c.nodes, busPassword: c.bus.password, config: c.links,
      onState: (link, state) => {
        if (state === 'up') this.#mwi.linkUp(link);
      },
    });
    this.#mwi = new MwiRelay({
      stack: o.stack, links: this.#links, logger: o.logger, self: me.name, numbering: () => this.#numbering, domain: o.view.sip.domain,
      counts: o.mailboxCounts, onCounts: o.onMailboxCounts,
    });
    const busOf = (n: typeof me) => ({ address: n.bus.address ?? n.address, port: n.bus.port });
    const addr = (n: typeof me) => {
      const b = busOf(n);
      return b.address.includes(':') ? `[${b.address}]:${b.port}` : `${b.address}:${b.port}`;
    };
    const { user, password } = c.bus;
    if (me.role !== 'expansion' && me.bus.managed) {
      const own = busOf(me);
      const p = busOf(primary);
      this.#server = new NatsServer({
        name: me.name, address: own.address, port: own.port, user, password, logger: o.logger,
        dir: join(dataDirOf(c, me.name), 'nats'),
        leafListen: me.role === 'primary' ? { address: own.address, port: me.bus.leafPort } : undefined,
        leafRemote: me.role === 'secondary' ? { address: p.address, port: primary.bus.leafPort } : undefined,
      });
    }
    // cores use their own server (the leaf link reaches the other); expansions use both cores
    const servers = me.role === 'expansion' ? [primary, ...(secondary ? [secondary] : [])].map(addr) : [addr(me)];
    this.#bus = new Bus({ name: me.name, servers, user, password, logger: o.logger });
    this.#follower = new ConfigFollower({
      bus: this.#bus,
      domains: [primary.name, ...(secondary ? [secondary.name] : [])],
      logger: o.logger,
      onDocument: (m, raw, entries) => {
        const mine = this.#concernsMe(m, entries);
        // revisions that arrive while one is applied wait as one: the newest, concerning this
        // node if any of them did (a burst of publications is one apply, not one each)
        const waiting = this.#next;
        this.#next = { m, raw, mine: mine || (waiting?.mine ?? false) };
        if (waiting) return;
        this.#queue = this.#queue
          .then(() => {
            const next = this.#next!;
            this.#next = undefined;
            return this.#onDocument(next.m, next.raw, next.mine);
          })
          .catch((e: unknown) => o.logger.error(`solution: applying a revision failed: ${(e as Error).message}`));
      },
    });
    const host = o.host;
    const peer = me.role === 'primary' ? secondary : me.role === 'secondary' ? primary : undefined;
    if (host && peer && host.journal.enabled) {
      this.#replication = new Replication({ bus: this.#bus, self: me.name, peer: peer.name, journal: host.journal, store: o.store, targets: host.targets, logger: o.logger });
    }
    if (host) {
      this.#probe = new NodeProbe({
        stack: o.stack, domain: o.view.sip.domain, self: me.name,
        intervalMs: Math.min(1000, Math.max(100, (c.bus.holdDownSeconds * 1000) / 4)),
        targets: () => {
          const cfg = this.#doc.config;
          return watchedNodes(cfg).filter((n) => n !== me.name).map((n) => nodeEntry(cfg, n)).map((n) => ({ name: n.name, address: n.sip.address ?? n.address, port: n.sip.port }));
        },
      });
      this.#failover = new Failover({
        self: me.name, config: () => this.#doc.config, logger: o.logger,
        inputs: {
          heard: (n) => this.#directory.heard(n),
          lastAnswer: (n) => this.#probe!.lastAnswer(n),
          busConnectedSince: () => this.#bus.connectedSince,
          caughtUp: () => this.#replication?.caughtUp ?? true,
        },
        serve: (nodes) => this.#serve(nodes),
        home: (state) => host.home(state),
        announce: () => this.#directory.presenceChanged(),
      });
    }
    this.#directory = new BusDirectory({
      bus: this.#bus, self: { name: me.name, role: me.role },
      heartbeatMs: c.bus.heartbeatSeconds * 1000, holdDownMs: c.bus.holdDownSeconds * 1000,
      registered: o.registered, revision: () => this.#revision, logger: o.logger,
      failover: this.#failover && (() => this.#failover!.announcement()),
      owner: (n) => this.#numbering.owner(n),
    });
    this.#calls = new SolutionCalls({ self: me.name, role: me.role, numbering: () => this.#numbering, directory: this.#directory, links: this.#links });
    // Standby registrations are taken from the moment SIP answers: the node's SIP starts before
    // this part does (after its bus server and the admin API), and a phone's standby REGISTER in
    // between failed as an unknown user; the phone's retries then locked the user out there.
    host?.standby(standbyUsersOf(c, me.name, []));
  }

  /** The solution as calls reach it: who serves a number, the node links. */
  get calls(): SolutionCalls {
    return this.#calls;
  }

  get links(): NodeLinks {
    return this.#links;
  }

  /** Message waiting between the voicemail node and the nodes the users' phones are on. */
  get mwi(): MwiRelay {
    return this.#mwi;
  }

  /** The solution's numbers and where each lives, as of the last revision seen. */
  get numbering(): Numbering {
    return this.#numbering;
  }

  /**
   * The users of the other nodes (validated): the primary keeps every user's mailbox. Current on
   * the primary, which takes every revision that changes users.
   */
  remoteUsers(): UserConfig[] {
    const c = this.#doc.config;
    return c.users.filter((u) => homeOf(c, u) !== this.#o.node);
  }

  /**
   * Serves the users of `nodes` (nodes this node backs up) besides its own from now on, or
   * again only its own: the node's view with their users (and hunt groups) applied like a
   * revision, in the queue revisions go through; their message-waiting lights refreshed.
   */
  #serve(nodes: string[]): Promise<void> {
    const run = async () => {
      const before = this.#serving;
      const view = servingView(this.#doc, this.#o.node, nodes);
      const host = this.#o.host!;
      const cfg = this.#doc.config;
      // every user it backs up is a standby user while the view changes: no phone is forgotten on the way
      host.standby(standbyUsersOf(cfg, this.#o.node, []));
      if (!isDeepStrictEqual(view, this.#view)) await this.#o.apply(view, this.#revision, 'failover');
      this.#view = view;
      this.#serving = nodes;
      host.standby(standbyUsersOf(cfg, this.#o.node, nodes));
      const moved = [...before.filter((n) => !nodes.includes(n)), ...nodes.filter((n) => !before.includes(n))];
      host.served(cfg.users.filter((u) => moved.includes(homeOf(cfg, u))).map((u) => u.extension));
    };
    const done = this.#queue.then(run);
    this.#queue = done.catch(() => {});
    return done;
  }

  /** "Is node N up", "where is user X": for features and failover. */
  /** Registrations here changed: announce them on the bus now rather than at the next heartbeat. */
  presenceChanged(): void {
    this.#directory.presenceChanged();
  }

  get directory(): Directory {
    return this.#directory;
  }

  get revision(): number {
    return this.#revision;
  }

  get role(): string {
    return this.#role;
  }

  /** The document's file, when the node started on one (the primary's is the solution's). */
  get file(): string | undefined {
    return this.#o.file;
  }

  /** The bus is connected now (the primary can publish). */
  get busConnected(): boolean {
    return this.#bus.state === 'connected';
  }

  /** The primary's entry in the document (where other nodes send configuration changes). */
  get primary(): { name: string; address: string } {
    const p = primaryOf(this.#doc.config)!;
    return { name: p.name, address: p.address };
  }

  /**
   * Resolves with what applying `revision` (or a later one) did here, once it is applied;
   * undefined after `timeoutMs` (the bus is slow or away; it applies later).
   */
  async applied(revision: number, timeoutMs: number): Promise<ApplyResult | undefined> {
    if (this.#revision >= revision) return { applied: [], pending: [...this.#pending] };
    return new Promise((done) => {
      const timer = setTimeout(() => done(undefined), timeoutMs);
      const list = this.#waiters.get(revision) ?? [];
      list.push((r) => {
        clearTimeout(timer);
        done(r);
      });
      this.#waiters.set(revision, list);
    });
  }

  async start(): Promise<void> {
    const o = this.#o;
    o.logger.info('solution: node starting', { node: o.node, role: this.#role, revision: this.#revision, source: this.#source });
    await this.#server?.start();
    if (this.#role === 'secondary') {
      const primary = primaryOf(this.#doc.config)!.name;
      this.#bus.onConnected((nc) => {
        ensureMirror(nc, primary).catch((e: unknown) => o.logger.warn(`bus: mirror of the primary's configuration not set up: ${(e as Error).message}`));
      });
    }
    if (this.#role === 'primary') this.#bus.onConnected(() => void this.publish(this.#published));
    this.#o.host?.standby(standbyUsersOf(this.#doc.config, o.node, []));
    this.#follower.start();
    this.#directory.start();
    this.#links.start();
    this.#replication?.start();
    this.#probe?.start();
    this.#failover?.start();
    this.#bus.start();
  }

  /** Failover decisions (for tests and status). */
  get failover(): Failover | undefined {
    return this.#failover;
  }

  /** Replication with the other core; undefined on an expansion or without a peer core. */
  get replication(): Replication | undefined {
    return this.#replication;
  }

  /**
   * The primary publishes `doc` (validated already) as the next revision; resolves with the
   * revision on the bus, or undefined when the bus is unreachable (published on reconnection).
   */
  async publish(doc: SolutionDocument): Promise<number | undefined> {
    if (this.#role !== 'primary') throw new Error(`solution: only the primary publishes (this node is ${this.#role})`);
    nodeView(doc, this.#o.node); // this node must still be in it
    this.#published = doc;
    const nc = this.#bus.connection;
    if (!nc || this.#bus.state !== 'connected') {
      this.#o.logger.warn('solution: bus unreachable, the document is published once it is back');
      return undefined;
    }
    try {
      const { manifest, changed } = await publishDocument(nc, doc, { publisher: this.#o.node, atLeast: this.#o.publishedAtLeast });
      if (changed > 0) this.#o.logger.info('solution: configuration published', { revision: manifest.revision, changedEntries: changed });
      return manifest.revision;
    } catch (e) {
      this.#o.logger.error(`solution: publishing failed: ${(e as Error).message}`);
      return undefined;
    }
  }

  /**
   * Whether revision `m` can change this node's view: an entry changed that every node reads
   * (a section, the nodes, the dial plan, rooms), a user or trunk homed here before or now, or a
   * hunt group on the primary. Nodes it does not concern record the revision without
   * validating the whole document again: at 32 nodes on shared cores, that work is what a
   * change costs (the primary validated the document before publishing it).
   */
  #concernsMe(m: Manifest, entries: ReadonlyMap<string, string>): boolean {
    const last = this.#seen;
    this.#seen = m;
    const primary = primaryOf(this.#doc.config)?.name;
    const homeIn = (key: string): string | undefined => {
      const text = entries.get(key);
      if (text === undefined) return undefined;
      const v = (JSON.parse(text) as { value?: { node?: unknown } }).value;
      return typeof v?.node === 'string' ? v.node : primary;
    };
    const changed = last ? [...new Set([...m.order, ...last.order])].filter((k) => m.digests[k] !== last.digests[k]) : m.order;
    let mine = last === undefined;
    // users of the nodes it backs up hold standby registrations here, and are served here at times
    const here = new Set([this.#o.node, ...backedUpBy(this.#doc.config, this.#o.node)]);
    for (const key of changed) {
      const top = key.slice(0, key.indexOf('.') >>> 0);
      if (top === 'users' || top === 'trunks') {
        const now = key in m.digests ? homeIn(key) : undefined;
        const before = this.#homes.get(key);
        if ((now !== undefined && here.has(now)) || (before !== undefined && here.has(before))) mine = true;
        // the primary keeps every user's mailbox, and the secondary their replicas
        if (top === 'users' && this.#role !== 'expansion') mine = true;
        if (now === undefined) this.#homes.delete(key);
        else this.#homes.set(key, now);
      } else if (top !== 'huntGroups' || this.#role === 'primary' || here.has(primary ?? '')) {
        mine = true;
      }
    }
    return mine;
  }

  async #onDocument(m: Manifest, raw: Raw, concernsMe: boolean): Promise<void> {
    if (this.#closed || m.revision <= this.#revision) return;
    const log = this.#o.logger;
    // every node dials every number: the numbering follows each revision, whoever it concerns
    // (again only when what it is made of changed: unchanged entries are the same objects)
    if (!['users', 'huntGroups', 'trunks'].every((k) => isDeepStrictEqual(raw[k], this.#doc.raw[k]))) this.#numbering = new Numbering(raw, this.#numbering.primary);
    let result: ApplyResult = { applied: [], pending: [] };
    if (!concernsMe && this.#lastOk && this.#source === 'bus') {
      this.#doc = { raw, config: this.#doc.config, hash: m.hash };
    } else if (m.hash !== this.#doc.hash || this.#source !== 'bus') {
      let doc: SolutionDocument;
      let view: Config;
      try {
        doc = solutionFromRaw(raw, `bus revision ${m.revision}`, { hash: m.hash, owned: true, validator: this.#validator });
        view = nodeView(doc, this.#o.node);
      } catch (e) {
        const problems = e instanceof ConfigError ? e.problems : [(e as Error).message];
        log.error('solution: revision refused, still running on the previous one', { revision: m.revision, running: this.#revision, problems });
        this.#lastOk = false;
        return;
      }
      // while this node serves other nodes' users, its view has them too
      if (this.#serving.length > 0) view = servingView(doc, this.#o.node, this.#serving);
      this.#o.host?.standby(standbyUsersOf(doc.config, this.#o.node, this.#serving));
      // another node's users or trunks changed: nothing to do here
      if (!isDeepStrictEqual(view, this.#view)) {
        result = await this.#o.apply(view, m.revision, 'bus');
        // the applier compares with what runs: its pending list is the whole of it
        this.#pending = result.pending;
      }
      this.#doc = doc;
      this.#view = view;
      this.#lastOk = true;
      this.#links.update(doc.config.nodes, doc.config.bus.password, doc.config.links);
    }
    this.#o.onNumbering?.();
    this.#applied.save({ revision: m.revision, hash: m.hash, document: raw });
    this.#revision = m.revision;
    this.#source = 'bus';
    this.#appliedAt = new Date().toISOString();
    log.info('solution: configuration applied', { revision: m.revision, publishedAt: m.publishedAt, applied: result.applied, pendingRestart: this.#pending });
    for (const [rev, fns] of this.#waiters) {
      if (rev > m.revision) continue;
      this.#waiters.delete(rev);
      for (const fn of fns) fn({ applied: result.applied, pending: [...this.#pending] });
    }
  }

  status(): Record<string, unknown> {
    return {
      node: this.#o.node,
      role: this.#role,
      revision: this.#revision,
      source: this.#source,
      appliedAt: this.#appliedAt,
      pendingRestart: this.#pending,
      bus: { ...this.#bus.status(), following: this.#follower.source, server: this.#server ? { pid: this.#server.pid } : undefined },
      nodes: this.#directory.nodes(),
      failover: this.#failover && { ...this.#failover.status(), serving: this.#serving },
      replication: this.#replication?.status(),
      links: this.#links.status(),
    };
  }

  /** The node links and their state. */
  linkStatus(): LinkStatus[] {
    return this.#links.status();
  }

  /** Stops following, the heartbeats, the connection and the owned nats-server; idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const fns of this.#waiters.values()) for (const fn of fns) fn(undefined);
    this.#waiters.clear();
    this.#failover?.close();
    this.#probe?.close();
    this.#follower.close();
    this.#directory.close();
    this.#links.close();
    await this.#replication?.close();
    await this.#bus.close();
    await this.#queue;
    await this.#server?.close();
  }
}
