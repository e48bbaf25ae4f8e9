/**
 * The configuration document as the admin API edits it. A change is made to the document's
 * plain data (a user added, a section replaced), then written into the YAML text with the
 * smallest edit that gives that data, so the file keeps its comments and layout; the new text
 * goes through the same loader as a file (every problem named by its path), is written to the
 * node's file (atomically: a full disk leaves the old file), and applied with
 * Server.reconfigure(). Secrets never leave: passwords and PINs read as "[redacted]", and
 * "[redacted]" written back stands for the value already there.
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { isCollection, isMap, isSeq, parseDocument, type Document, type YAMLSeq } from 'yaml';
import { ConfigError, parseConfig, type Config } from '../core/config/index.js';
import { isSecretKey, REDACTED } from '../core/logger.js';

type Plain = Record<string, unknown>;
const isPlain = (v: unknown): v is Plain => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Configuration keys whose values are secret: passwords, the nonce secret, PINs. */
export function isConfigSecret(key: string): boolean {
  return isSecretKey(key) || /pin$/i.test(key);
}

/** A deep copy of `v` with every secret value replaced by "[redacted]". */
export function redactConfig<T>(v: T): T {
  if (Array.isArray(v)) return v.map((x) => redactConfig(x)) as T;
  if (!isPlain(v)) return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, isConfigSecret(k) && typeof x === 'string' ? REDACTED : redactConfig(x)])) as T;
}

/** The item of `prev` that `item` stands for: same extension, name or id, else the same index. */
function counterpart(prev: unknown[], item: unknown, i: number): unknown {
  if (isPlain(item)) {
    for (const k of ['extension', 'name', 'id']) {
      if (typeof item[k] === 'string') {
        const found = prev.find((p) => isPlain(p) && p[k] === item[k]);
        if (found !== undefined) return found;
      }
    }
  }
  return prev[i];
}

/**
 * Puts back the secrets that `next` holds as "[redacted]" from `prev`; returns the problems
 * (a "[redacted]" with nothing to stand for), each `path: reason`.
 */
export function restoreSecrets(next: unknown, prev: unknown, path = ''): string[] {
  const problems: string[] = [];
  if (Array.isArray(next)) {
    next.forEach((item, i) => {
      const p = Array.isArray(prev) ? counterpart(prev, item, i) : undefined;
      problems.push(...restoreSecrets(item, p, `${path}[${i}]`));
    });
  } else if (isPlain(next)) {
    for (const [k, v] of Object.entries(next)) {
      const at = path === '' ? k : `${path}.${k}`;
      const old = isPlain(prev) ? prev[k] : undefined;
      if (isConfigSecret(k) && v === REDACTED) {
        if (typeof old === 'string') next[k] = old;
        else problems.push(`${at}: "${REDACTED}" stands for the value already set, and there is none: give the value`);
      } else {
        problems.push(...restoreSecrets(v, old, at));
      }
    }
  }
  return problems;
}

/** Edits `doc` so its data becomes `b` (it is `a` now), touching only what differs. */
function sync(doc: Document, path: (string | number)[], a: unknown, b: unknown): void {
  if (isDeepStrictEqual(a, b)) return;
  const node = path.length === 0 ? doc.contents : doc.getIn(path, true);
  if (isPlain(a) && isPlain(b) && isMap(node)) {
    for (const k of Object.keys(a)) if (!(k in b)) doc.deleteIn([...path, k]);
    for (const [k, v] of Object.entries(b)) {
      if (k in a) sync(doc, [...path, k], a[k], v);
      else doc.setIn([...path, k], doc.createNode(v));
    }
    return;
  }
  if (Array.isArray(a) && Array.isArray(b) && isSeq(node)) syncList(doc, path, node, a, b);
  else if (path.length === 0) doc.contents = doc.createNode(b) as Document['contents'];
  else if (b === undefined) doc.deleteIn(path);
  else doc.setIn(path, doc.createNode(b));
}

/** A list: removed items deleted by their name, the rest synced in place, new ones appended in the style of their neighbours. */
function syncList(doc: Document, path: (string | number)[], node: YAMLSeq, a: unknown[], b: unknown[]): void {
  // items removed: those whose name (extension, name, id) is gone, so the others keep their lines
  const key = (v: unknown) => (isPlain(v) ? ['extension', 'name', 'id'].map((k) => v[k]).find((x) => typeof x === 'string') : undefined);
  for (let i = a.length - 1; i >= 0 && a.length > b.length; i--) {
    const k = key(a[i]);
    if (k !== undefined && !b.some((x) => key(x) === k)) {
      doc.deleteIn([...path, i]);
      a = a.filter((_, j) => j !== i);
    }
  }
  if (a.length > b.length) {
    doc.setIn(path, doc.createNode(b));
    return;
  }
  for (let i = 0; i < a.length; i++) sync(doc, [...path, i], a[i], b[i]);
  for (let i = a.length; i < b.length; i++) {
    const added = doc.createNode(b[i]);
    const last = node.items[node.items.length - 1];
    if (isCollection(added) && isCollection(last) && last.flow) added.flow = true;
    node.add(added);
  }
}

export class ChangeRefused extends Error {
  override readonly name = 'ChangeRefused';
  /** HTTP status: 409 stale revision or not the primary, 422 invalid document, 503 the file could not be written. */
  readonly status: number;
  readonly problems: readonly string[];
  constructor(status: number, message: string, problems: readonly string[] = []) {
    super(message);
    this.status = status;
    this.problems = problems;
  }
}

/** The data of a YAML text (what its sections say, before defaults). */
export function dataOf(text: string): Plain {
  const v: unknown = parseDocument(text).toJS() ?? {};
  return isPlain(v) ? v : {};
}

/**
 * The text `next` (plain data, secrets possibly "[redacted]") gives when written into `text`,
 * and the validated configuration; throws ChangeRefused 422 listing every problem.
 */
export function edit(text: string, next: unknown, source: string): { text: string; config: Config } {
  if (!isPlain(next)) throw new ChangeRefused(422, 'configuration refused', ['(document): must be a mapping of sections (node, sip, users, ...)']);
  const prev = dataOf(text);
  const data = structuredClone(next);
  const missing = restoreSecrets(data, prev);
  const doc = parseDocument(text);
  sync(doc, [], prev, data);
  const out = doc.toString();
  let config: Config;
  try {
    config = parseConfig(out, source);
  } catch (e) {
    if (e instanceof ConfigError) throw new ChangeRefused(422, 'configuration refused', [...e.problems, ...missing]);
    throw e;
  }
  if (missing.length) throw new ChangeRefused(422, 'configuration refused', missing);
  return { text: out, config };
}

/** Replaces `path` with `text` so that a crash or a full disk leaves either the old file or the new one. */
export function writeAtomically(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new ChangeRefused(503, `the configuration file could not be written (${(e as Error).message}); nothing was changed`);
  }
}
