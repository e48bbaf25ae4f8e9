/** The message store's public types and the validation of its options (store.ts is the store). */
import { closeSync, fsyncSync, openSync } from 'node:fs';
import type { Journal } from '../../core/journal.js';
import type { Logger } from '../../core/logger.js';
import type { Store } from '../../core/store.js';

/** A mailbox as configured: every user and every hunt group has one. */
export interface MailboxDef {
  /** The extension (or hunt group) number; also the name of its folder. */
  id: string;
  kind: 'user' | 'group';
  name: string;
  /** The configured starting PIN (1..15 digits), to be changed on first use. */
  pin?: string;
  /** Where new messages are mailed. */
  email?: string;
  /** This mailbox's quota (minutes of audio); default mailboxQuotaMinutes. */
  quotaMinutes?: number;
}

export interface MailboxStoreOptions {
  /** The server's store (shared; MailboxStore never closes it). */
  store: Store;
  /** Folder of message audio and greetings (created when missing). */
  dir: string;
  mailboxes: readonly MailboxDef[];
  /** Quota of a mailbox without its own quotaMinutes. */
  mailboxQuotaMinutes: number;
  /** Quota of all mailboxes on the node together. */
  nodeQuotaMinutes: number;
  /** No message is started while the disk holding `dir` has less free space than this. */
  minFreeBytes: number;
  logger: Logger;
  /** Longest message (ms) begin() reserves when not told; default 120000 (maxMessageSeconds). */
  maxMessageMs?: number;
  /** Shorter recordings are discarded by finish(keep) and crash recovery; default 1 ms. */
  minMessageMs?: number;
  /** Where changes other nodes must replay are recorded (messages, saved, deleted, greetings, PINs). */
  journal?: Journal;
}

/**
 * A change made on another node, to apply here (the journal entries of MailboxStore, as the
 * solution's replication carries them). Messages are named by their uid on every node.
 */
export type MailboxCopy =
  | { kind: 'vm.message'; uid: string; mailbox: string; caller: string; callerName: string; receivedAt: number; durationMs: number; state: 'new' | 'saved' }
  | { kind: 'vm.state'; uid: string; state: 'saved' }
  | { kind: 'vm.delete'; uid: string }
  | { kind: 'vm.greeting'; mailbox: string }
  | { kind: 'vm.greeting-removed'; mailbox: string }
  | { kind: 'vm.pin'; mailbox: string; hash: string | null };

const MAILBOX_ID = /^[0-9A-Za-z][0-9A-Za-z_-]{0,63}$/; // also a folder name: no '/', no '..'
const UID = /^[0-9a-f]{32}$/;

