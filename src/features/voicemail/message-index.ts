/**
 * The index of voicemail messages in SQLite: one row per message (and per recording in
 * progress), with the statements the message store runs. Each message has a `uid` that names it
 * on every node (the row id is this node's own), so a message copied to another core keeps its
 * name there and later changes to it (saved, deleted) are applied by that name.
 */
import { randomBytes } from 'node:crypto';
import type { Store } from '../../core/store.js';

export type MessageRow = {
  id: number; uid: string; mailbox: string; caller: string; caller_name: string; received_at: number; duration_ms: number;
  reserved_ms: number; state: 'recording' | 'new' | 'saved'; file: string;
};

const MIGRATIONS = [
  `CREATE TABLE voicemail_messages (id INTEGER PRIMARY KEY, mailbox TEXT NOT NULL, caller TEXT NOT NULL,
     caller_name TEXT NOT NULL, received_at INTEGER NOT NULL, duration_ms INTEGER NOT NULL DEFAULT 0,
     reserved_ms INTEGER NOT NULL DEFAULT 0, file TEXT NOT NULL,
     state TEXT NOT NULL CHECK (state IN ('recording', 'new', 'saved')));
   CREATE INDEX voicemail_messages_by_mailbox ON voicemail_messages (mailbox, state, received_at);`,
  // messages kept before there were names across nodes get one now
  `ALTER TABLE voicemail_messages ADD COLUMN uid TEXT;
   UPDATE voicemail_messages SET uid = lower(hex(randomblob(16)));
   CREATE UNIQUE INDEX voicemail_messages_by_uid ON voicemail_messages (uid);`,
];

/** A new message name: 32 hex digits, unique across nodes (random). */
export function newUid(): string {
  return randomBytes(16).toString('hex');
}

export function messageIndex(s: Store) {
  s.migrate('voicemail', MIGRATIONS);
  return {
    get: s.prepare<[number], MessageRow>('SELECT * FROM voicemail_messages WHERE id = ?'),
    byUid: s.prepare<[string], MessageRow>('SELECT * FROM voicemail_messages WHERE uid = ?'),
    list: s.prepare<[string], MessageRow>(
      `SELECT * FROM voicemail_messages WHERE mailbox = ? AND state IN ('new', 'saved')
       ORDER BY state = 'saved', received_at, id`,
    ),
    recording: s.prepare<[], MessageRow>(`SELECT * FROM voicemail_messages WHERE state = 'recording' ORDER BY id`),
    usage: s.prepare<[string], { state: MessageRow['state']; n: number; ms: number }>(
      `SELECT state, COUNT(*) AS n, SUM(CASE state WHEN 'recording' THEN reserved_ms ELSE duration_ms END) AS ms
       FROM voicemail_messages WHERE mailbox = ? GROUP BY state`,
    ),
    mailboxesWithMessages: s.prepare<[], { mailbox: string }>('SELECT DISTINCT mailbox FROM voicemail_messages'),
    insert: s.prepare<[string, string, string, string, number, number], { id: number }>(
      `INSERT INTO voicemail_messages (uid, mailbox, caller, caller_name, received_at, reserved_ms, state, file)
       VALUES (?, ?, ?, ?, ?, ?, 'recording', '') RETURNING id`,
    ),
    /** A message copied from another node: complete, with its audio already in place. */
    insertCopy: s.prepare<[string, string, string, string, number, number, MessageRow['state'], string]>(
      `INSERT INTO voicemail_messages (uid, mailbox, caller, caller_name, received_at, duration_ms, state, file)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    setFile: s.prepare<[string, number]>('UPDATE voicemail_messages SET file = ? WHERE id = ?'),
    setState: s.prepare<[MessageRow['state'], number, number]>('UPDATE voicemail_messages SET state = ?, duration_ms = ? WHERE id = ?'),
    remove: s.prepare<[number]>('DELETE FROM voicemail_messages WHERE id = ?'),
  };
}

export type MessageIndex = ReturnType<typeof messageIndex>;
