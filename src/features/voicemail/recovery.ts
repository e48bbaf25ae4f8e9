/**
 * What a crash leaves in the message folder, cleaned at start: recordings cut short (rows still
 * in state 'recording') are repaired and kept, or removed when they hold no audio; temporary
 * files (a greeting being recorded, audio arriving from another node) are of no use.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../core/logger.js';
import { repairWav } from '../../media/wav-repair.js';
import type { MessageRow } from './message-index.js';

export interface RecoveryContext {
  rows: MessageRow[];
  folderOf: (mailbox: string) => string;
  minMessageMs: number;
  log: Logger;
  /** A recording with audio: it becomes a new message of `durationMs`. */
  keep: (row: MessageRow, durationMs: number) => void;
  /** A recording without audio: row and file go. */
  drop: (row: MessageRow, path: string) => void;
  /** A row whose file is not a WAV we can trust: the row goes, the file stays for someone to look at. */
  forget: (row: MessageRow) => void;
}

/** Applies keep/drop/forget to every recording left by a crash; returns the rows kept. */
export function recoverRecordings(ctx: RecoveryContext): MessageRow[] {
  const kept: MessageRow[] = [];
  for (const row of ctx.rows) {
    const path = join(ctx.folderOf(row.mailbox), row.file);
    let durationMs = 0;
    if (row.file !== '' && existsSync(path)) {
      try {
        durationMs = repairWav(path).durationMs;
      } catch (err) {
        ctx.log.warn('voicemail recording left by a crash is not a valid WAV', { id: row.id, path, error: (err as Error).message });
        ctx.forget(row);
        continue;
      }
    }
    if (durationMs >= ctx.minMessageMs) {
      ctx.keep(row, durationMs);
      kept.push({ ...row, state: 'new', duration_ms: durationMs });
      ctx.log.info('voicemail: recovered message left by a crash', { id: row.id, mailbox: row.mailbox, durationMs, path });
    } else {
      ctx.drop(row, path);
      ctx.log.info('voicemail: removed empty recording left by a crash', { id: row.id, mailbox: row.mailbox });
    }
  }
  return kept;
}

/** Removes the *.tmp files under each mailbox folder of `dir`. */
export function removeStaleTemps(dir: string, log: Logger): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const folder = join(dir, entry.name);
    for (const name of readdirSync(folder)) {
      if (!name.endsWith('.tmp')) continue;
      rmSync(join(folder, name), { force: true });
      log.info('voicemail: removed stale temporary file', { path: join(folder, name) });
    }
  }
}
