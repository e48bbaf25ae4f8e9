/**
 * Mailbox greetings: each mailbox's own recording in `<dir>/<mailbox>/greeting.wav`. A greeting
 * is recorded to greeting.tmp and renamed over greeting.wav, so a caller hears the old greeting
 * or the new one, never half of one. Whether a mailbox has its own greeting is the existence of
 * its greeting.wav, read once and then kept in memory.
 */
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Journal } from '../../core/journal.js';
import { repairWav } from '../../media/wav-repair.js';
import { writeFileDurably } from './replica-files.js';
import { fsyncDir } from './store-types.js';

const GREETING = 'greeting.wav';
const GREETING_TMP = 'greeting.tmp';

export class Greetings {
  readonly #folder: (mailbox: string) => string;
  readonly #journal: Journal | undefined;
  readonly #own = new Set<string>();

  constructor(folder: (mailbox: string) => string, journal: Journal | undefined) {
    this.#folder = folder;
    this.#journal = journal;
  }

  /** Notes the greetings of configured mailboxes found on disk (at start, and for mailboxes added later). */
  scan(mailboxes: Iterable<string>): void {
    for (const id of mailboxes) if (!this.#own.has(id) && existsSync(join(this.#folder(id), GREETING))) this.#own.add(id);
  }

  /** The mailbox's own greeting, or undefined when callers hear the default one. */
  path(mailbox: string): string | undefined {
    return this.#own.has(mailbox) ? join(this.#folder(mailbox), GREETING) : undefined;
  }

  /** The greeting file of `mailbox` if there is one, configured here or not (replication reads it). */
  file(mailbox: string): string | undefined {
    const path = join(this.#folder(mailbox), GREETING);
    return existsSync(path) ? path : undefined;
  }

  /** Where to record a new greeting (its folder is created). */
  tempPath(mailbox: string): string {
    const folder = this.#folder(mailbox);
    mkdirSync(folder, { recursive: true });
    return join(folder, GREETING_TMP);
  }

  /** Puts the recording at tempPath() in force (flushed, then renamed); throws when it holds no audio. */
  commit(mailbox: string): { durationMs: number } {
    const folder = this.#folder(mailbox);
    const tmp = join(folder, GREETING_TMP);
    const { durationMs } = repairWav(tmp); // validates and fsyncs the audio before the rename
    if (durationMs === 0) {
      rmSync(tmp, { force: true });
      throw new Error(`mailbox ${mailbox}: the greeting recording ${tmp} holds no audio`);
    }
    renameSync(tmp, join(folder, GREETING));
    fsyncDir(folder);
    this.#own.add(mailbox);
    this.#journal?.append('vm.greeting', { mailbox });
    return { durationMs };
  }

  /** Back to the default greeting; false when the mailbox had none of its own. */
  remove(mailbox: string): boolean {
    const had = this.#own.delete(mailbox);
    rmSync(join(this.#folder(mailbox), GREETING), { force: true });
    this.#journal?.append('vm.greeting-removed', { mailbox });
    return had;
  }

  /** A greeting recorded on another node (its bytes, or undefined: removed there); `configured`: callers hear it here. */
  applyCopy(mailbox: string, audio: Uint8Array | undefined, configured: boolean): void {
    const folder = this.#folder(mailbox);
    if (audio === undefined) {
      this.#own.delete(mailbox);
      rmSync(join(folder, GREETING), { force: true });
      return;
    }
    mkdirSync(folder, { recursive: true });
    writeFileDurably(join(folder, GREETING), audio);
    if (configured) this.#own.add(mailbox);
  }
}
