/**
 * Alarms: conditions an operator must see (a trunk down, a user or mailbox locked out, the disk
 * full or low, a limit reached). A part of the node raises an alarm by code (and a key when one
 * code can be raised for several things: a trunk, an address, a mailbox) and clears it when the
 * condition ends, or gives it a time to live when it ends by itself (a lockout). Raising an
 * alarm that is up already only counts it again, so a flapping condition or a flood shows as one
 * alarm with a count, and one `alarm:` log line, not one per event. The list is what the status
 * API, the console and /metrics show.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from './logger.js';

export const ALARM_SEVERITIES = ['critical', 'major', 'minor', 'warning'] as const;
export type AlarmSeverity = (typeof ALARM_SEVERITIES)[number];

export interface Alarm {
  /** What kind of condition, e.g. 'trunk-down', 'auth.lockout', 'store.write-failed'. */
  readonly code: string;
  /** Which thing it is about (a trunk's name, an address, a mailbox); '' when the code is node-wide. */
  readonly key: string;
  readonly severity: AlarmSeverity;
  /** For a person: what is wrong and, where it helps, what to do. */
  readonly message: string;
  /** Structured facts for the log and the API (never secrets). */
  readonly details: Readonly<Record<string, unknown>>;
  /** When it was first raised (this time round). */
  readonly raisedAt: Date;
  /** When it was last raised again. */
  readonly lastAt: Date;
  /** How often it was raised while up. */
  readonly count: number;
  /** It clears itself when not raised again by then (ms since the epoch); undefined: cleared by clear(). */
  readonly expiresAt: number | undefined;
}

export interface RaiseOptions {
  key?: string;
  severity: AlarmSeverity;
  message: string;
  details?: Record<string, unknown>;
  /** Clears itself this long after the last raise (a lockout that ends by itself). */
  ttlMs?: number;
}

export interface AlarmsOptions {
  /** Each raise and clear is one `alarm:` line here; none: not logged. */
  logger?: Logger;
  /** Alarms up at once (default 1000): a flood of keys (one per source address) cannot grow memory. */
  max?: number;
  now?: () => number;
}

export interface AlarmEvents {
  raised: [Alarm];
  cleared: [Alarm];
}

/** Lower-case names; a dot groups the codes of one part ('auth.lockout', 'sip.connections-full'). */
const CODE = /^[a-z][a-z0-9.-]{0,63}$/;

export class Alarms extends EventEmitter<AlarmEvents> {
  /** `${code}\0${key}` -> alarm; insertion order is the order raised. */
  readonly #up = new Map<string, Alarm>();
  readonly #log: Logger | undefined;
  readonly #max: number;
  readonly #now: () => number;
  #sweptAt = -Infinity;

  constructor(opts: AlarmsOptions = {}) {
    super();
    if (opts === null || typeof opts !== 'object') throw new TypeError('opts: must be an object');
    if (opts.logger !== undefined && typeof opts.logger?.warn !== 'function') throw new TypeError('opts.logger: must be a Logger');
    const max = opts.max ?? 1000;
    if (!Number.isInteger(max) || max < 1) throw new TypeError('opts.max: must be a positive integer');
    if (opts.now !== undefined && typeof opts.now !== 'function') throw new TypeError('opts.now: must be a function');
    this.#log = opts.logger;
    this.#max = max;
    this.#now = opts.now ?? Date.now;
  }