/** `data` of journal entry `kind` as a MailboxCopy; a TypeError names what is wrong (it came over the network). */
export function mailboxCopyOf(kind: string, data: unknown): MailboxCopy {
  const d = (typeof data === 'object' && data !== null ? data : {}) as Record<string, unknown>;
  const str = (k: string, re?: RegExp): string => {
    const v = d[k];
    if (typeof v !== 'string' || (re && !re.test(v))) throw new TypeError(`${kind}.${k}: not valid`);
    return v;
  };
  const num = (k: string): number => {
    const v = d[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new TypeError(`${kind}.${k}: not valid`);
    return v;
  };
  switch (kind) {
    case 'vm.message': {
      const state = str('state');
      if (state !== 'new' && state !== 'saved') throw new TypeError(`${kind}.state: not valid`);
      return { kind, uid: str('uid', UID), mailbox: str('mailbox', MAILBOX_ID), caller: str('caller'), callerName: str('callerName'), receivedAt: num('receivedAt'), durationMs: num('durationMs'), state };
    }
    case 'vm.state':
      if (d.state !== 'saved') throw new TypeError(`${kind}.state: not valid`);
      return { kind, uid: str('uid', UID), state: 'saved' };
    case 'vm.delete':
      return { kind, uid: str('uid', UID) };
    case 'vm.greeting':
    case 'vm.greeting-removed':
      return { kind, mailbox: str('mailbox', MAILBOX_ID) };
    case 'vm.pin':
      return { kind, mailbox: str('mailbox', MAILBOX_ID), hash: d.hash === null ? null : str('hash', /^scrypt\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/) };
    default:
      throw new TypeError(`kind: ${kind} is not a mailbox change`);
  }
}

export interface MessageInfo {
  id: number;
  /** The message's name on every node (32 hex digits). */
  uid: string;
  mailbox: string;
  /** Caller's number ('' when withheld). */
  caller: string;
  callerName: string;
  /** When the recording began (ms since the epoch). */
  receivedAt: number;
  durationMs: number;
  state: 'new' | 'saved';
  /** Absolute path of the WAV file. */
  path: string;
}

export interface MailboxCounts {
  new: number;
  saved: number;
}

export type CanRecord =
  | { ok: true; maxMs: number }
  | { ok: false; reason: 'mailbox-full' | 'node-full' | 'disk-full' | 'no-mailbox' };

/** Thrown by begin() when the message cannot be recorded (`reason` as canRecord gives it). */
export class MailboxError extends Error {
  readonly code: 'EFULL' | 'ENOMAILBOX';
  readonly reason: Exclude<CanRecord, { ok: true }>['reason'];
  constructor(mailbox: string, reason: MailboxError['reason']) {
    super(`mailbox ${mailbox}: cannot record a message (${reason})`);
    this.name = 'MailboxError';
    this.reason = reason;
    this.code = reason === 'no-mailbox' ? 'ENOMAILBOX' : 'EFULL';
  }
}

const int = (v: unknown, min: number): v is number => Number.isInteger(v) && (v as number) >= min;

export function validate(o: MailboxStoreOptions): MailboxStoreOptions {
  if (typeof o !== 'object' || o === null) throw new TypeError('opts: must be an object');
  if (typeof o.store?.prepare !== 'function') throw new TypeError('opts.store: must be a Store');
  if (typeof o.dir !== 'string' || o.dir === '') throw new TypeError('opts.dir: must be a non-empty string');
  if (typeof o.logger?.info !== 'function') throw new TypeError('opts.logger: must be a Logger');
  for (const k of ['mailboxQuotaMinutes', 'nodeQuotaMinutes'] as const) {
    if (!int(o[k], 1)) throw new TypeError(`opts.${k}: must be an integer >= 1`);
  }
  if (!int(o.minFreeBytes, 0)) throw new TypeError('opts.minFreeBytes: must be an integer >= 0');
  if (o.maxMessageMs !== undefined && !int(o.maxMessageMs, 1)) throw new TypeError('opts.maxMessageMs: must be an integer >= 1');
  if (o.minMessageMs !== undefined && !int(o.minMessageMs, 1)) throw new TypeError('opts.minMessageMs: must be an integer >= 1');
  if (!Array.isArray(o.mailboxes)) throw new TypeError('opts.mailboxes: must be an array');
  const seen = new Set<string>();
  o.mailboxes.forEach((m, i) => {
    const f = `opts.mailboxes[${i}]`;
    if (typeof m?.id !== 'string' || !MAILBOX_ID.test(m.id)) throw new TypeError(`${f}.id: must be a mailbox number (letters, digits, - or _)`);
    if (seen.has(m.id)) throw new TypeError(`${f}.id: mailbox ${m.id} listed twice`);
    seen.add(m.id);
    if (m.kind !== 'user' && m.kind !== 'group') throw new TypeError(`${f}.kind: must be 'user' or 'group'`);
    if (typeof m.name !== 'string') throw new TypeError(`${f}.name: must be a string`);
    if (m.pin !== undefined && (typeof m.pin !== 'string' || !/^[0-9]{1,15}$/.test(m.pin))) throw new TypeError(`${f}.pin: must be 1 to 15 digits`);
    if (m.email !== undefined && typeof m.email !== 'string') throw new TypeError(`${f}.email: must be a string`);
    if (m.quotaMinutes !== undefined && !int(m.quotaMinutes, 1)) throw new TypeError(`${f}.quotaMinutes: must be an integer >= 1`);
  });
  return o;
}

/** Makes a rename in `dir` durable (POSIX: the directory entry is data of the directory). */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
