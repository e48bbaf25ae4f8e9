/**
 * A hunt group's queue of waiting callers: first in, first out, with an optional length limit.
 * It holds call IDs only; the B2BUA keeps the calls (music, announcements) and asks the queue
 * who is next when a member becomes free. Queues are short (a few callers; the limit is at
 * most 10000), so a plain array beats anything cleverer.
 */
import type { EnqueueResult } from './types.js';

export interface HuntQueueOptions {
  /** false: every enqueue is refused with 'off'. */
  enabled: boolean;
  /** Callers at once; null: no limit. */
  maxLength: number | null;
}

function checkCallId(callId: unknown): string {
  if (typeof callId !== 'string' || callId === '') throw new TypeError('callId: must be a non-empty string');
  return callId;
}

export class HuntQueue {
  #enabled: boolean;
  #max: number;
  readonly #ids: string[] = [];

  constructor(opts: HuntQueueOptions) {
    if (typeof opts !== 'object' || opts === null) throw new TypeError('opts: must be an object');
    if (typeof opts.enabled !== 'boolean') throw new TypeError('opts.enabled: must be a boolean');
    if (opts.maxLength !== null && !(Number.isInteger(opts.maxLength) && opts.maxLength >= 1)) {
      throw new TypeError('opts.maxLength: must be an integer >= 1 or null');
    }
    this.#enabled = opts.enabled;
    this.#max = opts.maxLength ?? Infinity;
  }

  /** New limits (a configuration change): callers already queued keep their places, even beyond a lower limit. */
  setLimits(opts: HuntQueueOptions): void {
    const checked = new HuntQueue(opts);
    this.#enabled = checked.#enabled;
    this.#max = checked.#max;
  }

  /** Adds a caller at the end; a caller already queued keeps its place. Position 1 is next. */
  enqueue(callId: string): EnqueueResult {
    checkCallId(callId);
    const at = this.#ids.indexOf(callId);
    if (at >= 0) return { position: at + 1 };
    if (!this.#enabled) return { refused: 'off' };
    if (this.#ids.length >= this.#max) return { refused: 'full' };
    this.#ids.push(callId);
    return { position: this.#ids.length };
  }

  /** Removes a caller (answered elsewhere, hung up, overflowed); false when not queued. */
  dequeue(callId: string): boolean {
    checkCallId(callId);
    const at = this.#ids.indexOf(callId);
    if (at < 0) return false;
    this.#ids.splice(at, 1);
    return true;
  }

  /** 1 for the caller next in line; undefined when not queued. */
  position(callId: string): number | undefined {
    checkCallId(callId);
    const at = this.#ids.indexOf(callId);
    return at < 0 ? undefined : at + 1;
  }

  /** The caller next in line, without removing it. */
  peek(): string | undefined {
    return this.#ids[0];
  }

  /** Removes and returns the caller next in line. */
  next(): string | undefined {
    return this.#ids.shift();
  }

  get length(): number {
    return this.#ids.length;
  }

  /** The queued call IDs, next first (a copy). */
  list(): string[] {
    return [...this.#ids];
  }

  /** Empties the queue, returning who was in it (next first). */
  clear(): string[] {
    return this.#ids.splice(0);
  }
}
