/**
 * Counts failed authentications per (user, source address) and locks that pair out after too
 * many within a window. The same user from another address, and other users from the same
 * address, are unaffected: a guessing attack from one place cannot lock a user out everywhere.
 */
export interface LockoutOptions {
  maxFailures: number;
  windowMs: number;
  lockoutMs: number;
  now?: () => number;
}

interface Entry {
  failures: number[];
  lockedUntil: number;
}

export class Lockout {
  readonly #opts: LockoutOptions;
  readonly #entries = new Map<string, Entry>();
  readonly #now: () => number;

  constructor(opts: LockoutOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
  }

  static key(user: string, address: string): string {
    return `${user}\u0000${address}`;
  }

  /** ms left of a lockout, or 0. */
  lockedFor(user: string, address: string): number {
    const e = this.#entries.get(Lockout.key(user, address));
    if (!e) return 0;
    const left = e.lockedUntil - this.#now();
    return left > 0 ? left : 0;
  }

  /** Records a failure; returns true when this failure starts a lockout. */
  fail(user: string, address: string): boolean {
    const now = this.#now();
    const k = Lockout.key(user, address);
    let e = this.#entries.get(k);
    if (!e) {
      if (this.#entries.size > 100_000) this.#prune(now);
      this.#entries.set(k, (e = { failures: [], lockedUntil: 0 }));
    }
    const from = now - this.#opts.windowMs;
    e.failures = e.failures.filter((t) => t > from);
    e.failures.push(now);
    if (e.failures.length >= this.#opts.maxFailures && e.lockedUntil <= now) {
      e.lockedUntil = now + this.#opts.lockoutMs;
      e.failures = [];
      return true;
    }
    return false;
  }

  /** A success clears the failure count of that pair. */
  succeed(user: string, address: string): void {
    const k = Lockout.key(user, address);
    const e = this.#entries.get(k);
    if (e && e.lockedUntil <= this.#now()) this.#entries.delete(k);
  }

  #prune(now: number): void {
    for (const [k, e] of this.#entries) {
      if (e.lockedUntil <= now && e.failures.every((t) => t <= now - this.#opts.windowMs)) this.#entries.delete(k);
    }
  }
}
