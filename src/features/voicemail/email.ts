/**
 * Email forwarding of new voicemail messages: each message goes to the mailbox's address as a WAV
 * attachment, through an outbox that survives restarts and SMTP outages.
 *
 * enqueue() hard-links the message audio into the outbox folder (a copy where a link cannot be
 * made) and records the outbox row in the same SQLite transaction, so the user deleting the
 * message before the relay is back does not lose the email, and a crash never leaves a row without
 * its audio. Delivery is retried until the SMTP server accepts the message; only then are the row
 * and the outbox copy removed.
 */
import { copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, unlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import nodemailer, { type NodemailerError, type SMTPSentMessageInfo, type Transporter } from 'nodemailer';
import type { SmtpConfig } from '../../core/config/voicemail-schema.js';
import type { Logger } from '../../core/logger.js';
import type { Store } from '../../core/store.js';

export interface EmailForwarderOptions {
  /** Where the outbox rows live (table voicemail_email_outbox). */
  store: Store;
  /** The relay and the retry schedule (voicemail.smtp). */
  smtp: SmtpConfig;
  /** Outbox folder for the attachment copies; created if missing. Owned by the forwarder. */
  dir: string;
  logger: Logger;
}

/** One new message to forward. */
export interface EmailMessage {
  /** Recipient address (the mailbox's `email`). */
  to: string;
  /** Mailbox number, e.g. "201". */
  mailbox: string;
  /** Mailbox owner's name (user or hunt group); may be empty. */
  mailboxName: string;
  /** Caller's number; may be empty when withheld. */
  caller: string;
  /** Caller's display name; may be empty. */
  callerName: string;
  /** When the message was recorded (ms since the epoch). */
  receivedAt: number;
  /** Length of the recording (ms). */
  durationMs: number;
  /** The message's WAV file. */
  wavPath: string;
}

export interface EmailForwarderStatus {
  /** Messages in the outbox, waiting or being sent. */
  queued: number;
  /** Messages the SMTP server accepted since the forwarder started. */
  sent: number;
  /** Failed attempts since the forwarder started. */
  failures: number;
}

interface OutboxRow {
  id: number;
  to_addr: string;
  mailbox: string;
  mailbox_name: string;
  caller: string;
  caller_name: string;
  received_at: number;
  duration_ms: number;
  file: string;
  attempts: number;
}

// Append-only (see Store.migrate): add a migration, never edit a shipped one.
const MIGRATIONS = [
  `CREATE TABLE voicemail_email_outbox (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     to_addr TEXT NOT NULL,
     mailbox TEXT NOT NULL,
     mailbox_name TEXT NOT NULL,
     caller TEXT NOT NULL,
     caller_name TEXT NOT NULL,
     received_at INTEGER NOT NULL,
     duration_ms INTEGER NOT NULL,
     file TEXT NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0,
     last_error TEXT,
     created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))`,
];

const EMAIL_RE = /^[^\s@<>]+@[^\s@<>]+$/;
// A relay that is down should fail an attempt in seconds, not after nodemailer's 2-minute default,
// so the queue behind it is not held up and close() finds little in flight.
const CONNECT_TIMEOUT_MS = 15_000;
const SOCKET_TIMEOUT_MS = 60_000;

export class EmailForwarder {
  readonly #store: Store;
  readonly #smtp: SmtpConfig;
  readonly #dir: string;
  readonly #log: Logger;
  readonly #transport: Transporter<SMTPSentMessageInfo>;
  /** Outbox row id -> when it is next due (performance.now() ms) and its failed attempts so far. */
  readonly #due = new Map<number, { at: number; failures: number }>();
  readonly #abort = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #sending = false;
  #closed = false;
  #sent = 0;
  #failures = 0;

  constructor(opts: EmailForwarderOptions) {
    if (typeof opts !== 'object' || opts === null) throw new TypeError('opts: must be an object');
    const { store, smtp, dir, logger } = opts;
    if (typeof store?.prepare !== 'function' || typeof store.migrate !== 'function') throw new TypeError('opts.store: must be a Store');
    checkSmtp(smtp);
    if (typeof dir !== 'string' || dir === '') throw new TypeError('opts.dir: must be a non-empty string');
    if (typeof logger?.info !== 'function' || typeof logger.warn !== 'function' || typeof logger.error !== 'function') {
      throw new TypeError('opts.logger: must be a Logger');
    }
    this.#store = store;
    this.#smtp = { ...smtp };
    this.#dir = resolve(dir);
    this.#log = logger;
    mkdirSync(this.#dir, { recursive: true });
    store.migrate('voicemail-email', MIGRATIONS);
    this.#transport = nodemailer.createTransport({
      host: smtp.host,
      port: smtp.port,
      secure: false,
      ignoreTLS: !smtp.starttls,
      connectionTimeout: CONNECT_TIMEOUT_MS,
      greetingTimeout: CONNECT_TIMEOUT_MS,
      socketTimeout: SOCKET_TIMEOUT_MS,
    });
    this.#resume();
  }

  /**
   * Puts a new message in the outbox and tries to send it at once. Throws a TypeError for a bad
   * field, and an Error when the audio cannot be linked or copied into the outbox (nothing is
   * queued then) or the forwarder is closed.
   */
  enqueue(m: EmailMessage): void {
    checkMessage(m);
    if (this.#closed) throw new Error('email forwarder: closed');
    const insert = this.#store.prepare(
      `INSERT INTO voicemail_email_outbox (to_addr, mailbox, mailbox_name, caller, caller_name, received_at, duration_ms, file)
       VALUES (?, ?, ?, ?, ?, ?, ?, '')`,
    );
    const setFile = this.#store.prepare('UPDATE voicemail_email_outbox SET file = ? WHERE id = ?');
    // The copy is made inside the transaction: if it fails the row is rolled back, so a row always
    // has its file. A crash after the copy and before the commit leaves only an orphan file, which
    // #resume() removes.
    const id = this.#store.transaction(() => {
      const r = insert.run(m.to, m.mailbox, m.mailboxName, m.caller, m.callerName, Math.round(m.receivedAt), Math.round(m.durationMs));
      const rowId = Number(r.lastInsertRowid);
      const file = join(this.#dir, `${rowId}.wav`);
      keepCopy(m.wavPath, file);
      setFile.run(file, rowId);
      return rowId;
    })();
    this.#due.set(id, { at: performance.now(), failures: 0 });
    this.#log.info('voicemail email queued', { id, to: m.to, mailbox: m.mailbox });
    this.#kick();
  }

  status(): EmailForwarderStatus {
    return { queued: this.#due.size, sent: this.#sent, failures: this.#failures };
  }

  /**
   * Stops retrying and closes the transport. A send in flight is aborted; its row stays and is
   * sent again by the next forwarder on this store. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#abort.abort();
    this.#transport.close();
  }

  /** Takes over the rows of an earlier run, due at once, and removes outbox files without a row. */
  #resume(): void {
    const rows = this.#store.prepare('SELECT id, file, attempts FROM voicemail_email_outbox ORDER BY id').all() as Pick<OutboxRow, 'id' | 'file' | 'attempts'>[];
    const files = new Set<string>();
    for (const r of rows) {
      // Start the backoff where the last run left it, but try once now: a restart often follows
      // the fix of whatever kept the relay away.
      this.#due.set(r.id, { at: performance.now(), failures: r.attempts });
      files.add(resolve(r.file));
    }
    for (const name of readdirSync(this.#dir)) {
      const path = join(this.#dir, name);
      if (/^\d+\.wav$/.test(name) && !files.has(path)) unlinkQuiet(path);
    }
    if (rows.length > 0) this.#log.info('voicemail email outbox resumed', { queued: rows.length });
    this.#kick();
  }

  /** Sends the earliest due message if none is in flight, or waits for it to come due. */
  #kick(): void {
    if (this.#closed || this.#sending) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    let next: number | undefined;
    let at = Infinity;
    for (const [id, d] of this.#due) {
      if (d.at < at) [next, at] = [id, d.at];
    }
    if (next === undefined) return;
    const wait = at - performance.now();
    if (wait > 0) {
      // unref: the outbox alone must not keep a stopping process alive; the rows wait in the store.
      this.#timer = setTimeout(() => this.#kick(), Math.ceil(wait)).unref();
      return;
    }
    // One message at a time: a small LAN relay is not flooded after an outage, and order is kept.
    this.#sending = true;
    void this.#send(next)
      .catch((err: unknown) => {
        // The store failed (closed under us, disk full): wait as after a refusal, never spin.
        this.#log.error('voicemail email outbox failed', { id: next, err });
        const d = this.#due.get(next);
        if (d) d.at = performance.now() + this.#smtp.retryMaxSeconds * 1000;
      })
      .finally(() => {
        this.#sending = false;
        this.#kick();
      });
  }

  async #send(id: number): Promise<void> {
    const row = this.#store.prepare('SELECT * FROM voicemail_email_outbox WHERE id = ?').get(id) as OutboxRow | undefined;
    const due = this.#due.get(id)!;
    if (!row) {
      this.#due.delete(id); // removed behind our back (an operator clearing the outbox)
      return;
    }
    const attempt = due.failures + 1;
    const meta = { id, to: row.to_addr, mailbox: row.mailbox, attempt };
    const audio = existsSync(row.file);
    try {
      const info = await this.#transport.sendMail({
        from: this.#smtp.from,
        to: row.to_addr,
        subject: subjectOf(row),
        text: bodyOf(row, audio),
        // Stable per message, so a copy resent after a crash mid-delivery can be recognised.
        messageId: `<voicemail-${row.id}-${row.received_at}@${this.#smtp.from.split('@')[1]}>`,
        attachments: audio ? [{ filename: `message-${row.id}.wav`, path: row.file, contentType: 'audio/wav' }] : [],
        signal: this.#abort.signal,
      });
      this.#sent++;
      this.#due.delete(id);
      this.#log.info('voicemail email sent', { ...meta, response: info.response });
      // After close() the store may be closed too; the row then stays and the message may be sent
      // twice, which beats losing it.
      if (!this.#store.closed) {
        this.#store.prepare('DELETE FROM voicemail_email_outbox WHERE id = ?').run(id);
        unlinkQuiet(row.file);
      }
    } catch (e) {
      if (this.#closed) return; // aborted by close(): the row stays for the next run
      const err = e as NodemailerError;
      this.#failures++;
      due.failures = attempt;
      const permanent = err.permanent === true || (err.responseCode !== undefined && err.responseCode >= 500 && err.responseCode !== 503);
      // Doubling from retrySeconds, capped; a permanent refusal goes straight to the cap: it may be
      // lifted by the relay's administrator, and the message must not be dropped silently.
      const delayS = permanent
        ? this.#smtp.retryMaxSeconds
        : Math.min(this.#smtp.retrySeconds * 2 ** Math.min(attempt - 1, 30), this.#smtp.retryMaxSeconds);
      due.at = performance.now() + delayS * 1000;
      const failure = {
        ...meta,
        retryInSeconds: delayS,
        code: err.code,
        responseCode: err.responseCode,
        response: err.response,
        // Not `message`: winston would append it to the log line's own message.
        error: err.message,
      };
      if (permanent) this.#log.error('voicemail email refused by the SMTP server', failure);
      else this.#log.warn('voicemail email not sent', failure);
      try {
        this.#store
          .prepare('UPDATE voicemail_email_outbox SET attempts = ?, last_error = ? WHERE id = ?')
          .run(attempt, String(err.response ?? err.message).slice(0, 500), id);
      } catch (storeErr) {
        this.#log.error('voicemail email outbox not updated', { id, err: storeErr });
      }
    }
  }
}

