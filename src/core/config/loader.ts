/**
 * Loads the one configuration document: YAML text -> schema + cross-field checks -> a frozen,
 * complete Config. A refused document reports every problem at once, each as `path: reason`,
 * so an operator fixes the file in one pass instead of one error per restart.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isNode, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { crossChecks } from './checks.js';
import { ConfigSchema, type Config } from './schema.js';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  /** Where the document came from (file path or the name given to parseConfig). */
  readonly source: string;
  /** Every problem, each `path: reason` (or `line L, column C: reason` for YAML syntax). */
  readonly problems: readonly string[];

  constructor(source: string, problems: readonly string[]) {
    const n = problems.length;
    super(`${source}: configuration refused, ${n} problem${n === 1 ? '' : 's'}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.source = source;
    this.problems = Object.freeze([...problems]);
  }
}

const MB = 1024 * 1024;
/** Bigger than any configuration of 1000 users and their dial plan by far. */
const MAX_TEXT = 16 * MB;
const MAX_ALIASES = 100;

/** Parses and validates a YAML document; throws ConfigError listing every problem. */
export function parseConfig(text: string, sourceName = '<config>'): Config {
  if (typeof text !== 'string') throw new TypeError('text: must be a string');
  if (text.length > MAX_TEXT) throw new ConfigError(sourceName, [`(document): larger than ${MAX_TEXT / MB} MB; no configuration is that big`]);
  let doc: Document;
  try {
    doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  } catch (err) {
    throw new ConfigError(sourceName, [`(document): not readable as YAML: ${(err as Error).message}`]);
  }
  if (doc.errors.length > 0) {
    throw new ConfigError(
      sourceName,
      doc.errors.map((e) => {
        const reason = e.message.split(' at line ')[0]!.trim();
        const pos = e.linePos?.[0];
        return pos ? `line ${pos.line}, column ${pos.col}: ${reason}` : reason;
      }),
    );
  }
  let raw: unknown;
  try {
    // Aliases let a few lines expand to billions of nodes ("billion laughs"): a configuration
    // needs few, and the yaml library refuses the expansion with a ReferenceError, reported here.
    raw = doc.toJS({ maxAliasCount: MAX_ALIASES }) ?? {};
  } catch (err) {
    const bomb = /alias/i.test((err as Error).message);
    throw new ConfigError(sourceName, [bomb
      ? `(document): its aliases expand too far (more than ${MAX_ALIASES} uses of an anchor's content); write the values out`
      : `(document): not readable: ${(err as Error).message}`]);
  }
  return validate(raw, sourceName, doc);
}

/**
 * Validates a document that arrives as data rather than YAML text (a solution document
 * assembled from the bus): the same schema and checks as parseConfig; throws ConfigError.
 */
export function validateConfig(raw: unknown, sourceName = '<config>'): Config {
  return validate(raw, sourceName, undefined);
}

function validate(raw: unknown, sourceName: string, doc: Document | undefined): Config {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(sourceName, ['(document): must be a mapping of sections (node, log, sip, ...)']);
  }
  const result = ConfigSchema.safeParse(raw, { error: friendlyMessage });
  const problems = result.success ? [] : result.error.issues.flatMap(describeIssue);
  for (const p of crossChecks(raw)) if (!problems.includes(p)) problems.push(p);
  if (problems.length > 0 || !result.success) throw new ConfigError(sourceName, doc ? inDocumentOrder(doc, problems) : problems);
  return deepFreeze(result.data);
}

/** Reads and validates the file at `path`; throws ConfigError listing every problem. */
export function loadConfig(path: string): Config {
  if (typeof path !== 'string' || path === '') throw new TypeError('path: must be a non-empty string');
  let text: string;
  try {
    if (statSync(path).size > MAX_TEXT) throw new Error(`larger than ${MAX_TEXT / MB} MB; no configuration is that big`);
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, [`cannot read the file: ${(err as Error).message}`]);
  }
  return parseConfig(text, path);
}

/** config/default.yaml of this package, found from src/ (tsx) and dist/src/ (compiled) alike. */
export function defaultConfigPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'config', 'default.yaml');
    const up = dirname(dir);
    if (up === dir) throw new Error('defaultConfigPath: no package.json above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += (out === '' ? '' : '.') + String(seg);
  }
  return out === '' ? '(document)' : out;
}

type Issue = z.core.$ZodIssue;
type RawIssue = z.core.$ZodRawIssue;

function friendlyMessage(iss: RawIssue): string | undefined {
  switch (iss.code) {
    case 'invalid_type':
      if (iss.input === undefined) return 'is required';
      return `must be ${iss.expected === 'object' ? 'a mapping' : iss.expected === 'array' ? 'a list' : `a ${iss.expected}`}`;
    case 'invalid_value':
      if (iss.input === undefined) return 'is required';
      return `must be one of ${iss.values.map((v) => String(v)).join(', ')}`;
    default:
      return undefined;
  }
}

function describeIssue(issue: Issue): string[] {
  if (issue.code !== 'unrecognized_keys') return [`${formatPath(issue.path)}: ${issue.message}`];
  const known = knownKeys(issue.path);
  return issue.keys.map((key) => {
    const hint = known.find((k) => similar(k, key));
    return `${formatPath([...issue.path, key])}: unknown key${hint ? ` (did you mean ${hint}?)` : ''}`;
  });
}

/** Keys the schema accepts for the object at `path`, used to suggest the intended spelling. */
function knownKeys(path: readonly PropertyKey[]): string[] {
  // Walks zod's schema definitions; wrappers (default, optional, pipe...) are looked through.
  let s: any = ConfigSchema;
  const unwrap = () => {
    for (let i = 0; i < 10 && s; i++) {
      const def = s._zod?.def;
      if (def?.innerType) s = def.innerType;
      else if (def?.type === 'pipe') s = def.in;
      else break;
    }
  };
  for (const seg of path) {
    unwrap();
    s = typeof seg === 'number' ? s?._zod?.def?.element : s?._zod?.def?.shape?.[seg as string];
  }
  unwrap();
  const shape = s?._zod?.def?.shape;
  return shape ? Object.keys(shape) : [];
}

function similar(a: string, b: string): boolean {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  if (x === y) return true;
  if (Math.abs(x.length - y.length) > 2) return false;
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const cur = [i];
    for (let j = 1; j <= y.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[y.length]! <= 2;
}

/** Sorts problems by where their path sits in the document, so they read top to bottom. */
function inDocumentOrder(doc: Document, problems: string[]): string[] {
  const offset = (problem: string): number => {
    const path = problem.slice(0, problem.indexOf(':'));
    const segs = [...path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map((m) => (m[2] !== undefined ? Number(m[2]) : m[1]!));
    // A missing node (a required key left out) sorts at its nearest existing ancestor.
    for (let n = segs.length; n > 0; n--) {
      const node = doc.getIn(segs, true);
      if (isNode(node) && node.range) return node.range[0];
      segs.pop();
    }
    return Number.MAX_SAFE_INTEGER;
  };
  return problems
    .map((p, i) => ({ p, i, at: offset(p) }))
    .sort((a, b) => a.at - b.at || a.i - b.i)
    .map((x) => x.p);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