  /** Raises (or counts again) the alarm `code`/`key`; returns it. */
  raise(code: string, o: RaiseOptions): Alarm {
    if (typeof code !== 'string' || !CODE.test(code)) throw new TypeError('code: must be a lower-case name (letters, digits, - and .)');
    if (!o || typeof o !== 'object') throw new TypeError('options: object expected');
    if (!ALARM_SEVERITIES.includes(o.severity)) throw new TypeError(`options.severity: must be one of ${ALARM_SEVERITIES.join(', ')}`);
    if (typeof o.message !== 'string' || o.message === '') throw new TypeError('options.message: must be a non-empty string');
    const key = o.key ?? '';
    if (typeof key !== 'string' || key.length > 200) throw new TypeError('options.key: must be a string of at most 200 characters');
    if (o.details !== undefined && (o.details === null || typeof o.details !== 'object')) throw new TypeError('options.details: must be an object');
    if (o.ttlMs !== undefined && !(Number.isFinite(o.ttlMs) && o.ttlMs > 0)) throw new TypeError('options.ttlMs: must be a positive number');
    this.#expire(false);
    const now = this.#now();
    const at = new Date(now);
    const expiresAt = o.ttlMs === undefined ? undefined : now + o.ttlMs;
    const id = `${code}\u0000${key}`;
    const was = this.#up.get(id);
    if (was) {
      const again: Alarm = {
        ...was, severity: o.severity, message: o.message, details: { ...(o.details ?? was.details) }, lastAt: at, count: was.count + 1, expiresAt,
      };
      this.#up.set(id, again);
      return again;
    }
    if (this.#up.size >= this.#max) this.#dropOne(code);
    const alarm: Alarm = { code, key, severity: o.severity, message: o.message, details: { ...(o.details ?? {}) }, raisedAt: at, lastAt: at, count: 1, expiresAt };
    this.#up.set(id, alarm);
    const line = `alarm: ${code} raised (${alarm.severity}): ${alarm.message}`;
    const meta = { alarm: code, key: key || undefined, severity: alarm.severity, ...alarm.details };
    if (alarm.severity === 'critical' || alarm.severity === 'major') this.#log?.error(line, meta);
    else this.#log?.warn(line, meta);
    this.emit('raised', alarm);
    return alarm;
  }

  /** Clears the alarm `code`/`key` (every key of `code` when key is undefined); false when none was up. */
  clear(code: string, key?: string): boolean {
    let any = false;
    for (const [id, a] of this.#up) {
      if (a.code !== code || (key !== undefined && a.key !== key)) continue;
      this.#up.delete(id);
      this.#log?.info(`alarm: ${code} cleared: ${a.message}`, { alarm: code, key: a.key || undefined, count: a.count });
      this.emit('cleared', a);
      any = true;
    }
    return any;
  }

  /** Whether `code` (with `key`, or any key) is up. */
  isUp(code: string, key?: string): boolean {
    this.#expire();
    if (key !== undefined) return this.#up.has(`${code}\u0000${key}`);
    for (const a of this.#up.values()) if (a.code === code) return true;
    return false;
  }

  /** Every alarm up (of `code` only, when given), most severe first, then oldest first. */
  list(code?: string): Alarm[] {
    this.#expire();
    const rank = (s: AlarmSeverity) => ALARM_SEVERITIES.indexOf(s);
    const all = [...this.#up.values()].filter((a) => code === undefined || a.code === code);
    return all.sort((a, b) => rank(a.severity) - rank(b.severity) || a.raisedAt.getTime() - b.raisedAt.getTime());
  }

  get size(): number {
    this.#expire();
    return this.#up.size;
  }

  /** Full: the oldest alarm of the same code gives way first (keeps the newest), else the oldest of all. */
  #dropOne(code: string): void {
    let victim: [string, Alarm] | undefined;
    for (const e of this.#up) {
      if (e[1].code === code) {
        victim = e;
        break;
      }
    }
    victim ??= this.#up.entries().next().value!;
    this.#up.delete(victim[0]);
    this.#log?.warn(`alarm: ${victim[1].code} dropped (more than ${this.#max} alarms up)`, { alarm: victim[1].code, key: victim[1].key || undefined });
  }

  /** Clears the alarms whose time is up (looked at whenever the list is read or changed). */
  #expire(force = true): void {
    const now = this.#now();
    // raise() sweeps at most once a second: it runs on attack paths, and the list holds up to `max` alarms
    if (!force && now - this.#sweptAt < 1000 && now >= this.#sweptAt) return;
    this.#sweptAt = now;
    for (const a of [...this.#up.values()]) {
      if (a.expiresAt !== undefined && a.expiresAt <= now) this.clear(a.code, a.key);
    }
  }
}
