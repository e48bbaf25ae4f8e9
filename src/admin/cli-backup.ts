/**
 * `pbx backup` and `pbx restore` for the command line: progress on standard error (one line
 * rewritten at a terminal, a line per tenth otherwise), the result or the refusal on its own.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Config } from '../core/config/index.js';
import { createBackup, type Progress } from './backup.js';
import { backupName } from './backup-schedule.js';
import { restoreBackup, RestoreRefused } from './restore.js';

function progressPrinter(): { update: (p: Progress) => void; end: () => void } {
  const tty = process.stderr.isTTY === true;
  let last = '';
  let lastTenth = -1;
  return {
    update(p) {
      const tenth = p.total ? Math.floor((10 * p.done) / p.total) : 10;
      const line = `${p.phase}: ${p.done} / ${p.total}`;
      if (tty) process.stderr.write(`\r${line.padEnd(last.length)}`);
      else if (`${p.phase}${tenth}` !== `${last.split(':')[0]}${lastTenth}`) process.stderr.write(`${line}\n`);
      last = line;
      lastTenth = tenth;
    },
    end() {
      if (tty && last) process.stderr.write('\n');
    },
  };
}

export async function backupCommand(config: Config, configFile: string, out: string | undefined): Promise<number> {
  const { Store } = await import('../core/store.js');
  const { ConfigRevisions, digestOf } = await import('../core/config/revisions.js');
  const storePath = config.storage.path;
  if (storePath === ':memory:' || !existsSync(resolve(storePath))) {
    console.error(`pbx backup: no store at ${resolve(storePath)} (storage.path): has this node ever run?`);
    return 1;
  }
  const target = out ?? join(resolve(config.admin.backup.dir), backupName(config.node.name));
  const text = readFileSync(configFile, 'utf8');
  const store = Store.open(storePath);
  const progress = progressPrinter();
  try {
    const latest = new ConfigRevisions(store).latest();
    const m = await createBackup({
      config, configText: text, store, out: target, onProgress: progress.update,
      configRevision: latest && latest.digest === digestOf(text) ? latest.revision : 0,
    });
    progress.end();
    const bytes = m.files.reduce((a, f) => a + f.bytes, 0);
    const count = (k: string) => m.files.filter((f) => f.kind === k).length;
    console.log(`backup of node ${m.node.name}: ${target}\n  ${m.files.length} files, ${(bytes / 1048576).toFixed(1)} MB: configuration, store, ${count('voicemail')} voicemail files, ${count('prompt')} custom prompts`);
    return 0;
  } catch (e) {
    progress.end();
    console.error(`pbx backup: ${(e as Error).message}`);
    return 1;
  } finally {
    store.close();
  }
}

export async function restoreCommand(o: { from: string; config: string; storage?: string; voicemailDir?: string; force: boolean }): Promise<number> {
  const progress = progressPrinter();
  try {
    const r = await restoreBackup({ from: o.from, config: o.config, storagePath: o.storage, voicemailDir: o.voicemailDir, force: o.force, onProgress: progress.update });
    progress.end();
    console.log(`node ${r.manifest.node.name} restored from ${o.from} (made ${r.manifest.createdAt}): ${r.files} files\n  configuration: ${resolve(o.config)}\n  store: ${resolve(r.config.storage.path)}\n  voicemail: ${resolve(r.config.voicemail.dir)}\nstart it with: pbx start --config ${o.config}`);
    return 0;
  } catch (e) {
    progress.end();
    if (!(e instanceof RestoreRefused) && !/not a pbx-core backup|format version|manifest/.test((e as Error).message)) throw e;
    console.error(`pbx restore: refused: ${(e as Error).message}`);
    return 1;
  }
}
