/**
 * Building blocks shared by the configuration's schema files (zod fields with our messages) and
 * by the cross checks (reading the raw document without trusting its shape).
 */
import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';

/** The message for a wrong value, or 'is required' when the key is absent. */
export function need(message: string) {
  return (issue: { input?: unknown }) => (issue.input === undefined ? 'is required' : message);
}

export function int(min: number, max: number) {
  const error = need(`must be an integer ${min}..${max}`);
  return z.int({ error }).min(min, { error }).max(max, { error });
}

export const nonEmpty = z.string({ error: need('must be a non-empty string') }).min(1, { error: 'must be a non-empty string' });

/** A name of letters, digits, "-" or "_" (nodes, trunks, forms, profiles). */
export const NAME_ERROR = 'must be a name of letters, digits, "-" or "_" (1..32)';
export const name = z.string({ error: need(NAME_ERROR) }).regex(/^[A-Za-z0-9_-]{1,32}$/, { error: NAME_ERROR });

export type Raw = Record<string, unknown>;

export function isRecord(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `v[key]` when v is an object, else undefined. */
export function field(v: unknown, key: string): unknown {
  return isRecord(v) ? v[key] : undefined;
}

/** `v` when it is an array, else []. */
export function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/**
 * `over` merged onto `base` for per-node overrides: mappings merged key by key, anything else
 * (lists, scalars) replaced. Neither input is changed.
 */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isRecord(base) || !isRecord(over)) return over === undefined ? base : over;
  const out: Raw = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = deepMerge(base[k], v);
  return out;
}

/** True for 127.0.0.0/8, ::1 and IPv4-mapped 127.x; wildcards (0.0.0.0, ::) are not loopback. */
export function isLoopback(address: string): boolean {
  if (isIPv4(address)) return address.startsWith('127.');
  if (!isIPv6(address)) return false;
  const a = address.toLowerCase();
  if (a === '::1' || a === '0:0:0:0:0:0:0:1') return true;
  // IPv4-mapped form (::ffff:127.0.0.1) binds the IPv4 loopback.
  const v4 = a.startsWith('::ffff:') ? a.slice(7) : '';
  return isIPv4(v4) && v4.startsWith('127.');
}

const DEMO_PASSWORDS = new Set(Array.from({ length: 10 }, (_, i) => `demo${201 + i}`));

export function isDemoPassword(extension: unknown, password: unknown): boolean {
  if (typeof password !== 'string') return false;
  return DEMO_PASSWORDS.has(password) || (typeof extension === 'string' && password === `demo${extension}`);
}

/**
 * A check across fields, with the top-level keys of the document it reads: a document that
 * differs from one that passed only in other keys passes it too, so a node applying a revision
 * runs only the checks that read what changed (src/solution/validator.ts).
 */
export interface CrossCheck {
  readonly name: string;
  readonly reads: readonly string[];
  run(doc: Raw): string[];
}
