/**
 * Admin sessions: a random token per login, held in memory (a restart logs everyone out),
 * ending after the idle timeout or the maximum age, at logout, or when the account's password,
 * role or existence changes. The token goes to browsers in an HttpOnly, SameSite=Strict cookie
 * and to other clients as a bearer token; a browser's changes also carry the session's CSRF token.
 */
import { randomBytes } from 'node:crypto';
import type { Role } from './accounts.js';

export interface Session {
  readonly token: string;
  /** Sent back by the console with every change (x-csrf-token), proving the page is ours. */
  readonly csrf: string;
  readonly account: string;
  role: Role;
  readonly address: string;
  readonly createdAt: number;
  lastSeenAt: number;
  /** The account still has its default password: only changing it is allowed. */
  mustChangePassword: boolean;
}

export interface SessionsOptions {
  idleMs: number;
  maxAgeMs: number;
  now?: () => number;
}

/** Sessions per account and in all; the oldest session gives way. */
const PER_ACCOUNT = 10;
const TOTAL = 1000;

export class Sessions {
  readonly #o: SessionsOptions;
  readonly #now: () => number;
  readonly #byToken = new Map<string, Session>();
  readonly #sweep: NodeJS.Timeout;

  constructor(o: SessionsOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
    this.#sweep = setInterval(() => this.#expire(), 60_000);
    this.#sweep.unref();
  }

  create(account: string, role: Role, address: string, mustChangePassword: boolean): Session {
    const mine = [...this.#byToken.values()].filter((s) => s.account === account);
    if (mine.length >= PER_ACCOUNT) this.#byToken.delete(mine[0]!.token);
    if (this.#byToken.size >= TOTAL) this.#byToken.delete(this.#byToken.keys().next().value!);
    const now = this.#now();
    const s: Session = {
      token: randomBytes(32).toString('base64url'),
      csrf: randomBytes(24).toString('base64url'),
      account, role, address, createdAt: now, lastSeenAt: now, mustChangePassword,
    };
    this.#byToken.set(s.token, s);
    return s;
  }

  /** The live session of `token` (its idle time starts again), or undefined. */
  touch(token: string): Session | undefined {
    const s = this.#byToken.get(token);
    if (!s) return undefined;
    const now = this.#now();
    if (this.#expired(s, now)) {
      this.#byToken.delete(token);
      return undefined;
    }
    s.lastSeenAt = now;
    return s;
  }

  end(token: string): boolean {
    return this.#byToken.delete(token);
  }

  /** Ends every session of `account` (password changed elsewhere, account removed), but `keep`. */
  endAccount(account: string, keep?: string): void {
    for (const s of [...this.#byToken.values()]) if (s.account === account && s.token !== keep) this.#byToken.delete(s.token);
  }

  /** A role change reaches the account's live sessions at once. */
  setRole(account: string, role: Role): void {
    for (const s of this.#byToken.values()) if (s.account === account) s.role = role;
  }

  get size(): number {
    return this.#byToken.size;
  }

  get idleMs(): number {
    return this.#o.idleMs;
  }

  close(): void {
    clearInterval(this.#sweep);
    this.#byToken.clear();
  }

  #expired(s: Session, now: number): boolean {
    return now - s.lastSeenAt > this.#o.idleMs || now - s.createdAt > this.#o.maxAgeMs;
  }

  #expire(): void {
    const now = this.#now();
    for (const [t, s] of this.#byToken) if (this.#expired(s, now)) this.#byToken.delete(t);
  }
}
