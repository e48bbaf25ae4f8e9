/**
 * Scheduled local backups of a running node: every admin.backup.everyHours a new set under
 * admin.backup.dir (named by node and time, so they sort by age), then the oldest scheduled
 * sets beyond admin.backup.keep are removed. A failed backup (a full disk) is logged and raises
 * an alarm; the next one runs on schedule.
 */
import { readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from '../core/logger.js';
import type { PbxNode } from '../node.js';
import { createBackup, readManifest, type Manifest } from './backup.js';

/** `pbx-backup-node1-2026-12-03T08-30-00.123Z`: sorts by time within a node. */
export function backupName(node: string, at = new Date()): string {
  return `pbx-backup-${node}-${at.toISOString().replace(/:/g, '-')}`;
}

export class BackupSchedule {
  readonly #n: PbxNode;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<Manifest | undefined> | undefined;
  #closed = false;

  constructor(n: PbxNode, log: Logger) {
    this.#n = n;
    this.#log = log;
  }

  start(): void {
    const hours = this.#n.started.admin.backup.everyHours;
    if (hours <= 0) return;
    this.#timer = setInterval(() => void this.runNow(), hours * 3_600_000);
    this.#timer.unref();
  }

  /** Makes a backup now and applies the retention; resolves undefined when it failed (logged). */
  runNow(): Promise<Manifest | undefined> {
    this.#running ??= this.#run().finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #run(): Promise<Manifest | undefined> {
    const n = this.#n;
    const b = n.started.admin.backup;
    const dir = resolve(b.dir);
    const out = join(dir, backupName(n.config.node.name));
    try {
      const m = await createBackup({ config: n.config, configText: n.source.text, configRevision: n.revision, store: n.store, out });
      this.#log.info(`backup made: ${out}`, { files: m.files.length, bytes: m.files.reduce((a, f) => a + f.bytes, 0) });
      n.alarms.clear('backup-failed');
      await this.#prune(dir, b.keep);
      return m;
    } catch (e) {
      if (this.#closed) return undefined;
      this.#log.error(`backup failed: ${(e as Error).message}`, { out });
      n.alarms.raise('backup-failed', { severity: 'major', message: `the scheduled backup into ${dir} failed: ${(e as Error).message}` });
      return undefined;
    }
  }

  async #prune(dir: string, keep: number): Promise<void> {
    const prefix = `pbx-backup-${this.#n.config.node.name}-`;
    const sets = readdirSync(dir).filter((f) => f.startsWith(prefix) && !f.endsWith('.partial')).sort();
    for (const old of sets.slice(0, Math.max(0, sets.length - keep))) {
      try {
        readManifest(join(dir, old)); // only ever remove what is one of our sets
        await rm(join(dir, old), { recursive: true, force: true });
        this.#log.info(`old backup removed: ${old}`);
      } catch (e) {
        this.#log.warn(`not removing ${old}: ${(e as Error).message}`);
      }
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#running?.catch(() => undefined);
  }
}
