/**
 * The voicemail message store: the index of messages, PINs and greetings in the shared SQLite
 * store, the audio in files under `<dir>/<mailbox>/`. Quotas are counted in minutes of audio
 * (16-bit 8 kHz mono is 0.96 MB a minute: "1 minute = 1 MB").
 *
 * Crash safety, the one rule: no message is ever listed that cannot be played.
 *  - A recording gets its row (state 'recording', never listed) before its file exists; after a
 *    crash the file is repaired and the row becomes a new message, or goes when there is no audio.
 *  - Deleting removes the row first, then the file: a crash in between leaves an orphan file
 *    (wasted space, never listed), never a listed message without audio.
 *  - A greeting is recorded to greeting.tmp and renamed over greeting.wav, so a caller hears the
 *    old greeting or the new one, never half of one.
 */
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statfsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from '../../core/logger.js';
import type { Store } from '../../core/store.js';
import { RECORDING_BYTES_PER_MS, repairWav } from '../../media/wav-repair.js';
import { checkPinPolicy, PinStore, type PinPolicy } from './pin.js';
import { fsyncDir, MailboxError, validate, type CanRecord, type MailboxCounts, type MailboxDef, type MailboxStoreOptions, type MessageInfo } from './store-types.js';

export { MailboxError, type CanRecord, type MailboxCounts, type MailboxDef, type MailboxStoreOptions, type MessageInfo } from './store-types.js';

type Row = { id: number; mailbox: string; caller: string; caller_name: string; received_at: number; duration_ms: number;
  reserved_ms: number; state: 'recording' | 'new' | 'saved'; file: string };
/** storedMs: audio of new and saved messages; reservedMs: reservations of recordings in progress. */
type Usage = { new: number; saved: number; storedMs: number; reservedMs: number };

const MIGRATIONS = [
  `CREATE TABLE voicemail_messages (id INTEGER PRIMARY KEY, mailbox TEXT NOT NULL, caller TEXT NOT NULL,
     caller_name TEXT NOT NULL, received_at INTEGER NOT NULL, duration_ms INTEGER NOT NULL DEFAULT 0,
     reserved_ms INTEGER NOT NULL DEFAULT 0, file TEXT NOT NULL,
     state TEXT NOT NULL CHECK (state IN ('recording', 'new', 'saved')));
   CREATE INDEX voicemail_messages_by_mailbox ON voicemail_messages (mailbox, state, received_at);`,
];

const GREETING = 'greeting.wav';
const GREETING_TMP = 'greeting.tmp';
const MINUTE_MS = 60_000;
/** Less than this left is full: nothing a caller could say fits. */
const MIN_RECORD_MS = 1000;
const EMPTY_USAGE: Readonly<Usage> = { new: 0, saved: 0, storedMs: 0, reservedMs: 0 };

/**
 * Messages, PINs (see PinStore) and greetings of the node's mailboxes. Whether a mailbox has its
 * own greeting is the existence of its greeting.wav, read once at start and then kept in memory.
 */
export class MailboxStore extends EventEmitter<{ change: [mailbox: string, counts: MailboxCounts] }> {
  readonly #store: Store;
  readonly #dir: string;
  readonly #defs: Map<string, MailboxDef>;
  readonly #opts: Required<Omit<MailboxStoreOptions, 'store' | 'mailboxes' | 'logger' | 'dir'>>;
  readonly #pins: PinStore;
  readonly #log: Logger;
  readonly #usage = new Map<string, Usage>();
  readonly #greetings = new Set<string>();
  #closed = false;
  /** Messages found in state 'recording' at start and kept as new ones. */
  readonly recovered: readonly MessageInfo[];

  readonly #sql;

