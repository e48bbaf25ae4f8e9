/**
 * Backups: one folder per backup (a "file set") holding the configuration document, a copy of
 * the SQLite store made with its online backup API (the node keeps running), every voicemail
 * message and greeting, and the custom prompts the configuration names (prompt folders, queue
 * announcements, music on hold), with a manifest listing each file's size and SHA-256. The set
 * is written under a temporary name and renamed when complete, so a crash or a full disk never
 * leaves something that looks like a backup. verifyBackup() is what a restore checks first.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { copyFile, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import type { Config } from '../core/config/index.js';
import type { Store } from '../core/store.js';

export const BACKUP_FORMAT = 'pbx-core-backup';
export const BACKUP_VERSION = 1;
export const MANIFEST = 'manifest.json';

export type FileKind = 'config' | 'store' | 'voicemail' | 'prompt';

export interface ManifestFile {
  /** Path inside the set, with '/' separators. */
  path: string;
  kind: FileKind;
  bytes: number;
  sha256: string;
  /** Prompts: where the file was on the node (restored there). */
  original?: string;
}

export interface Manifest {
  format: typeof BACKUP_FORMAT;
  version: number;
  createdAt: string;
  node: { name: string; role: string; profile: string };
  /** The store's installation id: which node this set belongs to. */
  installation: string;
  /** The configuration revision in force when the set was made (0 when made offline from a file). */
  configRevision: number;
  files: ManifestFile[];
}

export interface Progress {
  phase: 'store' | 'voicemail' | 'prompts' | 'checksums';
  done: number;
  total: number;
}

export interface BackupOptions {
  config: Config;
  /** The configuration document's text. */
  configText: string;
  configRevision: number;
  store: Store;
  /** The folder the set goes into (made). */
  out: string;
  onProgress?: (p: Progress) => void;
}

async function sha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Every file under `dir` (recursively), relative to it. */
async function walk(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) for (const f of await walk(p)) out.push(join(e.name, f));
    else if (e.isFile()) out.push(e.name);
  }
  return out;
}

/** The custom prompt files a configuration names (absolute paths). */
export function customPrompts(c: Config): string[] {
  const files = new Set<string>();
  const folder = (d: string | undefined) => {
    if (d === undefined || !existsSync(resolve(d))) return;
    for (const f of readdirSyncDeep(resolve(d))) files.add(f);
  };
  folder(c.conference.promptsDir);
  folder(c.voicemail.promptsDir);
  for (const g of c.huntGroups) for (const f of [g.queue.announcement, g.queue.secondAnnouncement]) if (f !== undefined) files.add(resolve(f));
  if (c.calls.musicOnHold) files.add(resolve(c.calls.musicOnHold));
  return [...files].filter((f) => existsSync(f));
}

