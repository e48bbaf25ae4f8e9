/**
 * Alarms: conditions an operator must see (a trunk down, lockouts, disk low, channel limits
 * hit). A part of the node raises an alarm by code (and a key when one code can be raised for
 * several things, such as one alarm per trunk) and clears it when the condition ends. Raising an
 * alarm that is already up only counts it again, so a flapping condition shows as one alarm with
 * a count, not a flood. The list is what the status API, the console and /metrics show.
 */
import { EventEmitter } from 'node:events';

export const ALARM_SEVERITIES = ['critical', 'major', 'minor', 'warning'] as const;
export type AlarmSeverity = (typeof ALARM_SEVERITIES)[number];

export interface Alarm {
  /** What kind of condition, e.g. 'trunk-down', 'disk-low', 'channels-exhausted'. */
  readonly code: string;
  /** Which thing it is about (a trunk's name, a folder); '' when the code is node-wide. */
  readonly key: string;
  readonly severity: AlarmSeverity;
  /** For a person: what is wrong and, where it helps, what to do. */
  readonly message: string;
  /** When it was first raised (this time round). */
  readonly raisedAt: Date;
  /** When it was last raised again. */
  readonly lastAt: Date;
  /** How often it was raised while up. */
  readonly count: number;
}

export interface RaiseOptions {
  key?: string;
  severity: AlarmSeverity;
  message: string;
}

export interface AlarmEvents {
  raised: [Alarm];
  cleared: [Alarm];
}

const CODE = /^[a-z][a-z0-9-]{0,63}$/;

/** Alarms up at once are bounded: a flood of keys (one per source address) cannot grow memory. */
const MAX_ALARMS = 1000;

export class Alarms extends EventEmitter<AlarmEvents> {
  readonly #up = new Map<string, Alarm>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    super();
    this.#now = now;
  }

  /** Raises (or counts again) the alarm `code`/`key`; returns it. */
  raise(code: string, o: RaiseOptions): Alarm {
    if (typeof code !== 'string' || !CODE.test(code)) throw new TypeError('code: must be a lower-case name (letters, digits, -)');
    if (!o || typeof o !== 'object') throw new TypeError('options: object expected');
    if (!ALARM_SEVERITIES.includes(o.severity)) throw new TypeError(`options.severity: must be one of ${ALARM_SEVERITIES.join(', ')}`);
    if (typeof o.message !== 'string' || o.message === '') throw new TypeError('options.message: must be a non-empty string');
    const key = o.key ?? '';
    if (typeof key !== 'string' || key.length > 200) throw new TypeError('options.key: must be a string of at most 200 characters');
    const id = `${code}\u0000${key}`;
    const at = new Date(this.#now());
    const was = this.#up.get(id);
    if (was) {
      const again: Alarm = { ...was, severity: o.severity, message: o.message, lastAt: at, count: was.count + 1 };
      this.#up.set(id, again);
      return again;
    }
    if (this.#up.size >= MAX_ALARMS) {
      // keep the newest: the oldest alarm of the same code gives way first
      const oldest = [...this.#up.entries()].find(([, a]) => a.code === code) ?? this.#up.entries().next().value!;
      this.#up.delete(oldest[0]);
    }
    const alarm: Alarm = { code, key, severity: o.severity, message: o.message, raisedAt: at, lastAt: at, count: 1 };
    this.#up.set(id, alarm);
    this.emit('raised', alarm);
    return alarm;
  }

  /** Clears the alarm `code`/`key` (every key of `code` when key is undefined); false when none was up. */
  clear(code: string, key?: string): boolean {
    let any = false;
    for (const [id, a] of this.#up) {
      if (a.code !== code || (key !== undefined && a.key !== key)) continue;
      this.#up.delete(id);
      this.emit('cleared', a);
      any = true;
    }
    return any;
  }

  /** Whether `code` (with `key`, or any key) is up. */
  isUp(code: string, key?: string): boolean {
    for (const a of this.#up.values()) if (a.code === code && (key === undefined || a.key === key)) return true;
    return false;
  }

  /** Every alarm up, most severe first, then oldest first. */
  list(): Alarm[] {
    const rank = (s: AlarmSeverity) => ALARM_SEVERITIES.indexOf(s);
    return [...this.#up.values()].sort((a, b) => rank(a.severity) - rank(b.severity) || a.raisedAt.getTime() - b.raisedAt.getTime());
  }

  get size(): number {
    return this.#up.size;
  }
}
