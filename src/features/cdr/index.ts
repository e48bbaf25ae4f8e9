/**
 * Call records: where the B2BUA's one record per call goes. record() stores it and streams it
 * to SMDR clients, and never throws into the call path: a call that ended is not made to fail
 * because its record could not be kept (disk full, store closed); the loss is logged instead.
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
export { CALL_DIRECTIONS, CALL_DISPOSITIONS, assertCallRecord } from './validate.js';

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

export class CallRecords {
  readonly #cdr: CdrStore;
  readonly #smdr: SmdrServer | undefined;
  readonly #log: Logger;
  #closing: Promise<void> | undefined;

  constructor(options: CallRecordsOptions) {
    if (typeof options !== 'object' || options === null) throw new TypeError('options: must be an object');
    if (options.smdr !== undefined && !(options.smdr instanceof SmdrServer)) throw new TypeError('options.smdr: must be an SmdrServer');
    if (typeof options.logger?.error !== 'function') throw new TypeError('options.logger: must be a Logger');
    this.#cdr = new CdrStore(options.store);
    this.#smdr = options.smdr;
    this.#log = options.logger;
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
      return;
    }
    try {
      this.#cdr.write(r);
    } catch (err) {
      this.#log.error('call record not stored', { ...meta, ...describe(err) });
    }
    // Published even when not stored: the billing system may be the only copy left.
    if (this.#smdr) {
      try {
        this.#smdr.publish(r);
      } catch (err) {
        this.#log.error('call record not sent to SMDR', { ...meta, ...describe(err) });
      }
    }
  }

  /** Stored records, newest first (see CdrQuery). */
  query(filter?: CdrQuery): CallRecord[] {
    return this.#cdr.query(filter);
  }

  count(): number {
    return this.#cdr.count();
  }

  /** Stops taking records and closes the SMDR server; idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#smdr ? this.#smdr.close() : Promise.resolve();
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