function readdirSyncDeep(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...readdirSyncDeep(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** Makes a backup set at `o.out`; returns its manifest. */
export async function createBackup(o: BackupOptions): Promise<Manifest> {
  const out = resolve(o.out);
  if (existsSync(out)) throw new Error(`${out} exists already: give a new folder for the backup`);
  const tmp = `${out}.partial`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  try {
    const files: ManifestFile[] = [];
    const add = async (path: string, kind: FileKind, original?: string) => {
      const abs = join(tmp, path);
      const f: ManifestFile = { path: path.split(sep).join('/'), kind, bytes: statSync(abs).size, sha256: await sha256(abs) };
      if (original !== undefined) f.original = original;
      files.push(f);
    };
    await writeFile(join(tmp, 'config.yaml'), o.configText);
    await add('config.yaml', 'config');
    await o.store.backup(join(tmp, 'store.sqlite'), (done, total) => o.onProgress?.({ phase: 'store', done, total }));
    await add('store.sqlite', 'store');
    // messages after the store: a message kept in between is an extra file, never a missing one
    const vmDir = resolve(o.config.voicemail.dir);
    const messages = (await walk(vmDir)).filter((f) => !f.endsWith('.tmp') && !f.includes(`${sep}.`) && !basename(f).startsWith('.'));
    let done = 0;
    for (const f of messages) {
      await mkdir(dirname(join(tmp, 'voicemail', f)), { recursive: true });
      await copyFile(join(vmDir, f), join(tmp, 'voicemail', f));
      await add(join('voicemail', f), 'voicemail');
      o.onProgress?.({ phase: 'voicemail', done: ++done, total: messages.length });
    }
    const prompts = customPrompts(o.config);
    done = 0;
    for (const [i, f] of prompts.entries()) {
      const name = join('prompts', `${i + 1}-${basename(f)}`);
      await mkdir(join(tmp, 'prompts'), { recursive: true });
      await copyFile(f, join(tmp, name));
      await add(name, 'prompt', f);
      o.onProgress?.({ phase: 'prompts', done: ++done, total: prompts.length });
    }
    const m: Manifest = {
      format: BACKUP_FORMAT,
      version: BACKUP_VERSION,
      createdAt: new Date().toISOString(),
      node: { name: o.config.node.name, role: o.config.node.role, profile: o.config.node.profile },
      installation: o.store.getMeta('installation.id') ?? '',
      configRevision: o.configRevision,
      files,
    };
    await writeFile(join(tmp, MANIFEST), `${JSON.stringify(m, null, 2)}\n`);
    await rename(tmp, out);
    return m;
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** Reads a set's manifest; throws an Error saying why the folder is not a backup of ours. */
export function readManifest(dir: string): Manifest {
  const path = join(resolve(dir), MANIFEST);
  let m: Manifest;
  try {
    m = JSON.parse(readFileSync(path, 'utf8')) as Manifest;
  } catch (e) {
    throw new Error(`${dir} is not a pbx-core backup: ${MANIFEST} ${existsSync(path) ? `cannot be read (${(e as Error).message})` : 'is missing'}`);
  }
  if (m?.format !== BACKUP_FORMAT) throw new Error(`${dir} is not a pbx-core backup (its manifest says format ${JSON.stringify(m?.format)})`);
  if (m.version !== BACKUP_VERSION) throw new Error(`${dir} is a backup of format version ${m.version}; this node reads version ${BACKUP_VERSION}`);
  if (!Array.isArray(m.files) || typeof m.node?.name !== 'string') throw new Error(`${dir}: the manifest has no file list or node`);
  for (const f of m.files) {
    if (typeof f.path !== 'string' || f.path.split('/').some((s) => s === '..' || s === '') || f.path.startsWith('/')) throw new Error(`${dir}: the manifest names a file outside the set: ${JSON.stringify(f.path)}`);
  }
  return m;
}

/** Every problem of a set (a file missing, of another size, with another checksum); [] when whole. */
export async function verifyBackup(dir: string, onProgress?: (p: Progress) => void): Promise<string[]> {
  const m = readManifest(dir);
  const problems: string[] = [];
  for (const kind of ['config', 'store'] as const) if (!m.files.some((f) => f.kind === kind)) problems.push(`the set has no ${kind} file`);
  let done = 0;
  for (const f of m.files) {
    const p = join(resolve(dir), ...f.path.split('/'));
    onProgress?.({ phase: 'checksums', done: done++, total: m.files.length });
    if (!existsSync(p)) {
      problems.push(`${f.path}: missing`);
      continue;
    }
    const size = (await stat(p)).size;
    if (size !== f.bytes) problems.push(`${f.path}: ${size} bytes, the manifest says ${f.bytes}`);
    else if ((await sha256(p)) !== f.sha256) problems.push(`${f.path}: checksum differs from the manifest (damaged)`);
  }
  const listed = new Set(m.files.map((f) => f.path));
  for (const f of await walk(resolve(dir))) {
    const rel = relative(resolve(dir), join(resolve(dir), f)).split(sep).join('/');
    if (rel !== MANIFEST && !listed.has(rel)) problems.push(`${rel}: not in the manifest`);
  }
  return problems;
}
