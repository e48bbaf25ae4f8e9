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
 *  - Greetings: see greetings.ts.
 */
import { EventEmitter } from 'node:events';
import { mkdirSync, rmSync, statfsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Journal } from '../../core/journal.js';
import type { Logger } from '../../core/logger.js';
import type { Store } from '../../core/store.js';
import { RECORDING_BYTES_PER_MS, repairWav } from '../../media/wav-repair.js';
import { messageIndex, newUid, type MessageIndex, type MessageRow } from './message-index.js';
import { checkPinPolicy, PinStore, type PinPolicy } from './pin.js';
import { Greetings } from './greetings.js';
import { recoverRecordings, removeStaleTemps } from './recovery.js';
import { writeFileDurably } from './replica-files.js';
import {
  fsyncDir, MailboxError, validate, type CanRecord, type MailboxCopy, type MailboxCounts, type MailboxDef, type MailboxStoreOptions, type MessageInfo,
} from './store-types.js';

export {
  MailboxError, type CanRecord, type MailboxCopy, type MailboxCounts, type MailboxDef, type MailboxStoreOptions, type MessageInfo,
} from './store-types.js';

/** storedMs: audio of new and saved messages; reservedMs: reservations of recordings in progress. */
type Usage = { new: number; saved: number; storedMs: number; reservedMs: number };
type Row = MessageRow;

const MINUTE_MS = 60_000;
/** Less than this left is full: nothing a caller could say fits. */
const MIN_RECORD_MS = 1000;
const EMPTY_USAGE: Readonly<Usage> = { new: 0, saved: 0, storedMs: 0, reservedMs: 0 };

/**
 * Messages, PINs (see PinStore) and greetings (see Greetings) of the node's mailboxes.
 */
export class MailboxStore extends EventEmitter<{ change: [mailbox: string, counts: MailboxCounts] }> {
  readonly #store: Store;
  readonly #dir: string;
  readonly #defs: Map<string, MailboxDef>;
  readonly #opts: Required<Omit<MailboxStoreOptions, 'store' | 'mailboxes' | 'logger' | 'dir' | 'journal'>>;
  readonly #pins: PinStore;
  readonly #log: Logger;
  readonly #usage = new Map<string, Usage>();
  readonly #greetings: Greetings;
  readonly #journal: Journal | undefined;
  #closed = false;
  /** Messages found in state 'recording' at start and kept as new ones. */
  readonly recovered: readonly MessageInfo[];

