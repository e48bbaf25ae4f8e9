/**
 * The one store of state that must survive a restart, on SQLite (better-sqlite3, synchronous:
 * each statement takes microseconds on local disk, cheaper than a promise round trip).
 * Features register their own tables through migrate(); nothing else opens the database.
 */
import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';

/** SQLite result codes that mean the disk (not the statement) failed: full, I/O, read-only. */
const DISK_CODES = /^SQLITE_(FULL|IOERR|READONLY|CANTOPEN|CORRUPT|NOTADB|PERM)/;

/** True for an error of the disk under the store (full, I/O error), as opposed to a bug in a statement. */
export function isDiskError(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && DISK_CODES.test(code);
}

export interface StoreEvents {
  /** A write failed for a disk reason while the store was healthy (logged and alarmed by the node). */
  failed: [err: Error];
  /** The first write that succeeded after failures. */
  recovered: [];
}

export interface StoreOptions {
  /** How long a statement waits for a lock held by another connection (ms). Default 5000. */
  busyTimeoutMs?: number;
}

/**
 * Every statement and transaction prepared here reports how its writes go: the first disk
 * failure emits 'failed', the first success after it 'recovered', so the node can raise and
 * clear one alarm whichever feature hit the full disk. The failure itself is still thrown to the
 * feature, which must answer for it (keep the change in memory and retry, or refuse it).
 */
export class Store extends EventEmitter<StoreEvents> {
  #db: Database.Database | undefined;
  readonly #path: string;
  #failing: Error | undefined;

  private constructor(db: Database.Database, path: string) {
    super();
    this.#db = db;
    this.#path = path;
  }

  /** The disk error of the last failed write while writes fail; undefined when they succeed. */
  get failing(): Error | undefined {
    return this.#failing;
  }

  #ok(): void {
    if (this.#failing === undefined) return;
    this.#failing = undefined;
    this.emit('recovered');
  }

