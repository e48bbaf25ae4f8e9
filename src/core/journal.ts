/**
 * The node's journal of state changes another node must replay: voicemail (messages, their
 * state, greetings, PINs), phone settings and hunt group state. A feature appends an entry in
 * the same SQLite transaction as the change it describes, so a change and its entry are kept or
 * lost together, whatever happens to the process. The solution layer publishes the entries in
 * order and trims them once the bus has them (src/solution/replication.ts).
 *
 * A node with nothing to replicate to (no solution, or no backup) has a disabled journal: append
 * does nothing, and features need not ask.
 */
import { EventEmitter } from 'node:events';
import type { Store } from './store.js';

export interface JournalEntry {
  /** Position in this node's journal: increases by one with each entry, never reused. */
  seq: number;
  /** What changed: 'vm.message', 'vm.state', 'settings', 'hunt', ... */
  kind: string;
  data: unknown;
  /** When (ms since the epoch). */
  at: number;
}

const MIGRATIONS = [
  `CREATE TABLE journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, data TEXT NOT NULL, at INTEGER NOT NULL)`,
];

export class Journal extends EventEmitter<{ appended: [] }> {
  readonly enabled: boolean;
  readonly #insert;
  readonly #after;
  readonly #trim;
  readonly #last;
  #notify = false;

  /** `enabled`: entries are kept (a node that replicates); else append() does nothing. */
  constructor(store: Store, enabled: boolean) {
    super();
    if (typeof store?.prepare !== 'function') throw new TypeError('store: must be a Store');
    if (typeof enabled !== 'boolean') throw new TypeError('enabled: must be true or false');
    this.enabled = enabled;
    store.migrate('journal', MIGRATIONS);
    this.#insert = store.prepare<[string, string, number]>('INSERT INTO journal (kind, data, at) VALUES (?, ?, ?)');
    this.#after = store.prepare<[number, number], { seq: number; kind: string; data: string; at: number }>('SELECT * FROM journal WHERE seq > ? ORDER BY seq LIMIT ?');
    this.#trim = store.prepare<[number]>('DELETE FROM journal WHERE seq <= ?');
    this.#last = store.prepare<[], { seq: number | null }>('SELECT MAX(seq) AS seq FROM journal');
  }

  /** Records a change (call it inside the transaction that makes the change). */
  append(kind: string, data: unknown): void {
    if (!this.enabled) return;
    if (typeof kind !== 'string' || kind === '') throw new TypeError('kind: must be a non-empty string');
    this.#insert.run(kind, JSON.stringify(data), Date.now());
    // one wake-up per turn of the event loop, after the transaction committed
    if (!this.#notify) {
      this.#notify = true;
      setImmediate(() => {
        this.#notify = false;
        this.emit('appended');
      });
    }
  }

  /** Up to `limit` entries after `seq`, oldest first. */
  after(seq: number, limit = 100): JournalEntry[] {
    return this.#after.all(seq, limit).map((r) => ({ seq: r.seq, kind: r.kind, data: JSON.parse(r.data) as unknown, at: r.at }));
  }

  /** The last entry's seq (0 when there is none kept). */
  get last(): number {
    return this.#last.get()?.seq ?? 0;
  }

  /** Forgets the entries up to `seq` (the bus holds them). */
  trim(seq: number): void {
    this.#trim.run(seq);
  }
}
