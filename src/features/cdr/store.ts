/**
 * Call records on the node's SQLite store. One row per call in `cdr_calls`, its legs kept as a
 * JSON array in that row rather than in a second table: legs are always written and read with
 * their call and never searched on their own, so one row makes a write one INSERT and a query
 * no join (SQLite's json_each() still reaches into them for an ad-hoc report). The columns a
 * search uses (start, the three numbers) are real indexed columns.
 */
import type Database from 'better-sqlite3';
import type { Store } from '../../core/store.js';
import type { CallDirection, CallDisposition, CallRecord, LegRecord } from '../../core/call-record.js';
import { assertCallRecord } from './validate.js';

// Append-only (see Store.migrate). The table is prefixed: the store is shared by every feature.
// No CHECK on direction/disposition: SQLite cannot alter a constraint in place, and a new
// disposition should not need a table rebuild; validate.ts guards the values instead.
// `id` is indexed, not unique: if ids ever repeat (across a restart, say) a duplicate row is a
// visible oddity, while a refused INSERT would be a lost bill.
const MIGRATIONS = [
  `CREATE TABLE cdr_calls (
     seq INTEGER PRIMARY KEY,
     id TEXT NOT NULL,
     start_ms INTEGER NOT NULL, answer_ms INTEGER, end_ms INTEGER NOT NULL,
     caller_number TEXT NOT NULL, caller_name TEXT NOT NULL,
     called_number TEXT NOT NULL, connected_number TEXT,
     direction TEXT NOT NULL, duration_sec REAL NOT NULL, ring_sec REAL NOT NULL,
     disposition TEXT NOT NULL, cause TEXT NOT NULL,
     legs TEXT NOT NULL);
   CREATE INDEX cdr_calls_start ON cdr_calls (start_ms);
   CREATE INDEX cdr_calls_id ON cdr_calls (id);
   CREATE INDEX cdr_calls_caller ON cdr_calls (caller_number, start_ms);
   CREATE INDEX cdr_calls_called ON cdr_calls (called_number, start_ms);
   CREATE INDEX cdr_calls_connected ON cdr_calls (connected_number, start_ms);`,
];

export interface CdrQuery {
  /** Calls that started at or after this time. */
  from?: Date;
  /** Calls that started before this time (exclusive, so consecutive ranges do not overlap). */
  to?: Date;
  /** Calls where this is the caller, the called (dialled) or the connected number; exact match. */
  number?: string;
  /** Most records returned, 1..100000; default 1000. */
  limit?: number;
}

export const DEFAULT_QUERY_LIMIT = 1000;
export const MAX_QUERY_LIMIT = 100_000;

interface Row {
  id: string;
  start_ms: number;
  answer_ms: number | null;
  end_ms: number;
  caller_number: string;
  caller_name: string;
  called_number: string;
  connected_number: string | null;
  direction: string;
  duration_sec: number;
  ring_sec: number;
  disposition: string;
  cause: string;
  legs: string;
}

// JSON has no undefined: absent values are written as null and read back as undefined, and
// only the known fields are kept, so the row round-trips to an equal record.
type StoredLeg = Omit<LegRecord, 'codec' | 'quality'> & {
  codec: LegRecord['codec'] | null;
  quality: (Omit<NonNullable<LegRecord['quality']>, 'rttMs'> & { rttMs: number | null }) | null;
};

function encodeLegs(legs: readonly LegRecord[]): string {
  return JSON.stringify(
    legs.map((l): StoredLeg => ({
      role: l.role,
      sipCallId: l.sipCallId,
      party: l.party,
      codec: l.codec ?? null,
      quality: l.quality
        ? { packetsLost: l.quality.packetsLost, fractionLost: l.quality.fractionLost, jitterMs: l.quality.jitterMs, rttMs: l.quality.rttMs ?? null }
        : null,
    })),
  );
}

function decodeLegs(json: string): LegRecord[] {
  return (JSON.parse(json) as StoredLeg[]).map((l) => ({
    role: l.role,
    sipCallId: l.sipCallId,
    party: l.party,
    codec: l.codec ?? undefined,
    quality: l.quality ? { ...l.quality, rttMs: l.quality.rttMs ?? undefined } : undefined,
  }));
}

