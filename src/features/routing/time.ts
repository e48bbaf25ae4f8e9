/**
 * Time profiles in the dial plan's time zone. Local time comes from Intl.DateTimeFormat, which
 * is slow (microseconds per call), and routing asks many times a second: the local time and each
 * profile's answer are cached per minute, the finest granularity a profile can express.
 */
import type { TimeProfileConfig } from '../../core/config/dialplan-schema.js';

const DAY = 1440;
const WEEKDAY_INDEX: Record<string, number> = { mon: 0, tue: 1, wed: 2, thu: 3, fri: 4, sat: 5, sun: 6 };

/** [from, to) in minutes of one local day. */
type Interval = readonly [number, number];

interface LocalTime {
  /** Minutes since the epoch (UTC): the cache key. */
  epochMinute: number;
  weekday: number;
  date: string;
  minute: number;
}

interface CompiledProfile {
  /** Per weekday (0 = Monday), the intervals holding on that day, spans past midnight split. */
  weekly: Interval[][];
  dates: Map<string, Interval[]>;
  cacheMinute: number;
  cacheActive: boolean;
}

function minutes(hhmm: string): number {
  return Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
}

function nextDate(date: string): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
}

/** Splits [from, to) into same-day pieces: equal ends mean the whole day, from > to crosses midnight. */
function pieces(from: number, to: number): { today: Interval; tomorrow: Interval | undefined } {
  if (from === to) return { today: [0, DAY], tomorrow: undefined };
  if (from < to) return { today: [from, to], tomorrow: undefined };
  return { today: [from, DAY], tomorrow: to > 0 ? [0, to] : undefined };
}

function compile(p: TimeProfileConfig): CompiledProfile {
  const weekly: Interval[][] = Array.from({ length: 7 }, () => []);
  for (const w of p.weekly) {
    const { today, tomorrow } = pieces(minutes(w.from), minutes(w.to));
    for (const day of w.days) {
      const i = WEEKDAY_INDEX[day]!;
      weekly[i]!.push(today);
      if (tomorrow) weekly[(i + 1) % 7]!.push(tomorrow);
    }
  }
  const dates = new Map<string, Interval[]>();
  const add = (date: string, iv: Interval) => {
    const list = dates.get(date);
    if (list) list.push(iv);
    else dates.set(date, [iv]);
  };
  for (const d of p.dates) {
    const from = d.from === undefined ? 0 : minutes(d.from);
    const to = d.to === undefined ? DAY : minutes(d.to);
    const { today, tomorrow } = pieces(from, to);
    add(d.date, today);
    if (tomorrow) add(nextDate(d.date), tomorrow);
  }
  return { weekly, dates, cacheMinute: Number.NaN, cacheActive: false };
}

function within(list: readonly Interval[] | undefined, minute: number): boolean {
  if (list === undefined) return false;
  for (const [from, to] of list) if (minute >= from && minute < to) return true;
  return false;
}

export class TimeProfiles {
  readonly #profiles = new Map<string, CompiledProfile>();
  readonly #format: Intl.DateTimeFormat | undefined;
  #local: LocalTime = { epochMinute: Number.NaN, weekday: 0, date: '', minute: 0 };

  constructor(timeZone: string, profiles: readonly TimeProfileConfig[]) {
    // UTC needs no formatter: the Date getters give it directly and far faster.
    this.#format =
      timeZone === 'UTC'
        ? undefined
        : new Intl.DateTimeFormat('en-US', {
            timeZone,
            hourCycle: 'h23',
            weekday: 'short',
            year: 'numeric',
            month: '2-digit',
            day: '2-digit',
            hour: '2-digit',
            minute: '2-digit',
          });
    for (const p of profiles) this.#profiles.set(p.name, compile(p));
  }

  has(name: string): boolean {
    return this.#profiles.has(name);
  }

  /** Whether the profile holds at `at`; undefined for an unknown profile. */
  active(name: string, at: Date): boolean | undefined {
    const p = this.#profiles.get(name);
    if (p === undefined) return undefined;
    const epochMinute = Math.floor(at.getTime() / 60_000);
    if (p.cacheMinute === epochMinute) return p.cacheActive;
    const t = this.local(at, epochMinute);
    const active = within(p.weekly[t.weekday], t.minute) || within(p.dates.get(t.date), t.minute);
    p.cacheMinute = epochMinute;
    p.cacheActive = active;
    return active;
  }

  /** Local weekday, date and minute of the day (for traces too). */
  local(at: Date, epochMinute = Math.floor(at.getTime() / 60_000)): LocalTime {
    if (this.#local.epochMinute === epochMinute) return this.#local;
    let local: LocalTime;
    if (this.#format === undefined) {
      const iso = at.toISOString();
      local = { epochMinute, weekday: (at.getUTCDay() + 6) % 7, date: iso.slice(0, 10), minute: at.getUTCHours() * 60 + at.getUTCMinutes() };
    } else {
      const parts: Record<string, string> = {};
      for (const part of this.#format.formatToParts(at)) parts[part.type] = part.value;
      const weekday = WEEKDAY_INDEX[parts.weekday!.toLowerCase().slice(0, 3)] ?? 0;
      local = {
        epochMinute,
        weekday,
        date: `${parts.year}-${parts.month}-${parts.day}`,
        minute: Number(parts.hour) * 60 + Number(parts.minute),
      };
    }
    this.#local = local;
    return local;
  }
}

export function describeLocal(t: { weekday: number; date: string; minute: number }): string {
  const day = Object.keys(WEEKDAY_INDEX)[t.weekday];
  const hh = String(Math.floor(t.minute / 60)).padStart(2, '0');
  const mm = String(t.minute % 60).padStart(2, '0');
  return `${day} ${t.date} ${hh}:${mm}`;
}
