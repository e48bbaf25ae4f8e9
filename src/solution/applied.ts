/**
 * The configuration this node applied last, kept in its own SQLite store: a node that cannot
 * reach the bus starts on it, and a revision is never applied twice.
 */
import type { Store } from '../core/store.js';
import type { Raw } from '../core/config/fields.js';

export interface AppliedConfig {
  revision: number;
  hash: string;
  /** The whole solution document as applied (raw, before defaults). */
  document: Raw;
  appliedAt: string;
}

const MIGRATIONS = [
  `CREATE TABLE solution_applied (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     revision INTEGER NOT NULL,
     hash TEXT NOT NULL,
     document TEXT NOT NULL,
     applied_at TEXT NOT NULL)`,
];

export class AppliedStore {
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
    store.migrate('solution', MIGRATIONS);
  }

  load(): AppliedConfig | undefined {
    const row = this.#store.prepare('SELECT revision, hash, document, applied_at FROM solution_applied WHERE id = 1').get() as
      | { revision: number; hash: string; document: string; applied_at: string }
      | undefined;
    if (!row) return undefined;
    return { revision: row.revision, hash: row.hash, document: JSON.parse(row.document) as Raw, appliedAt: row.applied_at };
  }

  save(a: Omit<AppliedConfig, 'appliedAt'>): void {
    this.#store
      .prepare(
        `INSERT INTO solution_applied (id, revision, hash, document, applied_at) VALUES (1, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET revision = excluded.revision, hash = excluded.hash,
           document = excluded.document, applied_at = excluded.applied_at`,
      )
      .run(a.revision, a.hash, JSON.stringify(a.document), new Date().toISOString());
  }
}
