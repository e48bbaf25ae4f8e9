/**
 * Liveness and presence across the solution, behind a small interface: "is node N up", "where
 * is user X registered" and "which node serves user X now". Every node announces itself on the
 * bus every heartbeat (its role, applied revision, the users registered on it, and for failover:
 * the watched nodes it sees, the nodes whose users it serves, the state of its own users), and
 * again at once when any of that changes; a node not heard for the hold-down time is down.
 * Features and the failover logic read the Directory; only this file knows the subjects.
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from '../core/logger.js';
import type { Bus } from './bus.js';

/** What features may ask about the other nodes. */
export interface Directory {
  /** Whether node `name` was heard within the hold-down time (this node: always). */
  isUp(name: string): boolean;
  /** The nodes on which `user` has a registered phone now (as last announced). */
  whereIs(user: string): string[];
  /**
   * The node that serves `number` now: the backup of its owner's node while that backup serves
   * the node's users (failover); else for a user the node their phone is registered on when that
   * is not their home node, else the home node; for a hunt group the primary (so it follows the
   * primary's backup). undefined: no number of the solution.
   */
  servingNode(number: string): string | undefined;
  /** The node that serves node `name`'s users now: its backup while that serves them, else `name` itself. */
  servedBy(name: string): string;
  /** Every node heard of, with what it last announced. */
  nodes(): NodeState[];
}

/** The state of a node's own users: waiting to learn whether its backup serves them, served here, or served by the backup. */
export type HomeState = 'starting' | 'serving' | 'displaced';

/** What a node says about failover in its heartbeats. */
export interface FailoverAnnouncement {
  /** Watched nodes it sees now (heard on the bus, or answering OPTIONS). */
  sees: string[];
  /** Nodes whose users it serves now, besides its own. */
  serving: string[];
  home: HomeState;
  /** Replication with the other core has settled (a returning node is ready to get its users back). */
  caughtUp: boolean;
}

export interface NodeState {
  name: string;
  role: string;
  up: boolean;
  /** ms since the epoch of the last heartbeat. */
  lastSeen: number;
  /** The configuration revision it has applied. */
  revision: number;
  /** Users with a registered phone on it. */
  registered: number;
  /** What it last said about failover. */
  failover?: FailoverAnnouncement;
}

interface Heartbeat {
  node: string;
  role: string;
  revision: number;
  users: string[];
  failover?: FailoverAnnouncement;
}

/** A node's last heartbeat as this node heard it. */
export interface Heard {
  /** When it was heard (ms since the epoch). */
  at: number;
  failover: FailoverAnnouncement | undefined;
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/** A heartbeat's failover part as it came over the bus, or undefined when it has none we can read. */
function announcementOf(v: unknown): FailoverAnnouncement | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const f = v as Record<string, unknown>;
  const home = f.home === 'starting' || f.home === 'displaced' ? f.home : 'serving';
  return { sees: strings(f.sees), serving: strings(f.serving), home, caughtUp: f.caughtUp === true };
}

/** Subject of node `name`'s heartbeats. */
export const heartbeatSubject = (name: string) => `pbx.hb.${name}`;

export interface BusDirectoryOptions {
  bus: Bus;
  self: { name: string; role: string };
  heartbeatMs: number;
  holdDownMs: number;
  /** Users registered on this node now. */
  registered: () => string[];
  /** This node's applied revision. */
  revision: () => number;
  /** What this node says about failover (absent: nothing). */
  failover?: () => FailoverAnnouncement;
  /** Where a number of the solution belongs (its home node) and what it is. */
  owner: (number: string) => { node: string; kind: 'user' | 'huntGroup' } | undefined;
  logger: Logger;
}

