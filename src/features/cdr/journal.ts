/**
 * The call journal: the calls up now, written to the store every few seconds, so that a node
 * that dies (killed, power cut) still bills them. At the next start every call found in the
 * journal gets its record, ending when the node was last seen alive (the last journal write),
 * with cause "node stopped". A call that began and ended between two writes leaves no trace
 * here, and needs none: it was recorded when it ended.
 */
import type { CallRecord } from '../../core/call-record.js';
import type { Logger } from '../../core/logger.js';
import type { Store } from '../../core/store.js';

const MIGRATIONS = [
  `CREATE TABLE cdr_journal (id TEXT PRIMARY KEY, data TEXT NOT NULL);
   CREATE TABLE cdr_journal_seen (one INTEGER PRIMARY KEY CHECK (one = 1), at_ms INTEGER NOT NULL);`,
];

export interface CallJournalOptions {
  store: Store;
  logger: Logger;
  /** The calls up now, as the records they would get if they ended at `at`. */
  live: (at: Date) => CallRecord[];
  /** How often the journal is written (ms); default 2000. */
  intervalMs?: number;
}

type Stored = Omit<CallRecord, 'start' | 'answer' | 'end'> & { start: number; answer: number | null; end: number };

export class CallJournal {
  readonly #o: CallJournalOptions;
  readonly #write: () => void;
  readonly #read: () => { data: string }[];
  readonly #seen: () => number | undefined;
  readonly #clear: () => void;
  #timer: NodeJS.Timeout | undefined;
  #failed = false;

  constructor(opts: CallJournalOptions) {
    if (opts === null || typeof opts !== 'object') throw new TypeError('opts: object');
    if (typeof opts.live !== 'function') throw new TypeError('live: function');
    this.#o = opts;
    const s = opts.store;
    s.migrate('cdr-journal', MIGRATIONS);
    const del = s.prepare('DELETE FROM cdr_journal');
    const ins = s.prepare('INSERT INTO cdr_journal (id, data) VALUES (?, ?)');
    const seen = s.prepare('INSERT INTO cdr_journal_seen (one, at_ms) VALUES (1, ?) ON CONFLICT (one) DO UPDATE SET at_ms = excluded.at_ms');
    const all = s.prepare<[], { data: string }>('SELECT data FROM cdr_journal');
    const seenAt = s.prepare<[], number>('SELECT at_ms FROM cdr_journal_seen WHERE one = 1').pluck();
    this.#write = s.transaction(() => {
      const now = new Date();
      del.run();
      for (const r of opts.live(now)) ins.run(r.id, JSON.stringify(encode(r)));
      seen.run(now.getTime());
    });
    this.#read = () => all.all();
    this.#seen = () => seenAt.get();
    this.#clear = s.transaction(() => del.run());
  }

  /**
   * The records of calls that were up when the node last stopped without ending them, ended at
   * the last moment it was seen alive; the journal is emptied. Call once, before start().
   */
  recover(): CallRecord[] {
    const rows = this.#read();
    if (rows.length === 0) return [];
    const seen = this.#seen() ?? Date.now();
    const out: CallRecord[] = [];
    for (const row of rows) {
      try {
        out.push(decode(JSON.parse(row.data) as Stored, seen));
      } catch (e) {
        this.#o.logger.error(`call journal: an entry could not be read: ${(e as Error).message}`);
      }
    }
    try {
      this.#clear();
    } catch (e) {
      // a full disk at start: the same records come back at the next start (their ids show it)
      this.#o.logger.error(`call journal not cleared: ${(e as Error).message}`);
    }
    return out;
  }

  /** recover(), each record handed to `record` (the call records), with one log line for the lot. */
  recoverInto(record: (r: CallRecord) => void): number {
    const found = this.recover();
    for (const r of found) record(r);
    if (found.length) this.#o.logger.warn(`call records written for ${found.length} calls that were up when the node stopped`, { calls: found.map((r) => r.id) });
    return found.length;
  }

  /** A journal whose previous run's calls were handed to `record` already (recoverInto): what a node starts with. */
  static recovered(opts: CallJournalOptions, record: (r: CallRecord) => void): CallJournal {
    const j = new CallJournal(opts);
    j.recoverInto(record);
    return j;
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.flush(), this.#o.intervalMs ?? 2000);
    this.#timer.unref();
  }

  /** Writes the calls up now; a failure (a full disk) is logged once and tried again next time. */
  flush(): void {
    try {
      this.#write();
      this.#failed = false;
    } catch (e) {
      if (!this.#failed) this.#o.logger.error(`call journal not written: ${(e as Error).message}`);
      this.#failed = true;
    }
  }

  /** A clean stop: the calls were ended (and recorded) by their own close, so the journal is emptied. */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    try {
      this.#clear();
    } catch (e) {
      this.#o.logger.error(`call journal not cleared at shutdown: ${(e as Error).message}`);
    }
  }
}

function encode(r: CallRecord): Stored {
  return { ...r, start: r.start.getTime(), answer: r.answer ? r.answer.getTime() : null, end: r.end.getTime() };
}

function decode(s: Stored, seenMs: number): CallRecord {
  const start = new Date(s.start);
  const answer = s.answer === null ? undefined : new Date(s.answer);
  const end = new Date(Math.max(seenMs, s.end));
  return {
    ...s, start, answer, end,
    legs: s.legs.map((l) => ({ ...l, codec: l.codec ?? undefined, quality: undefined })),
    connectedNumber: s.connectedNumber ?? undefined,
    durationSec: answer ? Math.max(0, Math.round((end.getTime() - answer.getTime()) / 1000)) : 0,
    ringSec: Math.max(0, Math.round(((answer ?? end).getTime() - start.getTime()) / 1000)),
    disposition: answer ? 'answered' : 'failed',
    cause: 'node stopped',
  };
}