  constructor(opts: MailboxStoreOptions) {
    super();
    const o = validate(opts);
    this.#store = o.store;
    this.#dir = resolve(o.dir);
    this.#defs = new Map(o.mailboxes.map((m) => [m.id, Object.freeze({ ...m })]));
    this.#opts = {
      mailboxQuotaMinutes: o.mailboxQuotaMinutes,
      nodeQuotaMinutes: o.nodeQuotaMinutes,
      minFreeBytes: o.minFreeBytes,
      maxMessageMs: o.maxMessageMs ?? 120_000,
      minMessageMs: o.minMessageMs ?? 1,
    };
    this.#log = o.logger;
    this.#store.migrate('voicemail', MIGRATIONS);
    const s = this.#store;
    this.#sql = {
      get: s.prepare<[number], Row>('SELECT * FROM voicemail_messages WHERE id = ?'),
      list: s.prepare<[string], Row>(
        `SELECT * FROM voicemail_messages WHERE mailbox = ? AND state IN ('new', 'saved')
         ORDER BY state = 'saved', received_at, id`,
      ),
      recording: s.prepare<[], Row>(`SELECT * FROM voicemail_messages WHERE state = 'recording' ORDER BY id`),
      usage: s.prepare<[string], { state: Row['state']; n: number; ms: number }>(
        `SELECT state, COUNT(*) AS n, SUM(CASE state WHEN 'recording' THEN reserved_ms ELSE duration_ms END) AS ms
         FROM voicemail_messages WHERE mailbox = ? GROUP BY state`,
      ),
      mailboxesWithMessages: s.prepare<[], { mailbox: string }>('SELECT DISTINCT mailbox FROM voicemail_messages'),
      insert: s.prepare<[string, string, string, number, number], { id: number }>(
        `INSERT INTO voicemail_messages (mailbox, caller, caller_name, received_at, reserved_ms, state, file)
         VALUES (?, ?, ?, ?, ?, 'recording', '') RETURNING id`,
      ),
      setFile: s.prepare<[string, number]>('UPDATE voicemail_messages SET file = ? WHERE id = ?'),
      setState: s.prepare<[Row['state'], number, number]>('UPDATE voicemail_messages SET state = ?, duration_ms = ? WHERE id = ?'),
      remove: s.prepare<[number]>('DELETE FROM voicemail_messages WHERE id = ?'),
    };
    this.#pins = new PinStore(s);
    mkdirSync(this.#dir, { recursive: true });
    this.#removeStaleTemps();
    this.recovered = Object.freeze(this.#recover());
    for (const id of this.#defs.keys()) if (existsSync(join(this.#folder(id), GREETING))) this.#greetings.add(id);
    for (const { mailbox } of this.#sql.mailboxesWithMessages.all()) this.#refresh(mailbox);
  }

  mailbox(id: string): MailboxDef | undefined {
    return this.#defs.get(id);
  }

  mailboxes(): MailboxDef[] {
    return [...this.#defs.values()];
  }

  /**
   * The node's mailboxes after a configuration change: new ones are usable at once, changed ones
   * (name, quota, email, starting PIN) take effect for the next caller, and a removed mailbox takes
   * no new messages; its messages stay in the store and on disk until it comes back or is cleaned.
   */
  setMailboxes(mailboxes: readonly MailboxDef[]): void {
    if (!Array.isArray(mailboxes)) throw new TypeError('mailboxes: array expected');
    const next = new Map(mailboxes.map((m) => [m.id, Object.freeze({ ...m })]));
    this.#defs.clear();
    for (const [id, def] of next) {
      this.#defs.set(id, def);
      if (!this.#greetings.has(id) && existsSync(join(this.#folder(id), GREETING))) this.#greetings.add(id);
    }
  }

  /** New and saved messages of `mailbox` (from memory: cheap enough for every MWI check). */
  counts(mailbox: string): MailboxCounts {
    const u = this.#usage.get(mailbox) ?? EMPTY_USAGE;
    return { new: u.new, saved: u.saved };
  }

  /** New messages oldest first, then saved ones oldest first. */
  messages(mailbox: string): MessageInfo[] {
    return this.#sql.list.all(mailbox).map((r) => this.#info(r));
  }

  message(id: number): MessageInfo | undefined {
    const row = this.#sql.get.get(id);
    return row && row.state !== 'recording' ? this.#info(row) : undefined;
  }

  /**
   * Whether a message may be recorded into `mailbox` now, and for how long at most: the least of
   * what is left of the mailbox's quota, the node's quota and the disk above minFreeBytes.
   */
  canRecord(mailbox: string): CanRecord {
    const def = this.#defs.get(mailbox);
    if (!def) return { ok: false, reason: 'no-mailbox' };
    const u = this.#usage.get(mailbox) ?? EMPTY_USAGE;
    const mailboxLeft = (def.quotaMinutes ?? this.#opts.mailboxQuotaMinutes) * MINUTE_MS - u.storedMs - u.reservedMs;
    if (mailboxLeft < MIN_RECORD_MS) return { ok: false, reason: 'mailbox-full' };
    let nodeUsed = 0;
    let nodeReserved = 0;
    for (const v of this.#usage.values()) {
      nodeUsed += v.storedMs + v.reservedMs;
      nodeReserved += v.reservedMs;
    }
    const nodeLeft = this.#opts.nodeQuotaMinutes * MINUTE_MS - nodeUsed;
    if (nodeLeft < MIN_RECORD_MS) return { ok: false, reason: 'node-full' };
    const spare = this.#freeBytes() - this.#opts.minFreeBytes;
    if (spare < 0) return { ok: false, reason: 'disk-full' };
    // Recordings in progress will still write up to their reservation: keep that room for them.
    const diskLeft = Math.floor(spare / RECORDING_BYTES_PER_MS) - nodeReserved;
    if (diskLeft < MIN_RECORD_MS) return { ok: false, reason: 'disk-full' };
    return { ok: true, maxMs: Math.min(mailboxLeft, nodeLeft, diskLeft) };
  }

  /**
   * Starts a message: its row is committed (state 'recording') before this returns, so a crash
   * from here on leaves a row that the next start recovers. The recorder writes to `path` and
   * must stop at `maxMs`, the time reserved against the quotas (the least of `maxMs` asked,
   * maxMessageMs and what canRecord allows). Throws MailboxError when the message cannot be taken.
   */
  begin(mailbox: string, caller: string, callerName: string, maxMs?: number): { id: number; path: string; maxMs: number } {
    if (typeof mailbox !== 'string') throw new TypeError('mailbox: must be a string');
    if (typeof caller !== 'string') throw new TypeError('caller: must be a string');
    if (typeof callerName !== 'string') throw new TypeError('callerName: must be a string');
    if (maxMs !== undefined && (!Number.isInteger(maxMs) || maxMs < 1)) throw new TypeError('maxMs: must be an integer >= 1');
    if (!this.#defs.has(mailbox)) throw new MailboxError(mailbox, 'no-mailbox');
    const folder = this.#folder(mailbox);
    // Before the row: a failed mkdir must not leave a recording without a place to go.
    mkdirSync(folder, { recursive: true });
    const started = this.#store.transaction(() => {
      const can = this.canRecord(mailbox);
      if (!can.ok) throw new MailboxError(mailbox, can.reason);
      const reserved = Math.min(can.maxMs, maxMs ?? this.#opts.maxMessageMs);
      const { id } = this.#sql.insert.get(mailbox, caller, callerName, Date.now(), reserved)!;
      const file = `msg-${id}.wav`;
      this.#sql.setFile.run(file, id);
      return { id, path: join(folder, file), maxMs: reserved };
    })();
    this.#refresh(mailbox);
    return started;
  }

  /**
   * Ends a recording begun with begin(), after the recorder closed the file. keep: it becomes a
   * new message, its duration taken from the file (the recorder's own count may differ by the
   * frame in flight); without audio it is discarded like keep = false (file and row removed).
   * Returns the new message, or undefined when discarded or `id` is not a recording.
   */
  finish(id: number, durationMs: number, keep: boolean): MessageInfo | undefined {
    if (!Number.isInteger(id)) throw new TypeError('id: must be an integer');
    if (typeof durationMs !== 'number' || !(durationMs >= 0)) throw new TypeError('durationMs: must be a number >= 0');
    if (typeof keep !== 'boolean') throw new TypeError('keep: must be true or false');
    const row = this.#sql.get.get(id);
    if (!row || row.state !== 'recording') return undefined;
    const path = join(this.#folder(row.mailbox), row.file);
    const audioMs = keep ? this.#measure(path, row) : 0;
    if (keep && audioMs >= this.#opts.minMessageMs) {
      if (Math.abs(audioMs - durationMs) > 1000) {
        this.#log.warn('voicemail recording length differs from the recorder count', { id, fileMs: audioMs, durationMs });
      }
      this.#sql.setState.run('new', audioMs, id);
      this.#refresh(row.mailbox);
      this.#emitChange(row.mailbox);
      return this.#info({ ...row, state: 'new', duration_ms: audioMs });
    }
    this.#discard(row, path);
    this.#refresh(row.mailbox);
    return undefined;
  }

  /** Moves a new message to the saved ones; false when `id` is not a new message. */
  markSaved(id: number): boolean {
    if (!Number.isInteger(id)) throw new TypeError('id: must be an integer');
    const row = this.#sql.get.get(id);
    if (!row || row.state !== 'new') return false;
    this.#sql.setState.run('saved', row.duration_ms, id);
    this.#refresh(row.mailbox);
    this.#emitChange(row.mailbox);
    return true;
  }

  /** Deletes a new or saved message (a file already gone is no error); false when there is none. */
  delete(id: number): boolean {
    if (!Number.isInteger(id)) throw new TypeError('id: must be an integer');
    const row = this.#sql.get.get(id);
    if (!row || row.state === 'recording') return false;
    this.#discard(row, join(this.#folder(row.mailbox), row.file));
    this.#refresh(row.mailbox);
    this.#emitChange(row.mailbox);
    return true;
  }

  /** The mailbox's own greeting, or undefined when callers hear the default one. */
  greetingPath(mailbox: string): string | undefined {
    return this.#greetings.has(mailbox) ? join(this.#folder(mailbox), GREETING) : undefined;
  }

  /** Where to record a new greeting (its folder is created); commitGreeting() puts it in force. */
  greetingTempPath(mailbox: string): string {
    this.#known(mailbox);
    const folder = this.#folder(mailbox);
    mkdirSync(folder, { recursive: true });
    return join(folder, GREETING_TMP);
  }

  /**
   * Puts the greeting recorded at greetingTempPath() in force: flushed, then renamed over the old
   * one in one step. Throws when there is no recording there, or it holds no audio (the old
   * greeting stays). Returns the greeting's duration.
   */
  commitGreeting(mailbox: string): { durationMs: number } {
    this.#known(mailbox);
    const folder = this.#folder(mailbox);
    const tmp = join(folder, GREETING_TMP);
    const { durationMs } = repairWav(tmp); // validates and fsyncs the audio before the rename
    if (durationMs === 0) {
      rmSync(tmp, { force: true });
      throw new Error(`mailbox ${mailbox}: the greeting recording ${tmp} holds no audio`);
    }
    renameSync(tmp, join(folder, GREETING));
    fsyncDir(folder);
    this.#greetings.add(mailbox);
    return { durationMs };
  }

  /** Back to the default greeting; false when the mailbox had none of its own. */
  removeGreeting(mailbox: string): boolean {
    this.#known(mailbox);
    const had = this.#greetings.delete(mailbox);
    rmSync(join(this.#folder(mailbox), GREETING), { force: true });
    return had;
  }

  /** set: a PIN is in force (the owner's or the configured one); mustChange: it is the configured one. */
  pinState(mailbox: string): { set: boolean; mustChange: boolean } {
    return this.#pins.state(mailbox, this.#known(mailbox).pin);
  }

  /** Whether `pin` opens `mailbox` (always false while no PIN is set). */
  checkPin(mailbox: string, pin: string): boolean {
    const def = this.#known(mailbox);
    if (typeof pin !== 'string') throw new TypeError('pin: must be a string');
    return this.#pins.check(mailbox, def.pin, pin);
  }

  /** The owner's new PIN: undefined when stored, else why it is refused. */
  setPin(mailbox: string, pin: string, policy: PinPolicy): string | undefined {
    const def = this.#known(mailbox);
    const refused = checkPinPolicy(pin, { ...policy, mailbox });
    if (refused) return refused;
    if (def.pin !== undefined && pin === def.pin) return 'must differ from the starting PIN';
    this.#pins.set(mailbox, pin);
    this.#log.info('voicemail PIN changed', { mailbox });
    return undefined;
  }

  /** Forgets the owner's PIN: the configured one (to be changed) is in force again, or none. */
  resetPin(mailbox: string): void {
    this.#known(mailbox);
    this.#pins.reset(mailbox);
    this.#log.info('voicemail PIN reset', { mailbox });
  }

  /** For status: stored messages and their minutes on this node (recordings in progress excluded). */
  usage(): { messages: number; minutes: number; nodeQuotaMinutes: number } {
    let messages = 0;
    let ms = 0;
    for (const u of this.#usage.values()) {
      messages += u.new + u.saved;
      ms += u.storedMs;
    }
    return { messages, minutes: Math.round((ms / MINUTE_MS) * 100) / 100, nodeQuotaMinutes: this.#opts.nodeQuotaMinutes };
  }

  /** Stops emitting. The Store belongs to the server, which closes it. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.removeAllListeners();
  }

  #known(mailbox: string): MailboxDef {
    if (typeof mailbox !== 'string') throw new TypeError('mailbox: must be a string');
    const def = this.#defs.get(mailbox);
    if (!def) throw new TypeError(`mailbox: no mailbox ${mailbox}`);
    return def;
  }

  #folder(mailbox: string): string {
    return join(this.#dir, mailbox);
  }

  #info(r: Row): MessageInfo {
    return {
      id: r.id,
      mailbox: r.mailbox,
      caller: r.caller,
      callerName: r.caller_name,
      receivedAt: r.received_at,
      durationMs: r.duration_ms,
      state: r.state as MessageInfo['state'],
      path: join(this.#folder(r.mailbox), r.file),
    };
  }

  #emitChange(mailbox: string): void {
    if (!this.#closed) this.emit('change', mailbox, this.counts(mailbox));
  }

  /** Re-reads one mailbox's counts from the store (one indexed query) after a change. */
  #refresh(mailbox: string): void {
    const u: Usage = { new: 0, saved: 0, storedMs: 0, reservedMs: 0 };
    for (const r of this.#sql.usage.all(mailbox)) {
      if (r.state === 'recording') u.reservedMs += r.ms;
      else {
        u[r.state] = r.n;
        u.storedMs += r.ms;
      }
    }
    if (u.new + u.saved === 0 && u.reservedMs === 0) this.#usage.delete(mailbox);
    else this.#usage.set(mailbox, u);
  }

  /** Audio of a finished recording in ms (0 when missing or unreadable, logged). */
  #measure(path: string, row: Row): number {
    try {
      return repairWav(path).durationMs;
    } catch (err) {
      this.#log.warn('voicemail recording unreadable, discarded', { id: row.id, mailbox: row.mailbox, error: (err as Error).message });
      return 0;
    }
  }

  /** Row first, then the file (see the rule at the top). */
  #discard(row: Row, path: string): void {
    this.#sql.remove.run(row.id);
    rmSync(path, { force: true });
  }

  #freeBytes(): number {
    try {
      const s = statfsSync(this.#dir);
      return s.bavail * s.bsize;
    } catch (err) {
      this.#log.error('voicemail: cannot read the free space of the message folder', { dir: this.#dir, error: (err as Error).message });
      return 0;
    }
  }

  /** Rows left in state 'recording' by a crash: repaired and kept, or removed without audio. */
  #recover(): MessageInfo[] {
    const kept: MessageInfo[] = [];
    for (const row of this.#sql.recording.all()) {
      const path = join(this.#folder(row.mailbox), row.file);
      let durationMs = 0;
      if (row.file !== '' && existsSync(path)) {
        try {
          durationMs = repairWav(path).durationMs;
        } catch (err) {
          // A header we cannot trust: the row goes, the file stays for someone to look at.
          this.#log.warn('voicemail recording left by a crash is not a valid WAV', { id: row.id, path, error: (err as Error).message });
          this.#sql.remove.run(row.id);
          continue;
        }
      }
      if (durationMs >= this.#opts.minMessageMs) {
        this.#sql.setState.run('new', durationMs, row.id);
        const info = this.#info({ ...row, state: 'new', duration_ms: durationMs });
        kept.push(info);
        this.#log.info('voicemail: recovered message left by a crash', { id: row.id, mailbox: row.mailbox, durationMs, path });
      } else {
        this.#discard(row, path);
        this.#log.info('voicemail: removed empty recording left by a crash', { id: row.id, mailbox: row.mailbox });
      }
    }
    return kept;
  }

  /** Greeting recordings cut short by a crash are of no use; greeting.tmp is the only temp we write. */
  #removeStaleTemps(): void {
    for (const entry of readdirSync(this.#dir, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const folder = join(this.#dir, entry.name);
      for (const name of readdirSync(folder)) {
        if (!name.endsWith('.tmp')) continue;
        rmSync(join(folder, name), { force: true });
        this.#log.info('voicemail: removed stale temporary file', { path: join(folder, name) });
      }
    }
  }
}
