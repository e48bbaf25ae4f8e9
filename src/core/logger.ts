/**
 * Logging on winston. JSON lines for machines (stdout not a TTY, or format json), readable
 * coloured lines for a person at a terminal. Everything about one SIP transaction or dialog is
 * logged through `logger.child({ callId })` so its lines can be pulled out of a busy log.
 * Secrets never reach the output: the redact format runs first in every pipeline.
 */
import { EOL } from 'node:os';
import { Writable } from 'node:stream';
import winston from 'winston';
import type { LogConfig, LogLevel } from './config/index.js';

export type LogMeta = Record<string, unknown>;

/** The part of a logger that the code base uses. */
export interface Logger {
  error(message: string, meta?: LogMeta): void;
  warn(message: string, meta?: LogMeta): void;
  info(message: string, meta?: LogMeta): void;
  debug(message: string, meta?: LogMeta): void;
  /** A logger whose every line carries `meta` as well (e.g. `{ callId }`). */
  child(meta: LogMeta): Logger;
}

export const REDACTED = '[redacted]';

// Compared after lower-casing and dropping '-' and '_', so Proxy-Authorization, proxy_authorization
// and auth_pass / authPass all match; any key ending in "password" or "secret" matches too.
const SECRET_KEYS = new Set(['password', 'secret', 'authorization', 'proxyauthorization', 'authpass']);

export function isSecretKey(key: string): boolean {
  const k = key.toLowerCase().replace(/[-_]/g, '');
  return SECRET_KEYS.has(k) || k.endsWith('password') || k.endsWith('secret');
}

/**
 * A copy of `value` with every secret-named key's value replaced by '[redacted]', at any depth.
 * Never mutates its input: the meta objects belong to the caller.
 */
export function redact<T>(value: T, seen = new WeakMap<object, unknown>()): T {
  if (typeof value !== 'object' || value === null || value instanceof Error || value instanceof Date) return value;
  if (Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return value;
  const done = seen.get(value);
  if (done !== undefined) return done as T;
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    seen.set(value, out);
    for (const v of value) out.push(redact(v, seen));
    return out as T;
  }
  const out: Record<PropertyKey, unknown> = {};
  seen.set(value, out);
  for (const key of Reflect.ownKeys(value)) {
    const v = (value as Record<PropertyKey, unknown>)[key];
    out[key] = typeof key === 'string' && isSecretKey(key) ? REDACTED : redact(v, seen);
  }
  return out as T;
}

/** winston format applying redact() to the whole log record (level, message and winston's symbols are kept). */
export const redactFormat = winston.format((info) => redact(info));

// JSON.stringify turns an Error into {}; a meta field holding one (`{ err }`) keeps its text.
const errorFields = winston.format((info) => {
  for (const [k, v] of Object.entries(info)) {
    if (v instanceof Error) info[k] = { ...redact({ ...v }), name: v.name, message: v.message, stack: v.stack };
  }
  return info;
});

function pipeline(format: 'json' | 'text'): winston.Logform.Format {
  const { combine, timestamp, json, colorize, printf, errors } = winston.format;
  if (format === 'json') return combine(redactFormat(), errorFields(), errors({ stack: true }), timestamp(), json());
  return combine(
    redactFormat(),
    errorFields(),
    errors({ stack: true }),
    timestamp({ format: 'HH:mm:ss.SSS' }),
    colorize({ level: true }),
    printf((info) => {
      const { timestamp: ts, level, message, stack, ...meta } = info;
      const rest = Object.keys(meta).length > 0 ? ' ' + JSON.stringify(meta) : '';
      return `${String(ts)} ${level} ${String(message)}${rest}${stack ? EOL + String(stack) : ''}`;
    }),
  );
}

export interface CreateLoggerOptions {
  /** Where lines go instead of stdout (tests, files). */
  stream?: NodeJS.WritableStream;
  /** Whether stdout is a terminal, for format auto; defaults to process.stdout.isTTY. */
  isTTY?: boolean;
}

export function createLogger(cfg: LogConfig, options: CreateLoggerOptions = {}): Logger {
  if (typeof cfg !== 'object' || cfg === null) throw new TypeError('cfg: must be the log configuration');
  const tty = options.isTTY ?? (options.stream ? false : process.stdout.isTTY === true);
  const format = cfg.format === 'auto' ? (tty ? 'text' : 'json') : cfg.format;
  const transport = options.stream
    ? new winston.transports.Stream({ stream: options.stream })
    : new winston.transports.Console();
  return new GuardedLogger(winston.createLogger({ level: cfg.level, format: pipeline(format), transports: [transport] }), cfg.level);
}

const LEVEL_RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3, silly: 4 };

/**
 * Winston runs its whole format pipeline (redaction, timestamps) before a transport drops a
 * line below its level; on the SIP hot path that cost shows. This wrapper drops such lines
 * first, and tells the stack whether debug lines are wanted at all.
 */
class GuardedLogger implements Logger {
  readonly #w: winston.Logger;
  readonly #rank: number;

  constructor(w: winston.Logger, level: LogLevel) {
    this.#w = w;
    this.#rank = LEVEL_RANK[level];
  }

  error(message: string, meta?: LogMeta): void {
    this.#w.error(message, meta);
  }

  warn(message: string, meta?: LogMeta): void {
    if (this.#rank >= 1) this.#w.warn(message, meta);
  }

  info(message: string, meta?: LogMeta): void {
    if (this.#rank >= 2) this.#w.info(message, meta);
  }

  debug(message: string, meta?: LogMeta): void {
    if (this.#rank >= 3) this.#w.debug(message, meta);
  }

  isDebugEnabled(): boolean {
    return this.#rank >= 3;
  }

  child(meta: LogMeta): Logger {
    return new GuardedLogger(this.#w.child(meta), (Object.keys(LEVEL_RANK) as LogLevel[])[this.#rank]);
  }
}

export interface TestLogger extends Logger {
  /** Every record written so far (after redaction), parsed from its JSON line. */
  readonly records: LogMeta[];
}

/** A logger that writes nothing and keeps every record in `records`, for tests. */
export function createTestLogger(level: LogLevel = 'silly'): TestLogger {
  const records: LogMeta[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split(EOL)) if (line.trim() !== '') records.push(JSON.parse(line));
      done();
    },
  });
  const logger = createLogger({ level, format: 'json' }, { stream });
  return Object.assign(logger, { records });
}
