/**
 * A manual clock for unit tests (a test double): time moves only when the test says, and every
 * timer due by then fires in order, so RFC timers and call timers are checked exactly, without
 * sleeping. It fits the SIP stack's TimerClock and the call core's Clock.
 *
 *   const clock = new ManualClock();
 *   const stack = new SipStack({ ..., clock });
 *   clock.advance(500);            // Timer A fires once
 */
interface Pending {
  at: number;
  seq: number;
  fn: () => void;
}

export class ManualClock {
  #now: number;
  #seq = 0;
  readonly #pending = new Map<number, Pending>();

  /** `start`: the wall-clock time the test begins at (ms since the epoch). */
  constructor(start = Date.parse('2026-11-25T10:00:00Z')) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): number {
    const seq = ++this.#seq;
    this.#pending.set(seq, { at: this.#now + Math.max(0, ms), seq, fn });
    return seq;
  }

  clearTimeout(handle: unknown): void {
    this.#pending.delete(handle as number);
  }

  /** Timers not fired or cleared yet. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Moves time on by `ms`, firing every timer due on the way (also those set while firing). */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let next: Pending | undefined;
      for (const p of this.#pending.values()) if (p.at <= end && (!next || p.at < next.at || (p.at === next.at && p.seq < next.seq))) next = p;
      if (!next) break;
      this.#pending.delete(next.seq);
      this.#now = Math.max(this.#now, next.at);
      next.fn();
    }
    this.#now = end;
  }
}
