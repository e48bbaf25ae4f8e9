import type { Store } from '../../core/store.js';

/** Where a binding's requests go: the contact, reached over its flow or through its Path. */
export interface Binding {
  /** The extension (address-of-record user). */
  aor: string;
  /** Contact URI as registered. */
  contact: string;
  /** Key unique per AOR: `instance|reg-id` for RFC 5626 clients, else the contact URI. */
  key: string;
  callId: string;
  cseq: number;
  /** ms since the epoch. */
  expiresAt: number;
  q: number;
  instanceId?: string;
  regId?: number;
  /** Path header values (RFC 3327), in order. */
  path: string[];
  /** Where the REGISTER came from: replies and requests go back there (RFC 5626 flow). */
  source: { protocol: string; address: string; port: number; flowId?: string };
  /** The port the REGISTER's top Via named (its sender's own idea of its port): NAT detection. */
  viaPort?: number;
  userAgent?: string;
}

/** How soon changes that could not be written are tried again (ms). */
const RETRY_MS = 5000;

const MIGRATIONS = [
  `CREATE TABLE bindings (
     aor TEXT NOT NULL, key TEXT NOT NULL, contact TEXT NOT NULL, call_id TEXT NOT NULL,
     cseq INTEGER NOT NULL, expires_at INTEGER NOT NULL, q REAL NOT NULL, data TEXT NOT NULL,
     PRIMARY KEY (aor, key))`,
  'CREATE INDEX bindings_expiry ON bindings (expires_at)',
];

/**
 * The location service: bindings in memory for lookups, written through to SQLite so a restart
 * keeps them. Writes are batched per event-loop turn into one transaction; expiry runs on a
 * one-second sweep.
 */
export class LocationStore {
  readonly #byAor = new Map<string, Map<string, Binding>>();
  readonly #store: Store | undefined;
  readonly #pending = new Map<string, Binding | null>();
  #flushScheduled = false;
  #sweep: NodeJS.Timeout | undefined;
  #upsert;
  #delete;
  #count = 0;
  /** Called when a binding expires or its flow dies. */
  onRemoved: ((b: Binding, why: 'expired' | 'flow') => void) | undefined;
  /** Called when an address of record gains its first binding or loses its last (presence). */
  onPresence: ((aor: string, registered: boolean) => void) | undefined;
  readonly #now: () => number;

  constructor(store: Store | undefined, now: () => number = Date.now) {
    this.#store = store;
    this.#now = now;
    if (store) {
      store.migrate('registrar', MIGRATIONS);
      this.#upsert = store.prepare(
        'INSERT OR REPLACE INTO bindings (aor, key, contact, call_id, cseq, expires_at, q, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      );
      this.#delete = store.prepare('DELETE FROM bindings WHERE aor = ? AND key = ?');
      try {
        store.prepare('DELETE FROM bindings WHERE expires_at <= ?').run(now());
      } catch {
        // a full disk at start: the expired rows are skipped below and removed later
      }
      for (const row of store.prepare('SELECT data FROM bindings').all() as { data: string }[]) {
        const b = JSON.parse(row.data) as Binding;
        // A flow does not survive a restart; the client reconnects and re-registers.
        if (b.source.flowId !== undefined) delete b.source.flowId;
        if (b.expiresAt > now()) this.#put(b);
      }
    }
    this.#sweep = setInterval(() => this.expire(), 1000);
    this.#sweep.unref();
  }

  /** Number of bindings held. */
  get size(): number {
    return this.#count;
  }

  /** Number of extensions with at least one binding. */
  get aorCount(): number {
    return this.#byAor.size;
  }

  /** The extensions with at least one binding. */
  aors(): IterableIterator<string> {
    return this.#byAor.keys();
  }

  hasAor(aor: string): boolean {
    return this.#byAor.has(aor);
  }

  /** Current bindings of an extension, highest q first. */
  lookup(aor: string): Binding[] {
    const m = this.#byAor.get(aor);
    if (!m) return [];
    const now = this.#now();
    return [...m.values()].filter((b) => b.expiresAt > now).sort((a, b) => b.q - a.q);
  }

