/**
 * A bounded map whose entries expire a fixed time after they were last written. Writes move an
 * entry to the end of the insertion order, so the order is also the order of expiry: expired
 * entries are swept from the head a few at a time on each write (O(1) amortised, never a scan of
 * the whole table), and when the map is full the entry written longest ago makes room.
 * Attackers choose the keys (user names, addresses), so nothing here may grow or slow with them.
 */
export interface TtlMapOptions {
  /** How long an entry lives after its last write (ms). */
  ttlMs: number;
  /** Entries kept at most; the oldest written goes first. */
  max: number;
  now?: () => number;
}

interface Slot<V> {
  value: V;
  expiresAt: number;
}

/** Expired entries removed per write, at most: two per write keeps the table from growing stale. */
const SWEEP_PER_WRITE = 2;

export class TtlMap<V> {
  readonly ttlMs: number;
  readonly max: number;
  readonly #now: () => number;
  readonly #m = new Map<string, Slot<V>>();
  /** Entries pushed out while still live because the map was full (a flood of keys). */
  evicted = 0;

  constructor(opts: TtlMapOptions) {
    if (opts === null || typeof opts !== 'object') throw new TypeError('opts: object');
    if (!(Number.isFinite(opts.ttlMs) && opts.ttlMs > 0)) throw new TypeError('ttlMs: positive number');
    if (!Number.isInteger(opts.max) || opts.max < 1) throw new TypeError('max: positive integer');
    this.ttlMs = opts.ttlMs;
    this.max = opts.max;
    this.#now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.#m.size;
  }

  /** The live value under `key`, or undefined. */
  get(key: string): V | undefined {
    const s = this.#m.get(key);
    if (s === undefined) return undefined;
    if (s.expiresAt <= this.#now()) {
      this.#m.delete(key);
      return undefined;
    }
    return s.value;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** Stores `value`; its life starts again now. */
  set(key: string, value: V): void {
    const now = this.#now();
    this.#m.delete(key);
    this.#sweep(now);
    if (this.#m.size >= this.max) {
      const oldest = this.#m.keys().next().value as string;
      this.#m.delete(oldest);
      this.evicted++;
    }
    this.#m.set(key, { value, expiresAt: now + this.ttlMs });
  }

  delete(key: string): boolean {
    return this.#m.delete(key);
  }

  clear(): void {
    this.#m.clear();
  }

  #sweep(now: number): void {
    let n = 0;
    for (const [k, s] of this.#m) {
      if (s.expiresAt > now || n++ >= SWEEP_PER_WRITE) return;
      this.#m.delete(k);
    }
  }
}
