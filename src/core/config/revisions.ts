/**
 * The configuration's revisions, kept in the store: each document a node has run on, numbered,
 * with who made it and when. A node started on a file records the file as a new revision when it
 * differs from the last one kept; a live change (admin API, the solution bus) records the next.
 * The revision number is what a client names to change the document it has read (optimistic
 * concurrency), and what the solution bus orders documents by.
 */
import { createHash } from 'node:crypto';
import type { Store } from '../store.js';

const MIGRATIONS = [
  `CREATE TABLE config_revisions (
     revision INTEGER PRIMARY KEY,
     at TEXT NOT NULL,
     actor TEXT NOT NULL,
     digest TEXT NOT NULL,
     text TEXT NOT NULL)`,
];

/** Revisions kept; older ones are removed (the audit trail keeps what changed in each). */
const KEEP = 100;

export interface ConfigRevision {
  revision: number;
  at: Date;
  /** Who made it: an admin account, 'file' (the node started on a changed file), 'bus'. */
  actor: string;
  /** sha256 of the text, hex. */
  digest: string;
  text: string;
}

interface Row {
  revision: number;
  at: string;
  actor: string;
  digest: string;
  text: string;
}

const toRevision = (r: Row): ConfigRevision => ({ ...r, at: new Date(r.at) });

export function digestOf(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

export class ConfigRevisions {
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
    store.migrate('config-revisions', MIGRATIONS);
  }

  /** The newest revision kept, or undefined on a fresh store. */
  latest(): ConfigRevision | undefined {
    const row = this.#store.prepare<[], Row>('SELECT * FROM config_revisions ORDER BY revision DESC LIMIT 1').get();
    return row ? toRevision(row) : undefined;
  }

  get(revision: number): ConfigRevision | undefined {
    const row = this.#store.prepare<[number], Row>('SELECT * FROM config_revisions WHERE revision = ?').get(revision);
    return row ? toRevision(row) : undefined;
  }

  /** The newest revisions, newest first, without their text. */
  list(limit = 20): Omit<ConfigRevision, 'text'>[] {
    const rows = this.#store.prepare<[number], Omit<Row, 'text'>>('SELECT revision, at, actor, digest FROM config_revisions ORDER BY revision DESC LIMIT ?').all(limit);
    return rows.map((r) => ({ ...r, at: new Date(r.at) }));
  }

  /**
   * Keeps `text` as revision `revision` (default: one above the newest). Throws when `revision`
   * is not above the newest: revisions only move forward.
   */
  record(text: string, actor: string, revision?: number): ConfigRevision {
    if (typeof text !== 'string') throw new TypeError('text: must be a string');
    if (typeof actor !== 'string' || actor === '') throw new TypeError('actor: must be a non-empty string');
    return this.#store.transaction(() => {
      const newest = this.latest()?.revision ?? 0;
      const n = revision ?? newest + 1;
      if (!Number.isSafeInteger(n) || n <= newest) throw new RangeError(`revision: must be above ${newest} (got ${n})`);
      const r: Row = { revision: n, at: new Date().toISOString(), actor, digest: digestOf(text), text };
      this.#store.prepare('INSERT INTO config_revisions (revision, at, actor, digest, text) VALUES (@revision, @at, @actor, @digest, @text)').run(r);
      this.#store.prepare('DELETE FROM config_revisions WHERE revision <= ?').run(n - KEEP);
      return toRevision(r);
    })();
  }
}