/** Links `from` to `to` (same file system: no copy, instant); copies where links fail. */
function keepCopy(from: string, to: string): void {
  unlinkQuiet(to); // an orphan from a crash mid-enqueue may hold this id's name
  try {
    linkSync(from, to);
  } catch (linkErr) {
    try {
      copyFileSync(from, to);
    } catch (copyErr) {
      throw new Error(`voicemail email: cannot keep ${from} in the outbox as ${to}: ${(copyErr as Error).message}`, { cause: linkErr });
    }
  }
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone: the aim is that it does not exist
  }
}

/** Caller names come from SIP headers: no control characters into a mail header. */
function clean(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim().slice(0, 100);
}

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function callerOf(row: OutboxRow): string {
  const who = [clean(row.caller_name), clean(row.caller)].filter((x) => x !== '');
  // A name equal to the number ("201 201") says nothing twice.
  if (who.length === 2 && who[0] === who[1]) who.pop();
  return who.length > 0 ? who.join(' ') : 'an unknown caller';
}

function subjectOf(row: OutboxRow): string {
  return `Voicemail from ${callerOf(row)} (${duration(row.duration_ms)})`;
}

function bodyOf(row: OutboxRow, audio: boolean): string {
  const owner = clean(row.mailbox_name);
  const when = new Date(row.received_at).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  return [
    `New voicemail message in mailbox ${clean(row.mailbox)}${owner ? ` (${owner})` : ''}.`,
    '',
    `From:     ${callerOf(row)}`,
    `Received: ${when}`,
    `Length:   ${duration(row.duration_ms)}`,
    '',
    audio ? 'The recording is attached.' : 'The recording could not be attached (its outbox copy is missing).',
    '',
  ].join('\n');
}

