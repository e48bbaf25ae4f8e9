/**
 * Guessing mailbox PINs across calls. A call ends after `pin.attempts` wrong PINs, but calls are
 * cheap and run in parallel: so wrong PINs are also counted per mailbox across calls (enough of
 * them lock the mailbox for a while) and per caller (each wrong PIN makes that caller wait
 * longer before the next try, and enough of them for any mailboxes stop the caller trying).
 * While a mailbox is locked every PIN is refused like a wrong one, so guessing learns nothing;
 * the owner's own phone, which the registrar has authenticated, is not locked out.
 */
import type { Alarms } from '../../core/alarms.js';
import type { Logger } from '../../core/logger.js';
import { Lockout } from '../../core/security/lockout.js';

export interface PinGuardOptions {
  /** Wrong PINs for one mailbox (any callers) within windowMs that lock it for lockoutMs. */
  maxFailures: number;
  windowMs: number;
  lockoutMs: number;
  logger: Logger;
  alarms?: Alarms;
  now?: () => number;
}

/** The longest a caller waits after a wrong PIN (ms). */
const MAX_DELAY_MS = 10_000;

export class PinGuard {
  readonly #mailboxes: Lockout;
  readonly #callers: Lockout;
  readonly #tries: Map<string, number> = new Map();
  readonly #o: PinGuardOptions;

  constructor(opts: PinGuardOptions) {
    if (opts === null || typeof opts !== 'object') throw new TypeError('opts: object');
    this.#o = opts;
    this.#mailboxes = new Lockout({ maxFailures: opts.maxFailures, windowMs: opts.windowMs, lockoutMs: opts.lockoutMs, maxEntries: 10_000, now: opts.now });
    // a caller may mistype a few mailboxes' PINs; three mailboxes' worth is guessing
    this.#callers = new Lockout({ maxFailures: opts.maxFailures * 3, windowMs: opts.windowMs, lockoutMs: opts.lockoutMs, maxEntries: 10_000, now: opts.now });
  }

  /** Whether a PIN for `mailbox` from `caller` is to be refused unchecked (ownPhone: the owner's authenticated phone). */
  refused(mailbox: string, caller: string, ownPhone: boolean): boolean {
    if (ownPhone) return false;
    return this.#mailboxes.lockedFor(mailbox) > 0 || this.#callers.lockedFor(caller) > 0;
  }

  /** A wrong PIN; returns how long the caller waits before the next try (ms). */
  fail(mailbox: string, caller: string): number {
    const o = this.#o;
    if (this.#mailboxes.fail(mailbox)) {
      o.logger.warn(`security: voicemail ${mailbox} locked after ${o.maxFailures} wrong PINs`, { event: 'pin-lockout', mailbox, caller });
      o.alarms?.raise('voicemail.pin-lockout', {
        key: mailbox, severity: 'major', ttlMs: o.lockoutMs,
        message: `mailbox ${mailbox} locked for ${Math.round(o.lockoutMs / 1000)} s after ${o.maxFailures} wrong PINs (last from ${caller})`,
        details: { mailbox, caller },
      });
    }
    if (this.#callers.fail(caller)) {
      o.logger.warn(`security: ${caller} may not try voicemail PINs for now: ${o.maxFailures * 3} wrong PINs`, { event: 'pin-caller-blocked', caller });
      o.alarms?.raise('voicemail.pin-guessing', {
        key: caller, severity: 'major', ttlMs: o.lockoutMs,
        message: `${caller} gave ${o.maxFailures * 3} wrong voicemail PINs; its PINs are refused for ${Math.round(o.lockoutMs / 1000)} s`,
        details: { caller },
      });
    }
    const n = (this.#tries.get(caller) ?? 0) + 1;
    if (this.#tries.size > 10_000) this.#tries.clear();
    this.#tries.set(caller, n);
    return Math.min(MAX_DELAY_MS, 1000 * 2 ** Math.min(n - 1, 4));
  }

  /** The right PIN: the caller's wait starts again from nothing. */
  succeed(mailbox: string, caller: string): void {
    this.#tries.delete(caller);
    this.#mailboxes.succeed(mailbox);
  }
}
