/**
 * Per-object validation of the documents a node follows. Each revision on the bus differs from
 * the last in a few objects, and 32 nodes on shared cores each validating 1000 users, 32 nodes
 * and every section at every change was what a change cost. So a node validates only what
 * changed: an object of a list (a user, a trunk, a node, a hunt group) whose entry is new or
 * different, a section whose value is; the rest is the parsed object of the last document that
 * passed. Of the checks across fields, only those that read a changed top-level key run (each
 * check names what it reads: CROSS_CHECKS). The outcome is the one validateConfig gives: a
 * document with any problem goes through validateConfig for its complete report by path, and
 * the last accepted document stays the reference for the next one.
 */
import { isDeepStrictEqual } from 'node:util';
import type { z } from 'zod';
import { ConfigSchema, validateConfig, type Config } from '../core/config/index.js';
import { checksFor } from '../core/config/checks.js';
import { isRecord, type Raw } from '../core/config/fields.js';
import { UserSchema } from '../core/config/schema.js';
import { TrunkSchema } from '../core/config/trunk-schema.js';
import { HuntGroupSchema } from '../core/config/huntgroup-schema.js';
import { SolutionNodeSchema } from '../core/config/solution-schema.js';

/** Lists whose elements are validated one by one (the list schemas add nothing to their elements'). */
const ELEMENTS: Readonly<Record<string, z.ZodType>> = { users: UserSchema, trunks: TrunkSchema, huntGroups: HuntGroupSchema, nodes: SolutionNodeSchema };

const SHAPE = ConfigSchema.shape as Readonly<Record<string, z.ZodType>>;
const KEYS = Object.keys(SHAPE);

/** What validating a document did. */
export interface Validation {
  readonly config: Config;
  /** What was parsed again: sections by key, list elements as `users[2105]` (index, or the name when it has one). */
  readonly parsed: readonly string[];
  /** The cross-checks that ran (by name). */
  readonly checks: readonly string[];
  /** The document went through validateConfig whole (one with a problem). */
  readonly whole: boolean;
}

/** Parsed list elements, by the object (a bus entry's value is reused while unchanged) and by JSON text. */
interface ElementCache {
  byObject: WeakMap<object, { value: unknown; text: string }>;
  byText: Map<string, unknown>;
}

export class DocumentValidator {
  #last: { raw: Raw; config: Config } | undefined;
  #elements = new Map<string, ElementCache>();

  /** `raw` validated, with what it took; throws ConfigError listing every problem (the last accepted document stays). */
  validate(raw: unknown, source: string): Validation {
    const last = this.#last;
    if (!isRecord(raw) || Object.keys(raw).some((k) => !Object.hasOwn(SHAPE, k))) return this.#whole(raw, source);
    const changed = new Set(KEYS.filter((k) => !last || !isDeepStrictEqual(raw[k], last.raw[k])));
    const parsed: string[] = [];
    const out: Record<string, unknown> = {};
    const elements = new Map<string, ElementCache>();
    for (const k of KEYS) {
      if (!changed.has(k)) {
        out[k] = (last!.config as Record<string, unknown>)[k];
        const kept = this.#elements.get(k);
        if (kept) elements.set(k, kept);
        continue;
      }
      const schema = ELEMENTS[k];
      if (schema && Array.isArray(raw[k])) {
        const cache: ElementCache = { byObject: new WeakMap(), byText: new Map() };
        const items = parseElements(k, raw[k] as unknown[], schema, this.#elements.get(k), cache, parsed);
        if (!items) return this.#whole(raw, source);
        elements.set(k, cache);
        out[k] = items;
        continue;
      }
      const r = SHAPE[k]!.safeParse(raw[k]);
      if (!r.success) return this.#whole(raw, source);
      out[k] = freeze(r.data);
      parsed.push(k);
    }
    const checks = checksFor(changed);
    if (checks.some((c) => c.run(raw).length > 0)) return this.#whole(raw, source);
    const config = Object.freeze(out) as Config;
    this.#last = { raw, config };
    this.#elements = elements;
    return { config, parsed, checks: checks.map((c) => c.name), whole: false };
  }

  /** validateConfig on the whole document: its complete report, or the reference for the next one. */
  #whole(raw: unknown, source: string): Validation {
    const config = validateConfig(raw, source);
    this.#last = { raw: raw as Raw, config };
    this.#elements = new Map();
    return { config, parsed: ['(document)'], checks: ['(all)'], whole: true };
  }
}

/** The elements of list `key` parsed, reusing those of the last document; undefined on any problem. */
function parseElements(key: string, items: unknown[], schema: z.ZodType, before: ElementCache | undefined, cache: ElementCache, parsed: string[]): unknown[] | undefined {
  const out: unknown[] = [];
  for (const [i, item] of items.entries()) {
    const isObject = typeof item === 'object' && item !== null;
    const known = isObject ? before?.byObject.get(item) : undefined;
    const text = known?.text ?? JSON.stringify(item);
    let value = known?.value ?? before?.byText.get(text);
    if (value === undefined) {
      const r = schema.safeParse(item);
      if (!r.success) return undefined;
      value = freeze(r.data);
      const name = isRecord(item) ? (item.extension ?? item.name) : undefined;
      parsed.push(`${key}[${typeof name === 'string' ? name : i}]`);
    }
    if (isObject) cache.byObject.set(item, { value, text });
    cache.byText.set(text, value);
    out.push(value);
  }
  return Object.freeze(out) as unknown[];
}

function freeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) freeze(v);
  }
  return value;
}
