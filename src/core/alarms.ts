/**
 * Alarms: conditions an operator must know about (a user locked out, a mailbox locked, the disk
 * full, a limit reached). One list per node; raising an alarm that is up already counts it again
 * instead of logging it again, so a flood cannot fill the log with one line per event. Every
 * raise and clear is one `alarm:` log line; `list()` gives what is up now (the admin API reads it).
 */
import { EventEmitter } from 'node:events';
import type { Logger } from './logger.js';

export type AlarmSeverity = 'critical' | 'major' | 'minor' | 'warning';

const SEVERITIES: ReadonlySet<string> = new Set(['critical', 'major', 'minor', 'warning']);

export interface Alarm {
  /** Stable machine-readable code, e.g. `auth.lockout`, `store.write-failed`. */
  readonly code: string;
  /** Tells alarms of one code apart (a user, an address, a mailbox); '' when there is one of the code. */
  readonly key: string;
  readonly severity: AlarmSeverity;
  /** One line for a person. */
  readonly message: string;
  /** Structured facts (never secrets). */
  readonly details: Readonly<Record<string, unknown>>;
  readonly raisedAt: Date;
  /** The last time it was raised again. */
  readonly updatedAt: Date;
  /** How many times it was raised while up. */
  readonly count: number;
  /** It clears itself when not raised again by then (ms since the epoch); undefined: cleared by clear(). */
  readonly expiresAt: number | undefined;
}

export interface RaiseOptions {
  code: string;
  severity: AlarmSeverity;
  message: string;
  key?: string;
  details?: Record<string, unknown>;
  /** Clears itself this long after the last raise (a lockout that ends by itself). */
  ttlMs?: number;
}

export interface AlarmsOptions {
  logger: Logger;
  /** Alarms kept up at once; beyond it the oldest is dropped (a flood of keyed alarms stays bounded). Default 1000. */
  max?: number;
  now?: () => number;
}

export class Alarms extends EventEmitter<{ raise: [Alarm]; clear: [Alarm] }> {
  readonly #log: Logger;
  readonly #max: number;
  readonly #now: () => number;
  /** `${code}\0${key}` -> alarm; insertion order is the order raised. */
  readonly #up = new Map<string, Alarm>();
  #sweptAt = -Infinity;

  constructor(opts: AlarmsOptions) {
    super();
    if (opts === null || typeof opts !== 'object') throw new TypeError('opts: object');
    if (typeof opts.logger?.warn !== 'function') throw new TypeError('opts.logger: Logger');
    const max = opts.max ?? 1000;
    if (!Number.isInteger(max) || max < 1) throw new TypeError('opts.max: positive integer');
    this.#log = opts.logger;
    this.#max = max;
    this.#now = opts.now ?? Date.now;
  }

  /** Raises an alarm, or counts it again when it is up; returns it. */
  raise(o: RaiseOptions): Alarm {
    if (o === null || typeof o !== 'object') throw new TypeError('alarm: object');
    if (typeof o.code !== 'string' || o.code === '') throw new TypeError('alarm.code: non-empty string');
    if (!SEVERITIES.has(o.severity)) throw new TypeError('alarm.severity: critical | major | minor | warning');
    if (typeof o.message !== 'string') throw new TypeError('alarm.message: string');
    const key = o.key ?? '';
    if (typeof key !== 'string') throw new TypeError('alarm.key: string');
    if (o.ttlMs !== undefined && !(Number.isFinite(o.ttlMs) && o.ttlMs > 0)) throw new TypeError('alarm.ttlMs: positive number');
    this.#expire(false);
    const expiresAt = o.ttlMs === undefined ? undefined : this.#now() + o.ttlMs;
    const id = `${o.code}\u0000${key}`;
    const now = new Date(this.#now());
    const old = this.#up.get(id);
    if (old) {
      const again: Alarm = { ...old, message: o.message, details: { ...(o.details ?? old.details) }, updatedAt: now, count: old.count + 1, expiresAt };
      this.#up.set(id, again);
      return again;
    }
    if (this.#up.size >= this.#max) {
      const [oldest, dropped] = this.#up.entries().next().value as [string, Alarm];
      this.#up.delete(oldest);
      this.#log.warn(`alarm: ${dropped.code} dropped (more than ${this.#max} alarms up)`, { alarm: dropped.code, key: dropped.key });
    }
    const a: Alarm = { code: o.code, key, severity: o.severity, message: o.message, details: { ...(o.details ?? {}) }, raisedAt: now, updatedAt: now, count: 1, expiresAt };
    this.#up.set(id, a);
    const line = `alarm: ${a.code} raised (${a.severity}): ${a.message}`;
    const meta = { alarm: a.code, key: a.key || undefined, severity: a.severity, ...a.details };
    if (a.severity === 'critical' || a.severity === 'major') this.#log.error(line, meta);
    else this.#log.warn(line, meta);
    this.emit('raise', a);
    return a;
  }

  /** Clears an alarm; false when it was not up. */
  clear(code: string, key = ''): boolean {
    const id = `${code}\u0000${key}`;
    const a = this.#up.get(id);
    if (!a) return false;
    this.#up.delete(id);
    this.#log.info(`alarm: ${code} cleared: ${a.message}`, { alarm: code, key: key || undefined, count: a.count });
    this.emit('clear', a);
    return true;
  }

  isUp(code: string, key = ''): boolean {
    this.#expire();
    return this.#up.has(`${code}\u0000${key}`);
  }

  /** The alarms up now, oldest first; `code` narrows it to one code. */
  list(code?: string): Alarm[] {
    this.#expire();
    const all = [...this.#up.values()];
    return code === undefined ? all : all.filter((a) => a.code === code);
  }

  /** Clears the alarms whose time is up (looked at whenever the list is read or changed). */
  #expire(force = true): void {
    const now = this.#now();
    // raise() sweeps at most once a second: it runs on attack paths, and the list holds up to `max` alarms
    if (!force && now - this.#sweptAt < 1000 && now >= this.#sweptAt) return;
    this.#sweptAt = now;
    for (const a of this.#up.values()) {
      if (a.expiresAt !== undefined && a.expiresAt <= now) this.clear(a.code, a.key);
    }
  }
}
