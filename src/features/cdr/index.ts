/**
 * Call records: where the B2BUA's one record per call goes. record() stores it and streams it
 * to SMDR clients, and never throws into the call path, and never loses a record it can keep:
 * a record with a bad field is stored with the field repaired (and a warning naming it); a
 * record the store cannot take now (a full disk) waits in memory, in order, and is written when
 * the store takes writes again (retried every few seconds, and before the next record).
 */
import type { CdrConfig } from '../../core/config/schema.js';
import type { Logger } from '../../core/logger.js';
import type { Store } from '../../core/store.js';
import type { CallRecord } from '../../core/call-record.js';
import { SmdrServer } from './smdr.js';
import { CdrStore, type CdrQuery } from './store.js';

export type { CallDirection, CallDisposition, CallRecord, LegQualityFigures, LegRecord } from '../../core/call-record.js';
export { CdrStore, DEFAULT_QUERY_LIMIT, MAX_QUERY_LIMIT, type CdrQuery } from './store.js';
export { SMDR_FIELDS, SMDR_HEADER, SmdrServer, formatSmdr, localIsoTime, type SmdrServerOptions } from './smdr.js';
export { CALL_DIRECTIONS, CALL_DISPOSITIONS, assertCallRecord, repairCallRecord } from './validate.js';
import { assertCallRecord, repairCallRecord } from './validate.js';

export interface CallRecordsOptions {
  /** The node's store; the CDR tables are created in it. Not closed by close(): features share it. */
  store: Store;
  /** SMDR stream each record is published to, already started; close() closes it. */
  smdr?: SmdrServer;
  logger: Logger;
}

function describe(err: unknown): { code?: unknown; error: string } {
  const e = err as { code?: unknown; message?: unknown };
  return { code: e?.code, error: typeof e?.message === 'string' ? e.message : String(err) };
}

/** Records held while the store refuses them; beyond this the oldest is lost (and said so). */
const BACKLOG_MAX = 50_000;
const RETRY_MS = 5000;

export class CallRecords {
  readonly #cdr: CdrStore;
  readonly #smdr: SmdrServer | undefined;
  readonly #log: Logger;
  /** Records not stored yet, oldest first. */
  readonly #backlog: CallRecord[] = [];
  #retry: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;
  readonly stats = { stored: 0, repaired: 0, lost: 0 };

  constructor(options: CallRecordsOptions) {
    if (typeof options !== 'object' || options === null) throw new TypeError('options: must be an object');
    if (options.smdr !== undefined && !(options.smdr instanceof SmdrServer)) throw new TypeError('options.smdr: must be an SmdrServer');
    if (typeof options.logger?.error !== 'function') throw new TypeError('options.logger: must be a Logger');
    this.#cdr = new CdrStore(options.store);
    this.#smdr = options.smdr;
    this.#log = options.logger;
  }

  /** Records waiting in memory for the store. */
  get waiting(): number {
    return this.#backlog.length;
  }

  /** Keeps and publishes the record of a call that has ended; logs, never throws, when it cannot. */
  record(r: CallRecord): void {
    // The SIP Call-IDs let a failure be found beside the dialogs' own log lines.
    const meta = {
      callId: (r as Partial<CallRecord> | undefined)?.id,
      sipCallIds: Array.isArray(r?.legs) ? r.legs.map((l) => l?.sipCallId) : undefined,
    };
    if (this.#closing) {
      this.#log.error('call record lost: call records are closed', meta);
      this.stats.lost++;
      return;
    }
    let rec = r;
    try {
      assertCallRecord(r);
    } catch {
      const fixed = repairCallRecord(r);
      rec = fixed.record;
      this.stats.repaired++;
      this.#log.warn(`call record repaired: ${fixed.problems.join('; ')}`, meta);
    }
    this.#backlog.push(rec);
    if (this.#backlog.length > BACKLOG_MAX) {
      const lost = this.#backlog.shift()!;
      this.stats.lost++;
      this.#log.error('call record lost: too many records wait for the store', { callId: lost.id });
    }
    this.#drain(meta);
    // Published even when not stored: the billing system may be the only copy left.
    if (this.#smdr) {
      try {
        this.#smdr.publish(rec);
      } catch (err) {
        this.#log.error('call record not sent to SMDR', { ...meta, ...describe(err) });
      }
    }
  }

  /** Writes the waiting records in order; stops at the first the store refuses, and tries again later. */
  #drain(meta?: Record<string, unknown>): void {
    while (this.#backlog.length > 0) {
      try {
        this.#cdr.write(this.#backlog[0]!);
      } catch (err) {
        if (meta) this.#log.error(`call record not stored: kept in memory (${this.#backlog.length} waiting), retried`, { ...meta, ...describe(err) });
        if (!this.#retry && !this.#closing) {
          this.#retry = setTimeout(() => {
            this.#retry = undefined;
            this.#drain();
          }, RETRY_MS);
          this.#retry.unref();
        }
        return;
      }
      this.#backlog.shift();
      this.stats.stored++;
    }
  }

  /** Stored records, newest first (see CdrQuery). */
  query(filter?: CdrQuery): CallRecord[] {
    return this.#cdr.query(filter);
  }

  count(): number {
    return this.#cdr.count();
  }

  /** Stops taking records (writing those still waiting once more) and closes the SMDR server; idempotent. */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closing = this.#smdr ? this.#smdr.close() : Promise.resolve();
    clearTimeout(this.#retry);
    this.#retry = undefined;
    this.#drain();
    if (this.#backlog.length > 0) {
      this.stats.lost += this.#backlog.length;
      this.#log.error(`call records lost: ${this.#backlog.length} could not be stored before shutdown`, { callIds: this.#backlog.slice(0, 20).map((r) => r.id) });
      this.#backlog.length = 0;
    }
    return this.#closing;
  }
}

/** Call records as configured: the SMDR server started when `config.smdr.enabled`. */
export async function openCallRecords(config: CdrConfig, store: Store, logger: Logger): Promise<CallRecords> {
  const smdr = config.smdr.enabled ? new SmdrServer({ address: config.smdr.address, port: config.smdr.port, logger }) : undefined;
  await smdr?.start();
  try {
    return new CallRecords({ store, smdr, logger });
  } catch (err) {
    await smdr?.close();
    throw err;
  }
}
