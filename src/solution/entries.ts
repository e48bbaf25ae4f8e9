/**
 * A document as bus entries: one per object (a user, a hunt group, a trunk, a node, an ARS
 * form, a room, a section), keyed by what names it (`users.201`, `trunks.carrier`,
 * `dialPlan.shortCodes.3`), plus a manifest that lists every key in document order with the
 * digest of its entry. A node assembles a document only when every entry it holds matches the
 * manifest, so a document is never read half-written.
 */
import { createHash } from 'node:crypto';
import { isRecord, type Raw } from '../core/config/fields.js';

/** One object of the document: where it sits, and the object. */
export interface Entry {
  /** Path of the section or list it belongs to (e.g. ['users'], ['dialPlan', 'arsForms'], ['sip']). */
  readonly at: readonly string[];
  /** true: an element of the list at `at`; false: the mapping at `at` (its lists left out). */
  readonly list: boolean;
  readonly value: unknown;
}

export interface Manifest {
  /** The document revision: increases by one at each publication. */
  readonly revision: number;
  /** Hash of the content (from the digests). */
  readonly hash: string;
  /** Every key, in document order. */
  readonly order: readonly string[];
  /** Digest of each key's encoded entry. */
  readonly digests: Readonly<Record<string, string>>;
  /** Who published it, and when (ISO time). */
  readonly publisher: string;
  readonly publishedAt: string;
}

/** Lists split into one entry per element, with the field that names an element. */
const LISTS: Record<string, string | undefined> = {
  users: 'extension',
  huntGroups: 'extension',
  trunks: 'name',
  nodes: 'name',
  'dialPlan.shortCodes': undefined,
  'dialPlan.timeProfiles': 'name',
  'dialPlan.userRights': 'name',
  'dialPlan.arsForms': 'name',
  'dialPlan.incomingCallRoutes': undefined,
  'dialPlan.callClasses': 'name',
  'conference.rooms': 'id',
};

const KEY_PART = /^[-_=a-zA-Z0-9]{1,64}$/;

export function digest(text: string): string {
  return createHash('sha256').update(text).digest('base64url').slice(0, 22);
}

/** The document's entries (encoded as they go on the bus), in document order, and its hash. */
export function splitDocument(raw: Raw): { entries: Map<string, string>; hash: string } {
  const entries = new Map<string, string>();
  const put = (key: string, e: Entry) => entries.set(key, JSON.stringify(e));
  const splitList = (path: string, items: unknown[]) => {
    const idField = LISTS[path];
    const used = new Set<string>();
    items.forEach((item, i) => {
      const id = idField && isRecord(item) ? item[idField] : undefined;
      // an id that cannot be a key part, or a repeated one, falls back to the position
      const part = typeof id === 'string' && KEY_PART.test(id) && !used.has(id) ? id : `${i}`;
      used.add(part);
      put(`${path}.${part}`, { at: path.split('.'), list: true, value: item });
    });
  };
  for (const [key, value] of Object.entries(raw)) {
    if (Array.isArray(value) && key in LISTS) {
      if (value.length === 0) put(`${key}._empty`, { at: [key], list: false, value: [] });
      else splitList(key, value);
    } else if (isRecord(value) && Object.keys(LISTS).some((l) => l.startsWith(`${key}.`))) {
      const rest: Raw = {};
      const lists: [string, unknown[]][] = [];
      for (const [k, v] of Object.entries(value)) {
        if (Array.isArray(v) && `${key}.${k}` in LISTS) lists.push([`${key}.${k}`, v]);
        else rest[k] = v;
      }
      put(key, { at: [key], list: false, value: rest });
      for (const [path, items] of lists) {
        // an empty list must survive the trip: it replaces the schema's default (dialPlan.shortCodes)
        if (items.length === 0) put(`${path}._empty`, { at: path.split('.'), list: false, value: [] });
        else splitList(path, items);
      }
    } else {
      put(key, { at: [key], list: false, value });
    }
  }
  return { entries, hash: hashOf([...entries].map(([k, v]) => [k, digest(v)])) };
}

export function hashOf(digests: Iterable<[string, string]>): string {
  return digest([...digests].map(([k, d]) => `${k}=${d}`).join('\n'));
}

/** Parsed entries by key, with the text each was parsed from (a follower keeps one across revisions). */
export type EntryCache = Map<string, { text: string; entry: Entry }>;

/**
 * The document of `manifest` from the entries held (encoded as on the bus), or undefined while
 * an entry is missing or differs from the manifest (the rest of it is still on its way).
 * `digests`: the entries' digests when the caller keeps them; `cache`: entries parsed for the
 * last documents, reused while their text is the same, so an unchanged object is the same
 * (frozen) value in every document assembled (what per-object validation recognises).
 */
export function assembleDocument(manifest: Manifest, held: ReadonlyMap<string, string>, digests?: ReadonlyMap<string, string>, cache?: EntryCache): Raw | undefined {
  const doc: Raw = {};
  for (const key of manifest.order) {
    const text = held.get(key);
    // a follower digests each entry once, when it arrives
    if (text === undefined || (digests?.get(key) ?? digest(text)) !== manifest.digests[key]) return undefined;
    let known = cache?.get(key);
    if (known?.text !== text) {
      known = { text, entry: deepFreeze(JSON.parse(text) as Entry) };
      cache?.set(key, known);
    }
    const e = known.entry;
    let parent: Raw = doc;
    for (const seg of e.at.slice(0, -1)) {
      if (!isRecord(parent[seg])) parent[seg] = {};
      parent = parent[seg] as Raw;
    }
    const last = e.at[e.at.length - 1]!;
    if (e.list) {
      if (!Array.isArray(parent[last])) parent[last] = [];
      (parent[last] as unknown[]).push(e.value);
    } else if (Array.isArray(e.value)) {
      parent[last] = [];
    } else if (isRecord(e.value)) {
      // a copy: the lists of the section (entries of their own) go into it
      parent[last] = { ...e.value, ...(isRecord(parent[last]) ? (parent[last] as Raw) : {}) };
    } else {
      parent[last] = e.value;
    }
  }
  return doc;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
