/**
 * Mailbox PINs: the policy a chosen PIN must meet, and how a chosen PIN is kept (scrypt with a
 * random salt). A PIN of a few digits cannot resist an offline search whatever the hash; scrypt
 * only makes such a search cost minutes instead of microseconds, and keeps the PIN out of logs and
 * backups in clear. PinStore keeps which PIN is in force for each mailbox.
 */
import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import type { Store } from '../../core/store.js';

export interface PinPolicy {
  /** Shortest PIN accepted (1..15). */
  minLength: number;
  /** Refuse one repeated digit, straight runs, and the mailbox number forwards or backwards. */
  complexity: boolean;
}

const PIN = /^[0-9]{1,15}$/;

// N = 2^12 costs about 8 ms per hash: cheap enough to run synchronously on the PIN prompt path
// (once per attempt), still thousands of times dearer than a plain digest.
const SCRYPT = { N: 1 << 12, r: 8, p: 1 } as const;
const KEY_BYTES = 32;
const SALT_BYTES = 16;

function validatePolicy(opts: PinPolicy & { mailbox: string }): void {
  if (typeof opts !== 'object' || opts === null) throw new TypeError('opts: must be an object');
  if (!Number.isInteger(opts.minLength) || opts.minLength < 1 || opts.minLength > 15) {
    throw new TypeError(`opts.minLength: integer 1..15 expected, got ${String(opts.minLength)}`);
  }
  if (typeof opts.complexity !== 'boolean') throw new TypeError('opts.complexity: must be true or false');
  if (typeof opts.mailbox !== 'string') throw new TypeError('opts.mailbox: must be a string');
}

/** Every digit one more (step 1) or one less (step -1) than the one before; no wrap from 9 to 0. */
function isRun(pin: string, step: 1 | -1): boolean {
  for (let i = 1; i < pin.length; i++) {
    if (pin.charCodeAt(i) - pin.charCodeAt(i - 1) !== step) return false;
  }
  return true;
}

/**
 * Undefined when `pin` may be chosen for `opts.mailbox`, else a short reason for the refusal
 * (fit for a log line or an admin page; the phone plays a generic prompt).
 * A single digit cannot be "repeated" and two digits are not a "run", so with a low minLength
 * those checks start at two and three digits.
 */
export function checkPinPolicy(pin: string, opts: PinPolicy & { mailbox: string }): string | undefined {
  validatePolicy(opts);
  if (typeof pin !== 'string' || !PIN.test(pin)) return 'must be 1 to 15 digits';
  if (pin.length < opts.minLength) return `must be at least ${opts.minLength} digits`;
  if (!opts.complexity) return undefined;
  if (pin.length >= 2 && /^(\d)\1+$/.test(pin)) return 'must not be one digit repeated';
  if (pin.length >= 3 && isRun(pin, 1)) return 'must not be an ascending run of digits';
  if (pin.length >= 3 && isRun(pin, -1)) return 'must not be a descending run of digits';
  if (opts.mailbox !== '' && pin === opts.mailbox) return 'must not be the mailbox number';
  if (opts.mailbox !== '' && pin === [...opts.mailbox].reverse().join('')) return 'must not be the mailbox number reversed';
  return undefined;
}

/** `scrypt$<salt base64>$<key base64>` of `pin` (1..15 digits) with a fresh random salt. */
export function hashPin(pin: string): string {
  if (typeof pin !== 'string' || !PIN.test(pin)) throw new TypeError('pin: must be 1 to 15 digits');
  const salt = randomBytes(SALT_BYTES);
  const key = scryptSync(pin, salt, KEY_BYTES, SCRYPT);
  return `scrypt$${salt.toString('base64')}$${key.toString('base64')}`;
}

/**
 * Whether `pin` is the one `hash` (from hashPin) was made of. A malformed hash, or a `pin` that is
 * not digits (a caller pressing * or #), is simply no match. Constant time in the key comparison.
 */