export class BusDirectory implements Directory {
  readonly #o: BusDirectoryOptions;
  readonly #heard = new Map<string, Heartbeat & { at: number; up: boolean }>();
  #sub: Subscription | undefined;
  #timer: NodeJS.Timeout | undefined;
  #soon: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(o: BusDirectoryOptions) {
    if (!(o?.heartbeatMs > 0) || !(o.holdDownMs > o.heartbeatMs)) throw new TypeError('holdDownMs: must be longer than heartbeatMs');
    this.#o = o;
  }

  start(): void {
    this.#o.bus.onConnected((nc) => this.#subscribe(nc));
    this.#timer = setInterval(() => this.#tick(), this.#o.heartbeatMs);
  }

  #subscribe(nc: NatsConnection): void {
    if (this.#closed) return;
    this.#sub?.unsubscribe();
    this.#sub = nc.subscribe(heartbeatSubject('*'), {
      callback: (err, msg) => {
        if (err) return;
        try {
          const hb = msg.json<Heartbeat>();
          if (typeof hb.node !== 'string' || hb.node === this.#o.self.name || !Array.isArray(hb.users)) return;
          const before = this.#heard.get(hb.node);
          this.#heard.set(hb.node, { ...hb, failover: announcementOf(hb.failover), at: Date.now(), up: true });
          if (!before?.up) this.#o.logger.info('solution: node up', { node: hb.node, role: hb.role, revision: hb.revision });
        } catch {
          // not a heartbeat of ours: ignored
        }
      },
    });
    this.#beat();
  }

  #tick(): void {
    const now = Date.now();
    for (const [name, h] of this.#heard) {
      if (h.up && now - h.at > this.#o.holdDownMs) {
        h.up = false;
        this.#o.logger.warn('solution: node down (no heartbeat)', { node: name, silentMs: now - h.at });
      }
    }
    this.#beat();
  }

  #beat(): void {
    const nc = this.#o.bus.connection;
    if (!nc || this.#o.bus.state !== 'connected') return;
    const hb: Heartbeat = { node: this.#o.self.name, role: this.#o.self.role, revision: this.#o.revision(), users: this.#o.registered(), failover: this.#o.failover?.() };
    try {
      nc.publish(heartbeatSubject(this.#o.self.name), JSON.stringify(hb));
    } catch {
      // the connection is going away; the next beat goes on the next one
    }
  }

  /** Registrations or the failover state changed here: tell the others now rather than at the next heartbeat. */
  presenceChanged(): void {
    if (this.#soon || this.#closed) return;
    this.#soon = setTimeout(() => {
      this.#soon = undefined;
      this.#beat();
    }, 50);
  }

  isUp(name: string): boolean {
    if (name === this.#o.self.name) return true;
    const h = this.#heard.get(name);
    return h !== undefined && h.up && Date.now() - h.at <= this.#o.holdDownMs;
  }

  whereIs(user: string): string[] {
    const out = this.#o.registered().includes(user) ? [this.#o.self.name] : [];
    for (const [name, h] of this.#heard) if (this.isUp(name) && h.users.includes(user)) out.push(name);
    return out;
  }

  servingNode(number: string): string | undefined {
    const owner = this.#o.owner(number);
    if (!owner) return undefined;
    const backup = this.servedBy(owner.node);
    if (backup !== owner.node) return backup;
    if (owner.kind === 'user') {
      const at = this.whereIs(number);
      if (at.length > 0 && !at.includes(owner.node)) return at[0];
    }
    return owner.node;
  }

  nodes(): NodeState[] {
    return [...this.#heard.values()].map((h) => ({
      name: h.node, role: h.role, up: this.isUp(h.node), lastSeen: h.at, revision: h.revision, registered: h.users.length, failover: h.failover,
    }));
  }

  /** Node `name`'s last heartbeat (whenever it was), or undefined when never heard. */
  heard(name: string): Heard | undefined {
    const h = this.#heard.get(name);
    return h && { at: h.at, failover: h.failover };
  }

  servedBy(name: string): string {
    if (this.#o.failover?.().serving.includes(name)) return this.#o.self.name;
    let late: string | undefined;
    for (const [node, h] of this.#heard) {
      if (!h.failover?.serving.includes(name)) continue;
      if (this.isUp(node)) return node;
      late ??= node;
    }
    // A backup whose last heartbeat said it serves them, late with the next one (busy applying
    // the takeover, its bus slow or lossy), is a better way to them than their home node, when
    // that is not heard either: calls sent home then fail for sure (the home node is seen again
    // before its backup hands its users back, so a stale word never outlives the failure).
    return late !== undefined && !this.isUp(name) ? late : name;
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    clearTimeout(this.#soon);
    this.#sub?.unsubscribe();
    this.#sub = undefined;
  }
}
