/**
 * What of the hunt groups survives a restart (and moves to the node that takes the groups over):
 * members' log-ins, the service state set by feature code, and each rotary group's position.
 * Idle times are not kept: after a restart every member is equally idle, which is also what a
 * fresh start would assume.
 */
import type { Store } from '../../core/store.js';
import type { ServiceState } from './types.js';

const MIGRATIONS = [
  `CREATE TABLE huntgroup_members (
     grp TEXT NOT NULL,
     member TEXT NOT NULL,
     logged_in INTEGER NOT NULL,
     updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
     PRIMARY KEY (grp, member)) WITHOUT ROWID;
   CREATE TABLE huntgroup_service (
     grp TEXT PRIMARY KEY,
     state TEXT NOT NULL CHECK (state IN ('in', 'night', 'out')),
     configured TEXT NOT NULL,
     updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))) WITHOUT ROWID;`,
  `CREATE TABLE huntgroup_rotary (grp TEXT PRIMARY KEY, member TEXT NOT NULL) WITHOUT ROWID;`,
];

export interface StoredService {
  state: ServiceState;
  /** The configured starting state when this state was set: a new configured state wins over it. */
  configured: ServiceState;
}

export class HuntGroupPersistence {
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
    store.migrate('huntgroups', MIGRATIONS);
  }

  /** group -> member -> logged in. */
  logins(): Map<string, Map<string, boolean>> {
    const rows = this.#store.prepare<[], { grp: string; member: string; logged_in: number }>('SELECT grp, member, logged_in FROM huntgroup_members').all();
    const out = new Map<string, Map<string, boolean>>();
    for (const r of rows) {
      let g = out.get(r.grp);
      if (!g) out.set(r.grp, (g = new Map()));
      g.set(r.member, r.logged_in !== 0);
    }
    return out;
  }

  saveLogin(group: string, member: string, loggedIn: boolean): void {
    this.#store
      .prepare(
        `INSERT INTO huntgroup_members (grp, member, logged_in) VALUES (?, ?, ?)
         ON CONFLICT (grp, member) DO UPDATE SET logged_in = excluded.logged_in,
           updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`,
      )
      .run(group, member, loggedIn ? 1 : 0);
  }

  services(): Map<string, StoredService> {
    const rows = this.#store.prepare<[], { grp: string; state: ServiceState; configured: ServiceState }>('SELECT grp, state, configured FROM huntgroup_service').all();
    return new Map(rows.map((r) => [r.grp, { state: r.state, configured: r.configured }]));
  }

  saveService(group: string, s: StoredService): void {
    this.#store
      .prepare(
        `INSERT INTO huntgroup_service (grp, state, configured) VALUES (?, ?, ?)
         ON CONFLICT (grp) DO UPDATE SET state = excluded.state, configured = excluded.configured,
           updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`,
      )
      .run(group, s.state, s.configured);
  }

  /** group -> the member offered its last call (rotary groups continue after them). */
  rotary(): Map<string, string> {
    const rows = this.#store.prepare<[], { grp: string; member: string }>('SELECT grp, member FROM huntgroup_rotary').all();
    return new Map(rows.map((r) => [r.grp, r.member]));
  }

  saveRotary(group: string, member: string | undefined): void {
    if (member === undefined) this.#store.prepare('DELETE FROM huntgroup_rotary WHERE grp = ?').run(group);
    else this.#store.prepare('INSERT OR REPLACE INTO huntgroup_rotary (grp, member) VALUES (?, ?)').run(group, member);
  }

  /** Runs `fn` in one transaction of the store. */
  atomically(fn: () => void): void {
    this.#store.transaction(fn)();
  }
}
