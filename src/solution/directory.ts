/**
 * Liveness and presence across the solution, behind a small interface: "is node N up" and
 * "where is user X registered". Every node announces itself on the bus every heartbeat (its
 * role, applied revision and the users registered on it), and again at once when its
 * registrations change; a node not heard for the hold-down time is down. Features and the
 * failover logic to come read the Directory; only this file knows the subjects.
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
   * The node that serves `number` now: a user's home node, or the node their phone is registered
   * on when that is elsewhere; the primary for a hunt group. undefined: no number of the solution.
   * (The seam with failover: a backup serving a down node's users answers here.)
   */
  servingNode(number: string): string | undefined;
  /** Every node heard of, with what it last announced. */
  nodes(): NodeState[];
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
}

interface Heartbeat {
  node: string;
  role: string;
  revision: number;
  users: string[];
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
          this.#heard.set(hb.node, { ...hb, at: Date.now(), up: true });
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
    const hb: Heartbeat = { node: this.#o.self.name, role: this.#o.self.role, revision: this.#o.revision(), users: this.#o.registered() };
    try {
      nc.publish(heartbeatSubject(this.#o.self.name), JSON.stringify(hb));
    } catch {
      // the connection is going away; the next beat goes on the next one
    }
  }

  /** Registrations changed here: tell the others now rather than at the next heartbeat. */
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
    if (owner.kind === 'user') {
      const at = this.whereIs(number);
      if (at.length > 0 && !at.includes(owner.node)) return at[0];
    }
    return owner.node;
  }

  nodes(): NodeState[] {
    return [...this.#heard.values()].map((h) => ({
      name: h.node, role: h.role, up: this.isUp(h.node), lastSeen: h.at, revision: h.revision, registered: h.users.length,
    }));
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    clearTimeout(this.#soon);
    this.#sub?.unsubscribe();
    this.#sub = undefined;
  }
}
