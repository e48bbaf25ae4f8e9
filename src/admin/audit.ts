/**
 * The audit trail: every login (and failed login, logout, lockout) and every change made through
 * the admin API, with who, when, from where and what changed, kept in the store and read back
 * through the API. Details never hold a secret: passwords appear as "changed", never as values.
 */
import type { Store } from '../core/store.js';
import { redact } from '../core/logger.js';

export interface AuditEntry {
  id: number;
  at: Date;
  /** The account (as typed, for a failed login of an unknown name), or 'system'. */
  actor: string;
  /** The source address of the request. */
  address: string;
  /** What was done: 'login', 'login-failed', 'logout', 'lockout', 'config-change', 'account-add', 'party-mute'... */
  action: string;
  /** What it was done to (a configuration path, an account, a conference party); '' when nothing in particular. */
  target: string;
  outcome: 'ok' | 'refused' | 'failed';
  detail: Record<string, unknown>;
}

export interface AuditQuery {
  /** Entries before this id (paging back). */
  before?: number;
  actor?: string;
  action?: string;
  /** At most this many, newest first (default 100, at most 1000). */
  limit?: number;
}

interface Row {
  id: number;
  at: string;
  actor: string;
  address: string;
  action: string;
  target: string;
  outcome: AuditEntry['outcome'];
  detail: string;
}

const MIGRATIONS = [
  `CREATE TABLE admin_audit (
     id INTEGER PRIMARY KEY,
     at TEXT NOT NULL,
     actor TEXT NOT NULL,
     address TEXT NOT NULL,
     action TEXT NOT NULL,
     target TEXT NOT NULL,
     outcome TEXT NOT NULL,
     detail TEXT NOT NULL);
   CREATE INDEX admin_audit_actor ON admin_audit (actor, id);
   CREATE INDEX admin_audit_action ON admin_audit (action, id);`,
];

/** Entries kept; the oldest go first (a year of a busy node's logins and changes). */
const KEEP = 200_000;

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n)}…` : s);

export class AuditTrail {
  readonly #store: Store;
  #sinceTrim = 0;

  constructor(store: Store) {
    this.#store = store;
    store.migrate('admin-audit', MIGRATIONS);
  }

  /** Appends an entry; throws when the store cannot take it (the caller decides what that means). */
  record(e: Omit<AuditEntry, 'id' | 'at' | 'detail'> & { detail?: Record<string, unknown> }): AuditEntry {
    const row = {
      at: new Date().toISOString(),
      actor: clip(String(e.actor), 64),
      address: clip(String(e.address), 64),
      action: clip(String(e.action), 32),
      target: clip(String(e.target), 200),
      outcome: e.outcome,
      detail: detailText(e.detail ?? {}),
    };
    const r = this.#store
      .prepare('INSERT INTO admin_audit (at, actor, address, action, target, outcome, detail) VALUES (@at, @actor, @address, @action, @target, @outcome, @detail)')
      .run(row);
    if (++this.#sinceTrim >= 1000) {
      this.#sinceTrim = 0;
      this.#store.prepare('DELETE FROM admin_audit WHERE id <= (SELECT MAX(id) FROM admin_audit) - ?').run(KEEP);
    }
    return toEntry({ ...row, id: Number(r.lastInsertRowid) });
  }

  query(q: AuditQuery = {}): AuditEntry[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (q.before !== undefined) {
      where.push('id < ?');
      args.push(q.before);
    }
    if (q.actor !== undefined) {
      where.push('actor = ?');
      args.push(q.actor);
    }
    if (q.action !== undefined) {
      where.push('action = ?');
      args.push(q.action);
    }
    const limit = Math.min(Math.max(q.limit ?? 100, 1), 1000);
    const sql = `SELECT * FROM admin_audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ${limit}`;
    return this.#store.prepare<(string | number)[], Row>(sql).all(...args).map(toEntry);
  }
}

/** The detail as JSON; a huge one (a whole document replaced) is kept as the start of its text. */
function detailText(detail: Record<string, unknown>): string {
  const json = JSON.stringify(redact(detail));
  return json.length <= 20_000 ? json : JSON.stringify({ truncated: true, text: json.slice(0, 20_000) });
}

function toEntry(r: Row): AuditEntry {
  return { id: r.id, at: new Date(r.at), actor: r.actor, address: r.address, action: r.action, target: r.target, outcome: r.outcome, detail: JSON.parse(r.detail) as Record<string, unknown> };
}