  readonly #sql: MessageIndex;

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
    this.#journal = o.journal;
    const s = this.#store;
    this.#sql = messageIndex(s);
    this.#pins = new PinStore(s);
    mkdirSync(this.#dir, { recursive: true });
    removeStaleTemps(this.#dir, this.#log);
    this.recovered = Object.freeze(recoverRecordings({
      rows: this.#sql.recording.all(), folderOf: (m) => this.#folder(m), minMessageMs: this.#opts.minMessageMs, log: this.#log,
      keep: (row, durationMs) => this.#store.transaction(() => {
        this.#sql.setState.run('new', durationMs, row.id);
        this.#journalMessage({ ...row, state: 'new', duration_ms: durationMs });
      })(),
      drop: (row, path) => this.#discard(row, path),
      forget: (row) => this.#sql.remove.run(row.id),
    }).map((r) => this.#info(r)));
    this.#greetings = new Greetings((m) => this.#folder(m), this.#journal);
    this.#greetings.scan(this.#defs.keys());
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
    for (const [id, def] of next) this.#defs.set(id, def);
    this.#greetings.scan(next.keys());
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
      const { id } = this.#sql.insert.get(newUid(), mailbox, caller, callerName, Date.now(), reserved)!;
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
      const kept: Row = { ...row, state: 'new', duration_ms: audioMs };
      this.#store.transaction(() => {
        this.#sql.setState.run('new', audioMs, id);
        this.#journalMessage(kept);
      })();
      this.#refresh(row.mailbox);
      this.#emitChange(row.mailbox);
      return this.#info(kept);
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
    this.#store.transaction(() => {
      this.#sql.setState.run('saved', row.duration_ms, id);
      this.#journal?.append('vm.state', { uid: row.uid, state: 'saved' });
    })();
    this.#refresh(row.mailbox);
    this.#emitChange(row.mailbox);
    return true;
  }

  /** Deletes a new or saved message (a file already gone is no error); false when there is none. */
  delete(id: number): boolean {
    if (!Number.isInteger(id)) throw new TypeError('id: must be an integer');
    const row = this.#sql.get.get(id);
    if (!row || row.state === 'recording') return false;
    this.#discard(row, join(this.#folder(row.mailbox), row.file), true);
    this.#refresh(row.mailbox);
    this.#emitChange(row.mailbox);
    return true;
  }

  /** The mailbox's own greeting, or undefined when callers hear the default one. */
  greetingPath(mailbox: string): string | undefined {
    return this.#greetings.path(mailbox);
  }

  /** Where to record a new greeting (its folder is created); commitGreeting() puts it in force. */
  greetingTempPath(mailbox: string): string {
    this.#known(mailbox);
    return this.#greetings.tempPath(mailbox);
  }

  /**
   * Puts the greeting recorded at greetingTempPath() in force: flushed, then renamed over the old
   * one in one step. Throws when there is no recording there, or it holds no audio (the old
   * greeting stays). Returns the greeting's duration.
   */
  commitGreeting(mailbox: string): { durationMs: number } {
    this.#known(mailbox);
    return this.#greetings.commit(mailbox);
  }

  /** Back to the default greeting; false when the mailbox had none of its own. */
  removeGreeting(mailbox: string): boolean {
    this.#known(mailbox);
    return this.#greetings.remove(mailbox);
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
    this.#store.transaction(() => {
      const hash = this.#pins.set(mailbox, pin);
      this.#journal?.append('vm.pin', { mailbox, hash });
    })();
    this.#log.info('voicemail PIN changed', { mailbox });
    return undefined;
  }

  /** Forgets the owner's PIN: the configured one (to be changed) is in force again, or none. */
  resetPin(mailbox: string): void {
    this.#known(mailbox);
    this.#store.transaction(() => {
      this.#pins.reset(mailbox);
      this.#journal?.append('vm.pin', { mailbox, hash: null });
    })();
    this.#log.info('voicemail PIN reset', { mailbox });
  }

  /**
   * Applies a change made on another node (the solution's replication): a message copied with
   * its audio (`audio`: the file's bytes, kept byte for byte; a message whose audio is gone,
   * because it was deleted there since, is skipped), its new state, its deletion, a greeting
   * (`audio`) or its removal, a PIN. Idempotent: a message is known by its uid, so a change
   * applied twice changes nothing the second time. Mailboxes need not be configured here: this
   * node keeps copies of the mailboxes it may serve later. Journals nothing (no echo). Returns
   * whether anything changed.
   */
  applyCopy(c: MailboxCopy, audio?: Uint8Array): boolean {
    const changed = this.#applyCopy(c, audio);
    if (changed && 'mailbox' in c) this.#refresh(c.mailbox);
    return changed;
  }

  #applyCopy(c: MailboxCopy, audio: Uint8Array | undefined): boolean {
    switch (c.kind) {
      case 'vm.message': {
        if (this.#sql.byUid.get(c.uid) || !audio) return false;
        const folder = this.#folder(c.mailbox);
        mkdirSync(folder, { recursive: true });
        const file = `msg-${c.uid}.wav`;
        // the audio first: no row is ever listed without its file
        writeFileDurably(join(folder, file), audio);
        this.#sql.insertCopy.run(c.uid, c.mailbox, c.caller, c.callerName, c.receivedAt, c.durationMs, c.state, file);
        this.#refresh(c.mailbox);
        this.#emitChange(c.mailbox);
        return true;
      }
      case 'vm.state': {
        const row = this.#sql.byUid.get(c.uid);
        if (!row || row.state !== 'new') return false;
        this.#sql.setState.run('saved', row.duration_ms, row.id);
        this.#refresh(row.mailbox);
        this.#emitChange(row.mailbox);
        return true;
      }
      case 'vm.delete': {
        const row = this.#sql.byUid.get(c.uid);
        if (!row || row.state === 'recording') return false;
        this.#discard(row, join(this.#folder(row.mailbox), row.file));
        this.#refresh(row.mailbox);
        this.#emitChange(row.mailbox);
        return true;
      }
      case 'vm.greeting':
        if (!audio) return false;
        this.#greetings.applyCopy(c.mailbox, audio, this.#defs.has(c.mailbox));
        return true;
      case 'vm.greeting-removed':
        this.#greetings.applyCopy(c.mailbox, undefined, false);
        return true;
      case 'vm.pin':
        if (c.hash === null) this.#pins.reset(c.mailbox);
        else this.#pins.setHash(c.mailbox, c.hash);
        return true;
    }
  }

  /** The audio file of the message named `uid` while it is kept (replication reads it), else undefined. */
  messageFile(uid: string): string | undefined {
    const row = this.#sql.byUid.get(uid);
    return row && row.state !== 'recording' ? join(this.#folder(row.mailbox), row.file) : undefined;
  }

  /** The greeting file of `mailbox` if there is one, configured here or not (replication reads it). */
  greetingFile(mailbox: string): string | undefined {
    return this.#greetings.file(mailbox);
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
      uid: r.uid,
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

  /** Row first, then the file (see the rule at the top); `journal`: a message other nodes hold too. */
  #discard(row: Row, path: string, journal = false): void {
    this.#store.transaction(() => {
      this.#sql.remove.run(row.id);
      if (journal) this.#journal?.append('vm.delete', { uid: row.uid });
    })();
    rmSync(path, { force: true });
  }

  #journalMessage(r: Row): void {
    this.#journal?.append('vm.message', {
      uid: r.uid, mailbox: r.mailbox, caller: r.caller, callerName: r.caller_name, receivedAt: r.received_at, durationMs: r.duration_ms, state: r.state,
    });
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
}