export function verifyPin(pin: string, hash: string): boolean {
  if (typeof pin !== 'string') throw new TypeError('pin: must be a string');
  if (typeof hash !== 'string') throw new TypeError('hash: must be a string');
  const parts = hash.split('$');
  if (parts.length !== 3 || parts[0] !== 'scrypt') return false;
  const salt = Buffer.from(parts[1]!, 'base64');
  const expected = Buffer.from(parts[2]!, 'base64');
  if (salt.length === 0 || expected.length !== KEY_BYTES) return false;
  // Hash even a non-PIN input so a wrong format takes as long as a wrong PIN.
  const key = scryptSync(PIN.test(pin) ? pin : '', salt, KEY_BYTES, SCRYPT);
  return timingSafeEqual(key, expected) && PIN.test(pin);
}

/** Constant-time equality of two short strings (compares fixed-length digests). */
function sameSecret(a: string, b: string): boolean {
  const da = Buffer.from(a, 'utf8');
  const db = Buffer.from(b, 'utf8');
  // Pad to one length so the comparison itself does not reveal which is longer.
  const len = Math.max(da.length, db.length, 1);
  const pa = Buffer.alloc(len);
  const pb = Buffer.alloc(len);
  da.copy(pa);
  db.copy(pb);
  return timingSafeEqual(pa, pb) && da.length === db.length;
}

const PIN_MIGRATIONS = [
  `CREATE TABLE voicemail_pins (mailbox TEXT PRIMARY KEY, pin_hash TEXT NOT NULL, changed_at INTEGER NOT NULL)`,
];

/**
 * Which PIN opens each mailbox. The configured starting PIN is never written to the store: while
 * the owner has not chosen a PIN of their own (no row) the configured one is in force and must be
 * changed. So a PIN the owner chose survives any later change of the configured one, and a
 * configured PIN changed (or removed) before the owner chose one simply takes effect; reset()
 * returns a mailbox to its configured PIN. Only the owner's PIN is stored, as hashPin() gives it.
 */
export class PinStore {
  readonly #get;
  readonly #set;
  readonly #reset;

  constructor(store: Store) {
    store.migrate('voicemail-pins', PIN_MIGRATIONS);
    this.#get = store.prepare<[string], { pin_hash: string }>('SELECT pin_hash FROM voicemail_pins WHERE mailbox = ?');
    this.#set = store.prepare<[string, string, number]>(
      `INSERT INTO voicemail_pins (mailbox, pin_hash, changed_at) VALUES (?, ?, ?)
       ON CONFLICT (mailbox) DO UPDATE SET pin_hash = excluded.pin_hash, changed_at = excluded.changed_at`,
    );
    this.#reset = store.prepare<[string]>('DELETE FROM voicemail_pins WHERE mailbox = ?');
  }

  /** set: a PIN is in force (the owner's or the configured one); mustChange: it is the configured one. */
  state(mailbox: string, configured: string | undefined): { set: boolean; mustChange: boolean } {
    if (this.#get.get(mailbox)) return { set: true, mustChange: false };
    return { set: configured !== undefined, mustChange: configured !== undefined };
  }

  check(mailbox: string, configured: string | undefined, pin: string): boolean {
    const row = this.#get.get(mailbox);
    if (row) return verifyPin(pin, row.pin_hash);
    return configured !== undefined && sameSecret(pin, configured);
  }

  /** Stores the owner's choice (already checked against the policy); returns what is kept (the hash). */
  set(mailbox: string, pin: string): string {
    const hash = hashPin(pin);
    this.#set.run(mailbox, hash, Date.now());
    return hash;
  }

  /** Keeps a PIN chosen on another node, as that node keeps it (its hash). */
  setHash(mailbox: string, hash: string): void {
    this.#set.run(mailbox, hash, Date.now());
  }

  reset(mailbox: string): void {
    this.#reset.run(mailbox);
  }
}
