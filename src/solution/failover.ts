/**
 * Failover decisions of one node, in two roles.
 *
 * As a backup (of the primary, the secondary, or an expansion that names it), for each node it
 * backs up: standby (it holds the standby registrations of that node's users) -> serving (the
 * node was declared down: this node serves its users) -> handing-back (the node is back; its
 * users return once it has been up for the stable time and has caught up) -> standby.
 *
 * As a home node, for its own users: starting (until it knows whether its backup serves them)
 * -> serving, or displaced (its backup serves them: this node refuses new calls until the backup
 * hands them back) -> serving.
 *
 * Declared down, without split brain: a node is down when this node has neither heard its
 * heartbeat on the bus nor had an answer to OPTIONS for the hold-down time, and every other node
 * that still reaches the bus agrees (each heartbeat lists the watched nodes its sender sees). A
 * node only cut off from its backup is still seen by the others, so it is not taken over; when
 * no other node is heard at all, this node may be the one cut off, so it takes nothing over.
 * Every state change is logged and shown in status.
 */
import type { Config } from '../core/config/index.js';
import type { Logger } from '../core/logger.js';
import { backedUpBy, backupOf, watchedNodes } from './backup.js';
import type { FailoverAnnouncement, Heard, HomeState } from './directory.js';

export type BackupState = 'standby' | 'serving' | 'handing-back';

/** What the decisions read: heartbeats heard, OPTIONS answered, the bus. */
export interface FailoverInputs {
  heard(name: string): Heard | undefined;
  lastAnswer(name: string): number | undefined;
  /** Since when the bus is connected (ms since the epoch); undefined while it is not. */
  busConnectedSince(): number | undefined;
  /** Replication with the other core has settled. */
  caughtUp(): boolean;
}

export interface FailoverOptions {
  self: string;
  /** The solution document in force (nodes, bus.holdDownSeconds, bus.heartbeatSeconds, failover). */
  config: () => Config;
  inputs: FailoverInputs;
  logger: Logger;
  /** Serve the users of these nodes (besides this node's own) from now on; rejects when it could not. */
  serve(nodes: string[]): Promise<void>;
  /** The state of this node's own users changed. */
  home(state: HomeState): void;
  /** The announcement changed: send a heartbeat now. */
  announce(): void;
  now?: () => number;
  /** How often the decisions are taken (ms); default 100. */
  tickMs?: number;
}

interface Watch {
  state: BackupState;
  since: number;
  /** handing-back: when the node was heard again. */
  backSince?: number;
}