  #failed(err: unknown): void {
    if (!isDiskError(err)) return;
    const first = this.#failing === undefined;
    this.#failing = err as Error;
    if (first && this.listenerCount('failed') > 0) this.emit('failed', err as Error);
  }

  /** Wraps `fn` so a disk failure or a success is reported, the error rethrown. */
  #watch<A extends unknown[], R>(fn: (...args: A) => R, writes: boolean): (...args: A) => R {
    return (...args: A): R => {
      let r: R;
      try {
        r = fn(...args);
      } catch (err) {
        this.#failed(err);
        throw err;
      }
      if (writes) this.#ok();
      return r;
    };
  }

  /**
   * Opens (creating it and its parent directories) the database at `path`; ':memory:' gives a
   * private in-memory database for unit tests. A relative path resolves against the working directory.
   */
  static open(path: string, options: StoreOptions = {}): Store {
    if (typeof path !== 'string' || path === '') throw new TypeError('path: must be a non-empty string');
    const busy = options.busyTimeoutMs ?? 5000;
    if (!Number.isInteger(busy) || busy < 0) throw new TypeError('options.busyTimeoutMs: must be an integer >= 0');
    const memory = path === ':memory:';
    const file = memory ? path : resolve(path);
    if (!memory) mkdirSync(dirname(file), { recursive: true });
    const db = new Database(file, { timeout: busy });
    try {
      // WAL: readers never block the writer and a commit is one sequential append.
      db.pragma('journal_mode = WAL');
      // NORMAL under WAL fsyncs at checkpoints, not at every commit: a crash of the process
      // loses nothing and the file never corrupts; only a power cut or OS crash may lose the last
      // few commits (a registration the phone refreshes anyway). FULL would put an fsync on the
      // path of every REGISTER.
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      db.exec(`CREATE TABLE IF NOT EXISTS schema_version (
                 feature TEXT PRIMARY KEY,
                 version INTEGER NOT NULL,
                 updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));
               CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);`);
    } catch (err) {
      db.close();
      throw err;
    }
    return new Store(db, file);
  }

  /** Absolute path of the database file, or ':memory:'. */
  get path(): string {
    return this.#path;
  }

  get closed(): boolean {
    return this.#db === undefined;
  }

  /** The open connection; throws once the store is closed. */
  get #conn(): Database.Database {
    if (!this.#db) throw new Error(`store ${this.#path}: closed`);
    return this.#db;
  }

  /**
   * Brings `feature`'s tables to the latest version: runs migrations[v..] where v is the
   * feature's recorded version, each in its own transaction with the version bump, so a failed
   * step leaves the previous version intact. Migrations are append-only: never edit a shipped
   * one, add the next. Returns the version now in force.
   */
  migrate(feature: string, migrations: readonly string[]): number {
    if (typeof feature !== 'string' || !/^[a-z][a-z0-9_-]*$/.test(feature)) {
      throw new TypeError('feature: must be a lower-case name (letters, digits, - or _)');
    }
    if (!Array.isArray(migrations) || migrations.some((m) => typeof m !== 'string' || m.trim() === '')) {
      throw new TypeError('migrations: must be an array of non-empty SQL strings');
    }
    const db = this.#conn;
    const current = this.version(feature);
    if (current > migrations.length) {
      throw new Error(
        `store ${this.#path}: ${feature} is at schema version ${current}, newer than this code knows (${migrations.length})`,
      );
    }
    const setVersion = db.prepare(
      `INSERT INTO schema_version (feature, version) VALUES (?, ?)
       ON CONFLICT (feature) DO UPDATE SET version = excluded.version,
         updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`,
    );
    for (let v = current; v < migrations.length; v++) {
      try {
        db.transaction(() => {
          db.exec(migrations[v]!);
          setVersion.run(feature, v + 1);
        })();
      } catch (err) {
        throw new Error(`store ${this.#path}: ${feature} migration ${v + 1} failed: ${(err as Error).message}`, {
          cause: err,
        });
      }
    }
    return migrations.length;
  }

  /** The schema version recorded for `feature` (0: never migrated). */
  version(feature: string): number {
    const row = this.#conn.prepare('SELECT version FROM schema_version WHERE feature = ?').get(feature) as
      | { version: number }
      | undefined;
    return row?.version ?? 0;
  }

  prepare<P extends unknown[] | {} = unknown[], R = unknown>(sql: string): Database.Statement<P, R> {
    const stmt = this.#conn.prepare<P, R>(sql);
    const writes = !stmt.readonly;
    // run() is the write path; get()/all() write too for INSERT ... RETURNING
    stmt.run = this.#watch(stmt.run.bind(stmt), writes) as typeof stmt.run;
    stmt.get = this.#watch(stmt.get.bind(stmt), writes) as typeof stmt.get;
    stmt.all = this.#watch(stmt.all.bind(stmt), writes) as typeof stmt.all;
    return stmt;
  }

  /** Wraps `fn` in a transaction (see better-sqlite3: nested calls become savepoints). */
  transaction<F extends (...args: any[]) => any>(fn: F): Database.Transaction<F> {
    const t = this.#conn.transaction(fn);
    // the commit is where WAL pages reach the disk: a full disk shows here
    return Object.assign(this.#watch(t, true), { default: t.default, deferred: t.deferred, immediate: t.immediate, exclusive: t.exclusive }) as unknown as Database.Transaction<F>;
  }

  getMeta(key: string): string | undefined {
    if (typeof key !== 'string' || key === '') throw new TypeError('key: must be a non-empty string');
    const row = this.#conn.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
    return row?.value;
  }

  setMeta(key: string, value: string): void {
    if (typeof key !== 'string' || key === '') throw new TypeError('key: must be a non-empty string');
    if (typeof value !== 'string') throw new TypeError('value: must be a string');
    this.#conn
      .prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value')
      .run(key, value);
  }

  /** The value stored under `key`, or `create()`'s value stored there first (e.g. the nonce secret). */
  getOrCreateMeta(key: string, create: () => string): string {
    return this.transaction(() => {
      const existing = this.getMeta(key);
      if (existing !== undefined) return existing;
      const value = create();
      this.setMeta(key, value);
      return value;
    })();
  }

  /**
   * A consistent copy of the whole database at `destination`, made with SQLite's online backup
   * API while the node keeps writing (a page range at a time, so the event loop is never held
   * long). `progress` gets the pages copied so far and the total.
   */
  async backup(destination: string, progress?: (done: number, total: number) => void): Promise<void> {
    if (typeof destination !== 'string' || destination === '') throw new TypeError('destination: must be a non-empty path');
    await this.#conn.backup(destination, {
      progress: ({ totalPages, remainingPages }) => {
        progress?.(totalPages - remainingPages, totalPages);
        return 200;
      },
    });
  }

  close(): void {
    const db = this.#db;
    if (!db) return;
    this.#db = undefined;
    db.close();
  }
}
