/**
 * Admin accounts, kept in the store: a name, a role and a memory-hard password hash (scrypt,
 * 32 MiB per hash, parameters kept in the hash so they can be raised later). Names are compared
 * after NFKC folding and lower-casing, so "Admin" and "ADMIN" are the one account "admin" (and
 * share its lockout). The one account a fresh node makes by itself, "admin" with the password
 * "admin" on a loopback API, is marked as having its default password: it must choose a new one
 * before anything else, and a node whose API is not on loopback refuses to start while it has one.
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { Store } from '../core/store.js';

export const ROLES = ['read-only', 'operator', 'administrator'] as const;
export type Role = (typeof ROLES)[number];

/** Whether `role` may do what `needed` may (administrator > operator > read-only). */
export function allows(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

export const DEFAULT_ACCOUNT = 'admin';
export const DEFAULT_PASSWORD = 'admin';

const NAME = /^[a-z0-9][a-z0-9._-]{0,31}$/;
export const NAME_RULE = '1..32 letters, digits, ".", "_" or "-", starting with a letter or digit';
export const PASSWORD_RULE = '8..128 characters, not the account name';

/** The account name as stored, or undefined when it cannot be one. */
export function normalizeName(name: unknown): string | undefined {
  if (typeof name !== 'string' || name.length > 64) return undefined;
  const n = name.normalize('NFKC').toLowerCase().trim();
  return NAME.test(n) ? n : undefined;
}

/** Why `password` cannot be chosen for `name`, or undefined when it can. */
export function passwordProblem(name: string, password: unknown): string | undefined {
  if (typeof password !== 'string' || password.length < 8 || password.length > 128) return `must be ${PASSWORD_RULE}`;
  if (password.normalize('NFKC').toLowerCase() === name) return `must be ${PASSWORD_RULE}`;
  return undefined;
}

// N = 2^15, r = 8: 32 MiB and some 50 ms per hash on this project's machine.
const SCRYPT = { log2N: 15, r: 8, p: 1, keyLength: 32 };

function scrypt(password: string, salt: Buffer, keyLength: number, o: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCb(password.normalize('NFKC'), salt, keyLength, o, (e, key) => (e ? reject(e) : resolve(key))));
}

/** `scrypt$log2N$r$p$salt$key` (base64url) of `password`, hashed off the event loop. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const { log2N, r, p, keyLength } = SCRYPT;
  const key = await scrypt(password, salt, keyLength, { N: 2 ** log2N, r, p, maxmem: 2 * 128 * 2 ** log2N * r });
  return `scrypt$${log2N}$${r}$${p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

/** Whether `password` is the one `hash` was made of; false for a malformed hash. Constant time in the comparison. */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  const m = /^scrypt\$(\d{1,2})\$(\d{1,2})\$(\d{1,2})\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/.exec(hash);
  if (!m || typeof password !== 'string') return false;
  const [log2N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (log2N < 10 || log2N > 20 || r < 1 || r > 32 || p < 1 || p > 4) return false;
  const expected = Buffer.from(m[5]!, 'base64url');
  const key = await scrypt(password, Buffer.from(m[4]!, 'base64url'), expected.length, { N: 2 ** log2N, r, p, maxmem: 2 * 128 * 2 ** log2N * r });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** A hash of nothing anyone can type: unknown names are checked against it, so they take as long as known ones. */
let dummyHash: Promise<string> | undefined;

export interface Account {
  name: string;
  role: Role;
  createdAt: Date;
  passwordSetAt: Date;
  /** Still the password the node made it with: it must be changed before anything else. */
  defaultPassword: boolean;
}

interface Row {
  name: string;
  role: Role;
  hash: string;
  created_at: string;
  password_set_at: string;
  default_password: number;
}

const MIGRATIONS = [
  `CREATE TABLE admin_accounts (
     name TEXT PRIMARY KEY,
     role TEXT NOT NULL,
     hash TEXT NOT NULL,
     created_at TEXT NOT NULL,
     password_set_at TEXT NOT NULL,
     default_password INTEGER NOT NULL DEFAULT 0)`,
];

const toAccount = (r: Row): Account => ({
  name: r.name, role: r.role, createdAt: new Date(r.created_at), passwordSetAt: new Date(r.password_set_at), defaultPassword: r.default_password === 1,
});

export class AccountError extends Error {
  override readonly name = 'AccountError';
  /** The request field at fault ('name', 'password', 'role'). */
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.field = field;
  }
}