  get(aor: string, key: string): Binding | undefined {
    return this.#byAor.get(aor)?.get(key);
  }

  #put(b: Binding): void {
    let m = this.#byAor.get(b.aor);
    if (!m) this.#byAor.set(b.aor, (m = new Map()));
    if (!m.has(b.key)) this.#count++;
    m.set(b.key, b);
  }

  save(b: Binding): void {
    const had = this.#byAor.has(b.aor);
    this.#put(b);
    this.#queue(b.aor, b.key, b);
    if (!had) this.onPresence?.(b.aor, true);
  }

  remove(aor: string, key: string): Binding | undefined {
    const m = this.#byAor.get(aor);
    const b = m?.get(key);
    if (!m || !b) return undefined;
    m.delete(key);
    this.#count--;
    this.#queue(aor, key, null);
    if (!m.size) {
      this.#byAor.delete(aor);
      this.onPresence?.(aor, false);
    }
    return b;
  }

  #queue(aor: string, key: string, b: Binding | null): void {
    if (!this.#store) return;
    this.#pending.set(`${aor}\u0000${key}`, b);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /**
   * Writes queued changes in one transaction. When the store cannot take them (a full disk) the
   * bindings stay served from memory and the changes stay queued, retried every few seconds
   * until the disk has room again; a failed write never escapes (it runs from setImmediate,
   * where a throw would end the process).
   */
  flush(): void {
    this.#flushScheduled = false;
    if (!this.#store || !this.#pending.size) return;
    const items = [...this.#pending];
    this.#pending.clear();
    try {
      this.#store.transaction(() => {
        for (const [k, b] of items) {
          const [aor, key] = k.split('\u0000');
          if (b === null) this.#delete!.run(aor, key);
          else this.#upsert!.run(b.aor, b.key, b.contact, b.callId, b.cseq, b.expiresAt, b.q, JSON.stringify(b));
        }
      })();
      this.writeError = undefined;
    } catch (err) {
      // changes queued meanwhile are newer than these: keep those
      for (const [k, b] of items) if (!this.#pending.has(k)) this.#pending.set(k, b);
      this.writeError = err as Error;
      this.onWriteError?.(err as Error, this.#pending.size);
      this.#retry ??= setTimeout(() => {
        this.#retry = undefined;
        this.flush();
      }, RETRY_MS);
      this.#retry.unref();
    }
  }

  /** The last write failure while changes wait to be written; undefined once written. */
  writeError: Error | undefined;
  /** A flush failed; `waiting` changes are kept in memory for the next try. */
  onWriteError: ((err: Error, waiting: number) => void) | undefined;
  #retry: NodeJS.Timeout | undefined;

  /** Removes bindings whose time is up. */
  expire(): void {
    const now = this.#now();
    for (const [aor, m] of this.#byAor) {
      for (const [key, b] of m) {
        if (b.expiresAt <= now) {
          this.remove(aor, key);
          this.onRemoved?.(b, 'expired');
        }
      }
    }
  }

  /**
   * A connection closed. Bindings registered over it with RFC 5626 outbound (reg-id), and those
   * of WebSocket clients (nobody can connect back to a browser), cannot be reached any more and
   * go; other TCP/TLS bindings stay, reached later by connecting to their contact.
   */
  flowClosed(flowId: string): void {
    for (const [aor, m] of this.#byAor) {
      for (const [key, b] of m) {
        if (b.source.flowId !== flowId) continue;
        if (b.regId !== undefined || b.source.protocol === 'ws' || b.source.protocol === 'wss') {
          this.remove(aor, key);
          this.onRemoved?.(b, 'flow');
        } else {
          delete b.source.flowId;
          this.#queue(aor, key, b);
        }
      }
    }
  }

  close(): void {
    if (this.#sweep) clearInterval(this.#sweep);
    this.#sweep = undefined;
    clearTimeout(this.#retry);
    this.#retry = undefined;
    this.flush();
    clearTimeout(this.#retry);
    this.#retry = undefined;
  }
}