function checkSmtp(smtp: SmtpConfig): void {
  if (typeof smtp !== 'object' || smtp === null) throw new TypeError('opts.smtp: must be an object');
  if (typeof smtp.host !== 'string' || smtp.host === '') throw new TypeError('opts.smtp.host: must be a non-empty string');
  if (!Number.isInteger(smtp.port) || smtp.port < 1 || smtp.port > 65535) throw new TypeError('opts.smtp.port: must be an integer 1..65535');
  if (typeof smtp.starttls !== 'boolean') throw new TypeError('opts.smtp.starttls: must be a boolean');
  if (typeof smtp.from !== 'string' || !EMAIL_RE.test(smtp.from)) throw new TypeError('opts.smtp.from: must be an email address');
  if (!Number.isInteger(smtp.retrySeconds) || smtp.retrySeconds < 1) throw new TypeError('opts.smtp.retrySeconds: must be an integer >= 1');
  if (!Number.isInteger(smtp.retryMaxSeconds) || smtp.retryMaxSeconds < 1) throw new TypeError('opts.smtp.retryMaxSeconds: must be an integer >= 1');
}

function checkMessage(m: EmailMessage): void {
  if (typeof m !== 'object' || m === null) throw new TypeError('m: must be an object');
  if (typeof m.to !== 'string' || !EMAIL_RE.test(m.to)) throw new TypeError('m.to: must be an email address');
  if (typeof m.mailbox !== 'string' || m.mailbox === '') throw new TypeError('m.mailbox: must be a non-empty string');
  for (const k of ['mailboxName', 'caller', 'callerName'] as const) {
    if (typeof m[k] !== 'string') throw new TypeError(`m.${k}: must be a string`);
  }
  if (!Number.isFinite(m.receivedAt) || m.receivedAt < 0) throw new TypeError('m.receivedAt: must be a time in ms since the epoch');
  if (!Number.isFinite(m.durationMs) || m.durationMs < 0) throw new TypeError('m.durationMs: must be a number of ms >= 0');
  if (typeof m.wavPath !== 'string' || m.wavPath === '') throw new TypeError('m.wavPath: must be a non-empty string');
}