export class Failover {
  readonly #o: FailoverOptions;
  readonly #startedAt: number;
  readonly #watch = new Map<string, Watch>();
  #home: HomeState = 'starting';
  #homeSince: number;
  #sees: string[] = [];
  #serving: string[] = [];
  /** A serve() in progress: no decision is taken meanwhile. */
  #applying = false;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(o: FailoverOptions) {
    if (typeof o?.self !== 'string' || o.self === '') throw new TypeError('self: must be a node name');
    for (const f of ['config', 'serve', 'home', 'announce'] as const) if (typeof o[f] !== 'function') throw new TypeError(`${f}: must be a function`);
    this.#o = o;
    this.#startedAt = this.#now();
    this.#homeSince = this.#startedAt;
    if (backupOf(o.config().nodes, o.self) === undefined) this.#home = 'serving';
  }

  #now(): number {
    return this.#o.now?.() ?? Date.now();
  }

  start(): void {
    if (this.#timer || this.#closed) return;
    this.#o.home(this.#home);
    this.#timer = setInterval(() => this.tick(), this.#o.tickMs ?? 100);
  }

  get homeState(): HomeState {
    return this.#home;
  }

  /** The nodes whose users this node serves now. */
  get serving(): readonly string[] {
    return this.#serving;
  }

  announcement(): FailoverAnnouncement {
    return { sees: this.#sees, serving: this.#serving, home: this.#home, caughtUp: this.#o.inputs.caughtUp() };
  }

  status(): Record<string, unknown> {
    return {
      home: this.#home,
      homeSince: new Date(this.#homeSince).toISOString(),
      sees: this.#sees,
      backupFor: [...this.#watch].map(([node, w]) => ({ node, state: w.state, since: new Date(w.since).toISOString() })),
    };
  }

  /** Takes the decisions due now (run every tickMs; tests call it with a manual clock). */
  tick(): void {
    if (this.#closed) return;
    const c = this.#o.config();
    const now = this.#now();
    const holdDownMs = c.bus.holdDownSeconds * 1000;
    const sees = watchedNodes(c).filter((n) => n !== this.#o.self && this.#sees_(n, now, holdDownMs));
    if (sees.join() !== this.#sees.join()) {
      const lost = this.#sees.filter((n) => !sees.includes(n));
      const found = sees.filter((n) => !this.#sees.includes(n));
      this.#sees = sees;
      this.#o.logger.info('failover: watched nodes seen here changed', { sees, lost, found });
      this.#o.announce();
    }
    this.#homeDuty(c, now, holdDownMs);
    if (!this.#applying) this.#backupDuty(c, now, holdDownMs);
  }

  /** Whether `name` was heard on the bus or answered OPTIONS within the hold-down time. */
  #sees_(name: string, now: number, holdDownMs: number): boolean {
    const hb = this.#o.inputs.heard(name)?.at;
    const opt = this.#o.inputs.lastAnswer(name);
    return (hb !== undefined && now - hb <= holdDownMs) || (opt !== undefined && now - opt <= holdDownMs);
  }

  /** Heard on the bus within the hold-down time (what a returning node must be: it says it caught up there). */
  #onBus(name: string, now: number, holdDownMs: number): Heard | undefined {
    const h = this.#o.inputs.heard(name);
    return h && now - h.at <= holdDownMs ? h : undefined;
  }

  /** Whether node `x` is down: unseen here for the hold-down time, and unseen by every other node heard. */
  declaredDown(x: string, c: Config = this.#o.config(), now = this.#now()): boolean {
    const holdDownMs = c.bus.holdDownSeconds * 1000;
    if (this.#sees_(x, now, holdDownMs)) return false;
    const ever = this.#o.inputs.heard(x) !== undefined || this.#o.inputs.lastAnswer(x) !== undefined;
    if (!ever && now - this.#startedAt < c.failover.startGraceSeconds * 1000) return false;
    const witnesses = c.nodes.map((n) => n.name).filter((n) => n !== x && n !== this.#o.self);
    if (witnesses.length === 0) return true;
    const up = witnesses.map((w) => this.#onBus(w, now, holdDownMs)).filter((h): h is Heard => h !== undefined);
    return up.length > 0 && up.every((h) => h.failover !== undefined && !h.failover.sees.includes(x));
  }

  #backupDuty(c: Config, now: number, holdDownMs: number): void {
    const mine = backedUpBy(c, this.#o.self);
    for (const x of [...this.#watch.keys()]) if (!mine.includes(x)) this.#watch.delete(x);
    let next = [...this.#serving].filter((x) => mine.includes(x));
    for (const x of mine) {
      const w = this.#watch.get(x) ?? { state: 'standby', since: now };
      this.#watch.set(x, w);
      const set = (state: BackupState, message: string, detail: Record<string, unknown> = {}) => {
        this.#o.logger.warn(`failover: ${message}`, { node: x, from: w.state, to: state, ...detail });
        w.state = state;
        w.since = now;
      };
      if (w.state === 'standby') {
        if (c.failover.enabled && this.declaredDown(x, c, now)) {
          set('serving', 'node declared down, serving its users', { holdDownSeconds: c.bus.holdDownSeconds });
          next.push(x);
        }
      } else if (w.state === 'serving') {
        if (this.#onBus(x, now, holdDownMs)) {
          set('handing-back', 'node back, its users return after the stable time', { stableSeconds: c.failover.stableSeconds });
          w.backSince = now;
        }
      } else if (!this.#onBus(x, now, holdDownMs)) {
        set('serving', 'node lost again before its users returned');
      } else if (now - (w.backSince ?? now) >= c.failover.stableSeconds * 1000 && this.#onBus(x, now, holdDownMs)!.failover?.caughtUp) {
        set('standby', 'node stable and caught up, its users returned to it');
        next = next.filter((n) => n !== x);
      }
    }
    next = [...new Set(next)];
    if (next.join() !== this.#serving.join()) this.#apply(next);
  }

  #apply(next: string[]): void {
    this.#applying = true;
    const before = this.#serving;
    // released users are announced as released only once this node no longer serves them
    const taken = next.filter((n) => !before.includes(n));
    if (taken.length > 0) this.#serving = [...new Set([...before, ...taken])];
    this.#o.serve(next).then(() => {
      this.#serving = next;
    }, (e: unknown) => {
      this.#serving = before;
      this.#o.logger.error(`failover: serving ${next.join(', ') || 'no other node'} failed: ${(e as Error).message}`);
    }).finally(() => {
      this.#applying = false;
      this.#o.announce();
    });
  }

  #homeDuty(c: Config, now: number, holdDownMs: number): void {
    const backup = backupOf(c.nodes, this.#o.self);
    if (backup === undefined) return this.#setHome('serving', now, 'no backup');
    const b = this.#onBus(backup, now, holdDownMs);
    const displacedBy = b?.failover?.serving.includes(this.#o.self) ?? false;
    if (this.#home === 'starting') {
      const connected = this.#o.inputs.busConnectedSince();
      if (b) this.#setHome(displacedBy ? 'displaced' : 'serving', now, displacedBy ? `${backup} serves them` : `${backup} does not serve them`);
      // Silence of the backup on a bus connected for two beats means it is gone, unless another
      // node still sees it: then only this node's path to it is not up yet (a restarted core's
      // server before the other core's leaf connection is back) and its heartbeat, which may say
      // it serves this node's users, is on its way. Serving meanwhile would be split brain.
      else if (connected !== undefined && now - connected >= 2 * c.bus.heartbeatSeconds * 1000 && !this.#seenByOthers(c, backup, now, holdDownMs)) this.#setHome('serving', now, `${backup} not heard on the bus`);
      else if (now - this.#startedAt >= c.failover.startGraceSeconds * 1000) this.#setHome('serving', now, `${backup} not heard since the start`);
    } else if (this.#home === 'serving' && displacedBy) {
      this.#setHome('displaced', now, `${backup} serves them`);
    } else if (this.#home === 'displaced' && !displacedBy) {
      this.#setHome('serving', now, b ? `${backup} handed them back` : `${backup} not heard`);
    }
  }

  /** Whether `x` answers OPTIONS here, or a node heard on the bus says it sees `x`. */
  #seenByOthers(c: Config, x: string, now: number, holdDownMs: number): boolean {
    if (this.#sees_(x, now, holdDownMs)) return true;
    return c.nodes.some((n) => n.name !== x && n.name !== this.#o.self && (this.#onBus(n.name, now, holdDownMs)?.failover?.sees.includes(x) ?? false));
  }

  #setHome(state: HomeState, now: number, why: string): void {
    if (state === this.#home) return;
    const from = this.#home;
    this.#home = state;
    this.#homeSince = now;
    const message = state === 'displaced' ? "failover: this node's users are served by its backup; new calls refused until they return"
      : "failover: this node serves its own users";
    this.#o.logger.warn(message, { node: this.#o.self, from, to: state, why });
    this.#o.home(state);
    this.#o.announce();
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
  }
}