export class Accounts {
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
    store.migrate('admin-accounts', MIGRATIONS);
  }

  list(): Account[] {
    return this.#store.prepare<[], Row>('SELECT * FROM admin_accounts ORDER BY name').all().map(toAccount);
  }

  get(name: string): Account | undefined {
    const n = normalizeName(name);
    const row = n === undefined ? undefined : this.#row(n);
    return row ? toAccount(row) : undefined;
  }

  get size(): number {
    return (this.#store.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM admin_accounts').get()?.n) ?? 0;
  }

  /** Adds an account; throws AccountError naming the field at fault (a taken name is 'name'). */
  async add(name: string, role: Role, password: string): Promise<Account> {
    const n = this.#checkName(name);
    this.#checkRole(role);
    const bad = passwordProblem(n, password);
    if (bad) throw new AccountError('password', bad);
    const hash = await hashPassword(password);
    if (this.#row(n)) throw new AccountError('name', `${n} is taken`);
    const now = new Date().toISOString();
    this.#store.prepare('INSERT INTO admin_accounts (name, role, hash, created_at, password_set_at) VALUES (?, ?, ?, ?, ?)').run(n, role, hash, now, now);
    return this.get(n)!;
  }

  /** The fresh node's account: admin / admin, marked as a default password. False when any account exists. */
  async addDefault(): Promise<boolean> {
    if (this.size > 0) return false;
    const hash = await hashPassword(DEFAULT_PASSWORD);
    const now = new Date().toISOString();
    const r = this.#store
      .prepare(`INSERT INTO admin_accounts (name, role, hash, created_at, password_set_at, default_password)
                SELECT ?, 'administrator', ?, ?, ?, 1 WHERE NOT EXISTS (SELECT 1 FROM admin_accounts)`)
      .run(DEFAULT_ACCOUNT, hash, now, now);
    return r.changes === 1;
  }

  async setPassword(name: string, password: string): Promise<Account> {
    const n = this.#existing(name);
    const bad = passwordProblem(n, password);
    if (bad) throw new AccountError('password', bad);
    if (await this.verify(n, password)) throw new AccountError('password', 'must differ from the current password');
    const hash = await hashPassword(password);
    this.#store.prepare('UPDATE admin_accounts SET hash = ?, password_set_at = ?, default_password = 0 WHERE name = ?').run(hash, new Date().toISOString(), n);
    return this.get(n)!;
  }

  setRole(name: string, role: Role): Account {
    const n = this.#existing(name);
    this.#checkRole(role);
    if (role !== 'administrator' && this.#row(n)!.role === 'administrator' && this.#administrators() === 1) {
      throw new AccountError('role', `${n} is the last administrator`);
    }
    this.#store.prepare('UPDATE admin_accounts SET role = ? WHERE name = ?').run(role, n);
    return this.get(n)!;
  }

  remove(name: string): void {
    const n = this.#existing(name);
    if (this.#row(n)!.role === 'administrator' && this.#administrators() === 1) throw new AccountError('name', `${n} is the last administrator`);
    this.#store.prepare('DELETE FROM admin_accounts WHERE name = ?').run(n);
  }

  /** Whether `password` is `name`'s; an unknown name costs the same time and is false. */
  async verify(name: string, password: string): Promise<boolean> {
    const n = normalizeName(name);
    const row = n === undefined ? undefined : this.#row(n);
    if (!row) {
      dummyHash ??= hashPassword(randomBytes(24).toString('base64url'));
      await verifyPassword(typeof password === 'string' ? password : '', await dummyHash);
      return false;
    }
    return verifyPassword(password, row.hash);
  }

  #row(n: string): Row | undefined {
    return this.#store.prepare<[string], Row>('SELECT * FROM admin_accounts WHERE name = ?').get(n);
  }

  #administrators(): number {
    return this.#store.prepare<[], { n: number }>("SELECT COUNT(*) AS n FROM admin_accounts WHERE role = 'administrator'").get()?.n ?? 0;
  }

  #checkName(name: string): string {
    const n = normalizeName(name);
    if (n === undefined) throw new AccountError('name', `must be ${NAME_RULE}`);
    return n;
  }

  #existing(name: string): string {
    const n = this.#checkName(name);
    if (!this.#row(n)) throw new AccountError('name', `no account ${n}`);
    return n;
  }

  #checkRole(role: unknown): asserts role is Role {
    if (!ROLES.includes(role as Role)) throw new AccountError('role', `must be one of ${ROLES.join(', ')}`);
  }
}
