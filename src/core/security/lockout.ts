/**
 * Counts failures per key within a window and locks the key out for a while after too many
 * (fail2ban's maxretry / findtime / bantime). Keys are chosen by attackers (made-up user names,
 * many addresses), so both tables are TtlMaps: O(1) per failure, bounded in memory, swept as
 * they are written. The window is fixed from a key's first failure, so a phone retrying a wrong
 * password every 30 s counts at most two failures a minute, not one per retry forever.
 */
import { TtlMap } from '../../sip/ttl-map.js';

export interface LockoutOptions {
  maxFailures: number;
  windowMs: number;
  lockoutMs: number;
  /** Keys tracked at most in each table (default 100 000). */
  maxEntries?: number;
  now?: () => number;
}

interface Count {
  failures: number;
  since: number;
}

export class Lockout {
  readonly maxFailures: number;
  readonly windowMs: number;
  readonly lockoutMs: number;
  readonly #now: () => number;
  readonly #counts: TtlMap<Count>;
  readonly #locked: TtlMap<number>;

  constructor(opts: LockoutOptions) {
    if (opts === null || typeof opts !== 'object') throw new TypeError('opts: object');
    if (!Number.isInteger(opts.maxFailures) || opts.maxFailures < 1) throw new TypeError('maxFailures: positive integer');
    if (!(Number.isFinite(opts.windowMs) && opts.windowMs > 0)) throw new TypeError('windowMs: positive number');
    if (!(Number.isFinite(opts.lockoutMs) && opts.lockoutMs > 0)) throw new TypeError('lockoutMs: positive number');
    const max = opts.maxEntries ?? 100_000;
    this.maxFailures = opts.maxFailures;
    this.windowMs = opts.windowMs;
    this.lockoutMs = opts.lockoutMs;
    this.#now = opts.now ?? Date.now;
    this.#counts = new TtlMap({ ttlMs: opts.windowMs, max, now: this.#now });
    this.#locked = new TtlMap({ ttlMs: opts.lockoutMs, max, now: this.#now });
  }

  /** The key of a (user, address) pair. */
  static key(user: string, address: string): string {
    return `${user}\u0000${address}`;
  }

  /** Keys tracked now (failure counts and lockouts); bounded by maxEntries each. */
  get size(): number {
    return this.#counts.size + this.#locked.size;
  }

  /** ms left of the key's lockout, or 0. */
  lockedFor(key: string): number {
    const until = this.#locked.get(key);
    if (until === undefined) return 0;
    return Math.max(0, until - this.#now());
  }

  /** Records a failure; true when this failure starts a lockout. Failures while locked do not extend it. */
  fail(key: string): boolean {
    const now = this.#now();
    if (this.#locked.get(key) !== undefined) return false;
    let c = this.#counts.get(key);
    if (c === undefined || now - c.since >= this.windowMs) c = { failures: 0, since: now };
    c.failures++;
    if (c.failures >= this.maxFailures) {
      this.#counts.delete(key);
      this.#locked.set(key, now + this.lockoutMs);
      return true;
    }
    this.#counts.set(key, c);
    return false;
  }

  /** A success forgets the key's failures (a lockout in force stays). */
  succeed(key: string): void {
    this.#counts.delete(key);
  }

  /** Lifts a lockout (an operator unlocking a user). */
  unlock(key: string): boolean {
    this.#counts.delete(key);
    return this.#locked.delete(key);
  }
}
