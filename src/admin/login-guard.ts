/**
 * Login lockout for the admin API. Failures are counted per account (however its name is
 * spelled, from any address: a guessing attack spread over many addresses still locks the
 * account) and per source address (for any account names: one address guessing many accounts is
 * stopped too). Either count reaching maxFailures within the window refuses logins there for the
 * lockout time, right password or not. Only one login per account and per address is checked at
 * a time, and a handful over the whole node, so parallel guesses cannot slip past the count and
 * password hashing cannot be turned into a CPU flood.
 */
export interface LoginGuardOptions {
  maxFailures: number;
  windowMs: number;
  lockoutMs: number;
  now?: () => number;
}

interface Entry {
  failures: number[];
  lockedUntil: number;
}

/** Entries kept at most; past this, entries with nothing left to count are dropped first. */
const MAX_ENTRIES = 20_000;
/** Password checks at once over the node (each holds 32 MiB for some 50 ms). */
const MAX_IN_FLIGHT = 4;

export type Admission =
  | { ok: true; release: (success: boolean) => { lockedNow: string[] } }
  | { ok: false; reason: 'locked'; retryAfterMs: number }
  | { ok: false; reason: 'busy' };

export class LoginGuard {
  readonly #o: LoginGuardOptions;
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry>();
  readonly #inFlight = new Set<string>();
  #total = 0;

  constructor(o: LoginGuardOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
  }

  /**
   * Whether a login for `account` (normalized; '' when not a valid name) from `address` may be
   * checked now. On ok, call release() with the outcome once the password was checked.
   */
  admit(account: string, address: string): Admission {
    const keys = [`a:${account}`, `i:${address}`];
    const now = this.#now();
    let wait = 0;
    for (const k of keys) wait = Math.max(wait, (this.#entries.get(k)?.lockedUntil ?? 0) - now);
    if (wait > 0) return { ok: false, reason: 'locked', retryAfterMs: wait };
    if (this.#total >= MAX_IN_FLIGHT || keys.some((k) => this.#inFlight.has(k))) return { ok: false, reason: 'busy' };
    for (const k of keys) this.#inFlight.add(k);
    this.#total++;
    let done = false;
    return {
      ok: true,
      release: (success) => {
        if (done) return { lockedNow: [] };
        done = true;
        this.#total--;
        for (const k of keys) this.#inFlight.delete(k);
        if (success) {
          this.#entries.delete(keys[0]!);
          return { lockedNow: [] };
        }
        return { lockedNow: keys.filter((k) => this.#fail(k)).map((k) => (k.startsWith('a:') ? `account ${k.slice(2)}` : `address ${k.slice(2)}`)) };
      },
    };
  }

  /** Locked accounts and addresses now, with ms left (for alarms and status). */
  locked(): { what: string; leftMs: number }[] {
    const now = this.#now();
    const out: { what: string; leftMs: number }[] = [];
    for (const [k, e] of this.#entries) {
      if (e.lockedUntil > now) out.push({ what: k.startsWith('a:') ? `account ${k.slice(2)}` : `address ${k.slice(2)}`, leftMs: e.lockedUntil - now });
    }
    return out;
  }

  /** Counts a failure; true when it starts a lockout. */
  #fail(key: string): boolean {
    const now = this.#now();
    let e = this.#entries.get(key);
    if (!e) {
      if (this.#entries.size >= MAX_ENTRIES) this.#prune(now);
      this.#entries.set(key, (e = { failures: [], lockedUntil: 0 }));
    }
    e.failures = e.failures.filter((t) => t > now - this.#o.windowMs);
    e.failures.push(now);
    if (e.failures.length >= this.#o.maxFailures && e.lockedUntil <= now) {
      e.lockedUntil = now + this.#o.lockoutMs;
      e.failures = [];
      return true;
    }
    return false;
  }

  #prune(now: number): void {
    for (const [k, e] of this.#entries) {
      if (e.lockedUntil <= now && e.failures.every((t) => t <= now - this.#o.windowMs)) this.#entries.delete(k);
    }
    // still full (a flood of live entries): drop the oldest, never the locks
    for (const [k, e] of this.#entries) {
      if (this.#entries.size < MAX_ENTRIES) break;
      if (e.lockedUntil <= now) this.#entries.delete(k);
    }
  }
}