function toRow(r: CallRecord): Row {
  return {
    id: r.id,
    start_ms: r.start.getTime(),
    answer_ms: r.answer ? r.answer.getTime() : null,
    end_ms: r.end.getTime(),
    caller_number: r.callerNumber,
    caller_name: r.callerName,
    called_number: r.calledNumber,
    connected_number: r.connectedNumber ?? null,
    direction: r.direction,
    duration_sec: r.durationSec,
    ring_sec: r.ringSec,
    disposition: r.disposition,
    cause: r.cause,
    legs: encodeLegs(r.legs),
  };
}

function fromRow(row: Row): CallRecord {
  return {
    id: row.id,
    start: new Date(row.start_ms),
    answer: row.answer_ms === null ? undefined : new Date(row.answer_ms),
    end: new Date(row.end_ms),
    callerNumber: row.caller_number,
    callerName: row.caller_name,
    calledNumber: row.called_number,
    connectedNumber: row.connected_number ?? undefined,
    direction: row.direction as CallDirection,
    legs: decodeLegs(row.legs),
    durationSec: row.duration_sec,
    ringSec: row.ring_sec,
    disposition: row.disposition as CallDisposition,
    cause: row.cause,
  };
}

// Taken from toRow's output, so the column list of INSERT and SELECT cannot drift from it.
const COLUMNS = Object.keys(toRow({
  id: '', start: new Date(0), answer: undefined, end: new Date(0), callerNumber: '', callerName: '', calledNumber: '',
  connectedNumber: undefined, direction: 'internal', legs: [], durationSec: 0, ringSec: 0, disposition: 'failed', cause: '',
}));

function checkDate(v: unknown, field: string): number | undefined {
  if (v === undefined) return undefined;
  if (!(v instanceof Date) || Number.isNaN(v.getTime())) throw new TypeError(`${field}: must be a valid Date`);
  return v.getTime();
}

export class CdrStore {
  readonly #store: Store;
  readonly #insert: (row: Row) => void;
  readonly #count: Database.Statement<[], number>;
  /** One prepared statement per combination of filters, so each WHERE can use its index. */
  readonly #queries = new Map<string, Database.Statement<Record<string, unknown>, Row>>();

  /** Creates or upgrades the CDR tables in `store`. */
  constructor(store: Store) {
    if (typeof store !== 'object' || store === null || typeof store.migrate !== 'function') {
      throw new TypeError('store: must be the node Store');
    }
    this.#store = store;
    store.migrate('cdr', MIGRATIONS);
    const insert = store.prepare<Row, unknown>(
      `INSERT INTO cdr_calls (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((c) => '@' + c).join(', ')})`,
    );
    this.#insert = store.transaction((row: Row) => void insert.run(row));
    this.#count = store.prepare<[], number>('SELECT count(*) FROM cdr_calls').pluck();
  }

  /** Stores `record` (synchronously, committed on return); throws a TypeError naming a wrong field, or the SQLite error. */
  write(record: CallRecord): void {
    assertCallRecord(record);
    this.#insert(toRow(record));
  }

  /** Records matching every given filter, newest start first. */
  query(filter: CdrQuery = {}): CallRecord[] {
    if (typeof filter !== 'object' || filter === null) throw new TypeError('filter: must be an object');
    const from = checkDate(filter.from, 'filter.from');
    const to = checkDate(filter.to, 'filter.to');
    const { number } = filter;
    if (number !== undefined && (typeof number !== 'string' || number === '')) {
      throw new TypeError('filter.number: must be a non-empty string');
    }
    const limit = filter.limit ?? DEFAULT_QUERY_LIMIT;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_QUERY_LIMIT) {
      throw new TypeError(`filter.limit: must be an integer 1..${MAX_QUERY_LIMIT}`);
    }
    const where: string[] = [];
    const params: Record<string, unknown> = { limit };
    if (from !== undefined) (where.push('start_ms >= @from'), (params.from = from));
    if (to !== undefined) (where.push('start_ms < @to'), (params.to = to));
    if (number !== undefined) {
      where.push('(caller_number = @number OR called_number = @number OR connected_number = @number)');
      params.number = number;
    }
    const key = where.join(' AND ');
    let stmt = this.#queries.get(key);
    if (!stmt) {
      stmt = this.#store.prepare<Record<string, unknown>, Row>(
        `SELECT ${COLUMNS.join(', ')} FROM cdr_calls ${key ? 'WHERE ' + key : ''}
         ORDER BY start_ms DESC, seq DESC LIMIT @limit`,
      );
      this.#queries.set(key, stmt);
    }
    return stmt.all(params).map(fromRow);
  }

  /** Number of records stored. */
  count(): number {
    return this.#count.get()!;
  }
}
