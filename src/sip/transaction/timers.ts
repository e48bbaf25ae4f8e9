/**
 * One timer structure for every transaction and dialog timer: a binary min-heap of deadlines
 * served by a single Node timeout. Cancelling marks the entry dead (lazy deletion) so no
 * closure or Timeout object is made per retransmission.
 */

export interface TimerTarget {
  /** Called when a timer of this target fires; `name` is the RFC letter ('A', 'B', ...). */
  onTimer(name: string): void;
}

/**
 * Time and one-shot timers, as the heap needs them. The real one is the process clock; tests
 * drive a manual one (test/helpers/clock.ts) so every RFC timer fires when they say.
 */
export interface TimerClock {
  /** Milliseconds on a monotonic scale. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The process clock; its timeouts do not keep the process alive (the owner closes them). */
export const systemClock: TimerClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export class TimerEntry {
  at: number;
  target: TimerTarget | null;
  name: string;
  constructor(at: number, target: TimerTarget, name: string) {
    this.at = at;
    this.target = target;
    this.name = name;
  }
  cancel(): void {
    this.target = null;
  }
}

export class TimerHeap {
  #heap: TimerEntry[] = [];
  #timeout: unknown;
  #armedAt = Infinity;
  #closed = false;
  readonly #clock: TimerClock;

  constructor(clock: TimerClock = systemClock) {
    this.#clock = clock;
  }

  now(): number {
    return this.#clock.now();
  }

  get size(): number {
    return this.#heap.length;
  }

  /** Schedules `target.onTimer(name)` after `ms`. */
  schedule(target: TimerTarget, name: string, ms: number): TimerEntry {
    const e = new TimerEntry(this.now() + ms, target, name);
    const h = this.#heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p].at <= e.at) break;
      h[i] = h[p];
      i = p;
    }
    h[i] = e;
    if (e.at < this.#armedAt) this.#arm();
    return e;
  }

  #pop(): TimerEntry {
    const h = this.#heap;
    const top = h[0];
    const last = h.pop()!;
    if (h.length) {
      let i = 0;
      const n = h.length;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && h[r].at < h[l].at ? r : l;
        if (h[c].at >= last.at) break;
        h[i] = h[c];
        i = c;
      }
      h[i] = last;
    }
    return top;
  }

  #arm(): void {
    if (this.#closed) return;
    // Drop cancelled entries at the top so an idle stack does not wake for nothing.
    while (this.#heap.length && this.#heap[0].target === null) this.#pop();
    if (this.#timeout !== undefined) this.#clock.clearTimeout(this.#timeout);
    this.#timeout = undefined;
    if (!this.#heap.length) {
      this.#armedAt = Infinity;
      return;
    }
    const at = this.#heap[0].at;
    this.#armedAt = at;
    this.#timeout = this.#clock.setTimeout(() => this.#run(), Math.max(0, at - this.now()));
  }

  #run(): void {
    this.#timeout = undefined;
    this.#armedAt = Infinity;
    const now = this.now() + 1; // fire entries due within the timer's granularity
    while (this.#heap.length && this.#heap[0].at <= now) {
      const e = this.#pop();
      const t = e.target;
      if (t) {
        e.target = null;
        try {
          t.onTimer(e.name);
        } catch (err) {
          queueMicrotask(() => {
            throw err;
          });
        }
      }
    }
    this.#arm();
  }

  close(): void {
    this.#closed = true;
    if (this.#timeout !== undefined) this.#clock.clearTimeout(this.#timeout);
    this.#timeout = undefined;
    this.#heap.length = 0;
  }
}
