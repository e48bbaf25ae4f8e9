/**
 * Restoring a backup set onto a node that is not running: every file checked against the
 * manifest first (a damaged set changes nothing), refused when it belongs to another node (a
 * configuration or store of another node at the target) or would overwrite a node without
 * --force; then the custom prompts, the configuration (with this machine's store and voicemail
 * locations when given), the store (checked by SQLite before it takes the place of any other)
 * and the voicemail files.
 */
import { copyFile, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { parseDocument } from 'yaml';
import { ConfigError, parseConfig, type Config } from '../core/config/index.js';
import { readManifest, verifyBackup, type Manifest, type Progress } from './backup.js';
import { dataOf, writeAtomically } from './config-doc.js';

export class RestoreRefused extends Error {
  override readonly name = 'RestoreRefused';
  readonly kind: 'damaged' | 'foreign' | 'exists' | 'config';
  readonly problems: readonly string[];
  constructor(kind: RestoreRefused['kind'], message: string, problems: readonly string[] = []) {
    super(problems.length ? `${message}:\n${problems.map((p) => `  - ${p}`).join('\n')}` : message);
    this.kind = kind;
    this.problems = problems;
  }
}

export interface RestoreOptions {
  /** The backup set's folder. */
  from: string;
  /** Where the node's configuration is written. */
  config: string;
  /** This machine's store file (written into the configuration); default: the set's storage.path. */
  storagePath?: string;
  /** This machine's voicemail folder (written into the configuration); default: the set's voicemail.dir. */
  voicemailDir?: string;
  /** Replace a configuration or store of the same node that is already there. */
  force?: boolean;
  onProgress?: (p: Progress) => void;
}

export interface RestoreResult {
  manifest: Manifest;
  config: Config;
  files: number;
}

function installationOf(path: string): string | undefined {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare("SELECT value FROM meta WHERE key = 'installation.id'").get() as { value: string } | undefined)?.value;
  } catch {
    return undefined;
  } finally {
    db.close();
  }
}

export async function restoreBackup(o: RestoreOptions): Promise<RestoreResult> {
  const from = resolve(o.from);
  const m = readManifest(from);
  const damaged = await verifyBackup(from, o.onProgress);
  if (damaged.length) throw new RestoreRefused('damaged', `${o.from} is damaged; nothing was restored`, damaged);
  const file = (path: string) => join(from, ...path.split('/'));

  // the configuration as it will be: the set's, with this machine's locations
  const doc = parseDocument(await readFile(file(m.files.find((f) => f.kind === 'config')!.path), 'utf8'));
  if (o.storagePath !== undefined) doc.setIn(['storage', 'path'], resolve(o.storagePath));
  if (o.voicemailDir !== undefined) doc.setIn(['voicemail', 'dir'], resolve(o.voicemailDir));
  const text = doc.toString();
  const prompts = new Set(m.files.filter((f) => f.kind === 'prompt').map((f) => f.original));
  let config: Config;
  try {
    config = parseConfig(text, `${o.from}/config.yaml`);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    // the prompts it names come back with it
    const real = e.problems.filter((p) => ![...prompts].some((f) => f !== undefined && p.endsWith(`file not found: ${f}`)));
    if (real.length) throw new RestoreRefused('config', 'the set\'s configuration is refused here', real);
    config = undefined as unknown as Config;
  }

  if (existsSync(o.config)) {
    // the node a configuration is for, even when it does not load here (a file it names is missing)
    const raw = dataOf(await readFile(o.config, 'utf8')).node;
    const name = raw && typeof raw === 'object' && typeof (raw as { name?: unknown }).name === 'string' ? (raw as { name: string }).name : 'node1';
    if (name !== m.node.name) {
      throw new RestoreRefused('foreign', `the set is a backup of node ${m.node.name}, and ${o.config} is the configuration of node ${name}; nothing was restored`);
    }
    if (!o.force) throw new RestoreRefused('exists', `${o.config} exists: this restores node ${m.node.name} over it only with --force (stop the node first)`);
  }
  const storePath = resolve(o.storagePath ?? (doc.getIn(['storage', 'path']) as string | undefined) ?? 'var/pbx.sqlite');
  if (existsSync(storePath)) {
    const there = installationOf(storePath);
    if (there !== undefined && there !== m.installation) {
      throw new RestoreRefused('foreign', `${storePath} is the store of another installation (${there}); the set is of ${m.node.name} (${m.installation}); nothing was restored`);
    }
    if (!o.force) throw new RestoreRefused('exists', `${storePath} exists: this restores node ${m.node.name} over it only with --force (stop the node first)`);
  }

  let files = 0;
  for (const f of m.files.filter((x) => x.kind === 'prompt')) {
    await mkdir(dirname(f.original!), { recursive: true });
    await copyFile(file(f.path), f.original!);
    files++;
  }
  config ??= parseConfig(text, `${o.from}/config.yaml`);
  await mkdir(dirname(resolve(o.config)), { recursive: true });
  writeAtomically(resolve(o.config), text);
  files++;

  const store = m.files.find((f) => f.kind === 'store')!;
  const tmp = `${storePath}.restoring`;
  await mkdir(dirname(storePath), { recursive: true });
  await copyFile(file(store.path), tmp);
  const db = new Database(tmp);
  const check = (db.pragma('integrity_check') as { integrity_check: string }[])[0]?.integrity_check;
  db.close();
  if (check !== 'ok') {
    await rm(tmp, { force: true });
    throw new RestoreRefused('damaged', `the set's store fails SQLite's integrity check (${check})`);
  }
  for (const extra of ['-wal', '-shm']) await rm(`${storePath}${extra}`, { force: true });
  await rename(tmp, storePath);
  files++;

  const vmDir = resolve(config.voicemail.dir);
  const messages = m.files.filter((f) => f.kind === 'voicemail');
  let done = 0;
  for (const f of messages) {
    const to = join(vmDir, ...f.path.split('/').slice(1));
    await mkdir(dirname(to), { recursive: true });
    await copyFile(file(f.path), to);
    files++;
    o.onProgress?.({ phase: 'voicemail', done: ++done, total: messages.length });
  }
  return { manifest: m, config, files };
}
