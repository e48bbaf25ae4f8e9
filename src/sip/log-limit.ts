/**
 * A budget of log lines for one kind of event that an attacker can repeat at will (malformed
 * packets, failed logins, refused connections): at most `max` lines per interval, and the first
 * line after a quiet spell says how many were left out. A flood then costs a few lines a
 * minute, not one line per packet, so it cannot fill the disk through the log.
 */
export class LogLimit {
  readonly #max: number;
  readonly #intervalMs: number;
  readonly #now: () => number;
  #start = -Infinity;
  #used = 0;
  #dropped = 0;

  constructor(max = 20, intervalMs = 10_000, now: () => number = Date.now) {
    if (!Number.isInteger(max) || max < 1) throw new TypeError('max: positive integer');
    if (!(Number.isFinite(intervalMs) && intervalMs > 0)) throw new TypeError('intervalMs: positive number');
    this.#max = max;
    this.#intervalMs = intervalMs;
    this.#now = now;
  }

  /** Lines left out so far in this interval. */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * Whether to write this line: undefined to leave it out, else how many lines were left out
   * before it (0 mostly), for the line to mention.
   */
  take(): number | undefined {
    const now = this.#now();
    if (now - this.#start >= this.#intervalMs || now < this.#start) {
      this.#start = now;
      this.#used = 0;
    }
    if (this.#used >= this.#max) {
      this.#dropped++;
      return undefined;
    }
    this.#used++;
    const d = this.#dropped;
    this.#dropped = 0;
    return d;
  }
}
