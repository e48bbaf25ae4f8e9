/**
 * The timers of one owner (a call, the B2BUA), by name: setting a name again replaces its timer,
 * and `clearAll()` (at the owner's end) leaves nothing behind. The one place a call's timers
 * live: ring and no-answer time, a trunk's setup time, hunt steps, camp-on; session timers and
 * inactivity checks belong here too.
 */
import type { Clock } from '../../core/clock.js';

/** Runs a timer's work inside its owner's error boundary. */
export type Guard = (what: string, fn: () => void) => void;

export class CallTimers {
  readonly clock: Clock;
  readonly #guard: Guard;
  readonly #timers = new Map<string, unknown>();
  #seq = 0;
  #closed = false;

  /** `guard`: where a throwing timer's error goes (its call ends); default: thrown on. */
  constructor(clock: Clock, guard: Guard = (_what, fn) => fn()) {
    this.clock = clock;
    this.#guard = guard;
  }

  /** Runs `fn` after `ms` under `name`, replacing a timer of that name. Nothing after clearAll(). */
  set(name: string, ms: number, fn: () => void): void {
    this.clear(name);
    if (this.#closed) return;
    const handle = this.clock.setTimeout(() => {
      if (this.#timers.get(name) !== handle) return;
      this.#timers.delete(name);
      this.#guard(`timer ${name}`, fn);
    }, Math.max(0, ms));
    this.#timers.set(name, handle);
  }

  /** A timer with a name of its own (several of a kind, as lingering dialogs); returns the name. */
  add(prefix: string, ms: number, fn: () => void): string {
    const name = `${prefix}#${++this.#seq}`;
    this.set(name, ms, fn);
    return name;
  }

  clear(name: string): void {
    const h = this.#timers.get(name);
    if (h === undefined) return;
    this.clock.clearTimeout(h);
    this.#timers.delete(name);
  }

  has(name: string): boolean {
    return this.#timers.has(name);
  }

  get size(): number {
    return this.#timers.size;
  }

  /** Clears every timer; later set() calls do nothing (the owner has ended). */
  clearAll(): void {
    this.#closed = true;
    for (const h of this.#timers.values()) this.clock.clearTimeout(h);
    this.#timers.clear();
  }
}
