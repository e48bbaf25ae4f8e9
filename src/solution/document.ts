/**
 * The solution document and each node's part of it. One YAML document defines every node and
 * everything solution-wide; a node runs on its *view*: the document's sections with its own
 * overrides merged in, its sockets and folders derived from its entry, the users homed on it,
 * the trunks on it, and the hunt groups if it is the primary (they run there). A document
 * without `nodes:` is a one-node solution whose view is the document itself.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ConfigError, ConfigSchema, parseConfig, validateConfig, type Config, type SolutionNodeConfig } from '../core/config/index.js';
import { deepMerge, isRecord, type Raw } from '../core/config/fields.js';
import { NODE_SECTIONS } from '../core/config/solution-schema.js';
import { splitDocument } from './entries.js';
import type { DocumentValidator } from './validator.js';

export interface SolutionDocument {
  /** The document as written (before defaults): what the primary publishes, object by object. */
  readonly raw: Readonly<Raw>;
  /** The validated document. */
  readonly config: Config;
  /** Identifies the content (the digests of its objects); equal documents have equal hashes. */
  readonly hash: string;
}

/** Reads and validates a document file; throws ConfigError listing every problem. */
export function readSolution(path: string): SolutionDocument {
  if (typeof path !== 'string' || path === '') throw new TypeError('path: must be a non-empty string');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, [`cannot read the file: ${(err as Error).message}`]);
  }
  return solutionFromText(text, path);
}

export function solutionFromText(text: string, source: string): SolutionDocument {
  const config = parseConfig(text, source);
  const raw = (parse(text) ?? {}) as Raw;
  return { raw: freeze(raw), config, hash: splitDocument(raw).hash };
}

/**
 * A document that arrived as data (assembled from the bus, or stored); throws ConfigError.
 * `o.hash`: its hash when known (the manifest's); `o.owned`: `raw` is the caller's to keep
 * (frozen here, not copied); `o.validator`: validates it against the last document it accepted,
 * object by object (validator.ts).
 */
export function solutionFromRaw(raw: unknown, source: string, o: { hash?: string; owned?: boolean; validator?: DocumentValidator } = {}): SolutionDocument {
  const kept = o.owned ? (raw as Raw) : structuredClone(raw as Raw);
  const config = o.validator ? o.validator.validate(kept, source).config : validateConfig(kept, source);
  return { raw: freeze(kept), config, hash: o.hash ?? splitDocument(kept).hash };
}

/** The nodes' names, the primary first. */
export function nodeNames(doc: SolutionDocument): string[] {
  const nodes = doc.config.nodes;
  return nodes.length === 0 ? [doc.config.node.name] : [...nodes].sort((a, b) => Number(b.role === 'primary') - Number(a.role === 'primary')).map((n) => n.name);
}

/** The primary's entry; undefined for a one-node document. */
export function primaryOf(config: Config): SolutionNodeConfig | undefined {
  return config.nodes.find((n) => n.role === 'primary');
}

/** The entry of node `name`; throws a TypeError naming the field when there is none. */
export function nodeEntry(config: Config, name: string): SolutionNodeConfig {
  const entry = config.nodes.find((n) => n.name === name);
  if (!entry) throw new TypeError(`node: no node named ${JSON.stringify(name)} in the solution (nodes: ${config.nodes.map((n) => n.name).join(', ')})`);
  return entry;
}

/** The home node of a user or trunk entry: its `node`, else the primary. */
export function homeOf(config: Config, entry: { node?: string | undefined }): string {
  return entry.node ?? primaryOf(config)?.name ?? config.node.name;
}

/**
 * Node `name`'s view of the document: a complete configuration that a Server runs on. For a
 * one-node document the name may be left out (or must be that node's).
 */
export function nodeView(doc: SolutionDocument, name?: string): Config {
  const c = doc.config;
  if (c.nodes.length === 0) {
    if (name !== undefined && name !== c.node.name) throw new TypeError(`node: this document is the one node ${c.node.name}, not ${name}`);
    return c;
  }
  if (name === undefined) throw new TypeError(`node: a solution document needs --node NAME (nodes: ${c.nodes.map((n) => n.name).join(', ')})`);
  const me = nodeEntry(c, name);
  const dataDir = me.dataDir ?? join('var', me.name);
  const view: Raw = {};
  for (const section of NODE_SECTIONS) view[section] = structuredClone(deepMerge(c[section], me.overrides[section]));
  const over = me.overrides;
  const sip = view.sip as Raw;
  if (over.sip?.listen === undefined) {
    const address = me.sip.address ?? me.address;
    sip.listen = [
      { transport: 'udp', address, port: me.sip.port },
      { transport: 'tcp', address, port: me.sip.port },
    ];
  }
  if (field2(over.media, 'address') === undefined) (view.media as Raw).address = me.mediaAddress ?? me.address;
  if (field2(over.storage, 'path') === undefined) (view.storage as Raw).path = join(dataDir, 'pbx.sqlite');
  if (field2(over.voicemail, 'dir') === undefined) (view.voicemail as Raw).dir = join(dataDir, 'voicemail');
  view.node = { name: me.name, role: me.role, profile: me.profile };
  // only what is the node's own is parsed here (its sections with its overrides, its entry): the
  // rest is the document's, validated already, and the same objects (a revision that changes
  // none of this node's parts gives a view equal to the last at little cost)
  const shape = ConfigSchema.shape as Record<string, { parse(v: unknown): unknown }>;
  for (const k of Object.keys(view)) view[k] = shape[k]!.parse(view[k]);
  view.users = c.users.filter((u) => homeOf(c, u) === me.name);
  view.trunks = c.trunks.filter((t) => homeOf(c, t) === me.name);
  view.huntGroups = me.role === 'primary' ? c.huntGroups : [];
  view.dialPlan = c.dialPlan;
  view.nodes = c.nodes;
  view.bus = c.bus;
  view.failover = c.failover;
  view.links = c.links;
  return freeze(view as Config);
}

/** Where node `name` keeps its data (database, voicemail, bus store). */
export function dataDirOf(config: Config, name: string): string {
  const me = nodeEntry(config, name);
  return me.dataDir ?? join('var', me.name);
}

function field2(v: unknown, key: string): unknown {
  return isRecord(v) ? v[key] : undefined;
}

function freeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) freeze(v);
  }
  return value;
}

/**
 * A node view as the text its configuration history keeps: JSON, which reads as YAML too (the
 * admin API and backups parse it as such), and costs a fraction of YAML's stringify.
 */
export function viewText(view: Config): string {
  return `${JSON.stringify(view, null, 2)}\n`;
}
