/**
 * Changing the node's configuration through the admin API: one change at a time, against the
 * revision the client read, only on the primary (in a solution the primary's document is the
 * one the bus hands to every node), written to the node's file and applied live with
 * Server.reconfigure(), then audited with the paths that changed (secrets as "changed" only).
 */
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from '../core/logger.js';
import type { PbxNode } from '../node.js';
import type { ReconfigureResult } from '../reconfigure.js';
import type { AuditTrail } from './audit.js';
import { ChangeRefused, dataOf, edit, redactConfig, writeAtomically } from './config-doc.js';

type Plain = Record<string, unknown>;
const isPlain = (v: unknown): v is Plain => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface ChangeRequest {
  /** The revision the client read; a change made on another one is refused (409). */
  revision: number | undefined;
  actor: string;
  address: string;
  /** For the audit trail: 'config-change', 'user-add', 'huntgroup-remove'... */
  action: string;
  target: string;
}

/** What differs between two plain documents, as `path: added | removed | changed`, at most `max` lines. */
export function describeChanges(a: unknown, b: unknown, path = '', out: string[] = [], max = 50): string[] {
  if (out.length >= max || isDeepStrictEqual(a, b)) return out;
  const keyOf = (v: unknown) => (isPlain(v) ? ['extension', 'name', 'id'].map((k) => v[k]).find((x) => typeof x === 'string') : undefined);
  if (isPlain(a) && isPlain(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) describeChanges(a[k], b[k], path ? `${path}.${k}` : k, out, max);
  } else if (Array.isArray(a) && Array.isArray(b) && [...a, ...b].every((x) => keyOf(x) !== undefined)) {
    // lists of named things (users, hunt groups, rooms): by name, so one removal is one line
    const name = (v: unknown) => keyOf(v)!;
    for (const x of a) if (!b.some((y) => name(y) === name(x))) out.push(`${path}[${name(x)}]: removed`);
    for (const y of b) {
      const x = a.find((v) => name(v) === name(y));
      if (x === undefined) out.push(`${path}[${name(y)}]: added`);
      else describeChanges(x, y, `${path}[${name(y)}]`, out, max);
    }
  } else {
    out.push(`${path || '(document)'}: ${a === undefined ? 'added' : b === undefined ? 'removed' : 'changed'}`);
  }
  return out.slice(0, max);
}

export class ConfigChanges {
  readonly #node: PbxNode;
  readonly #audit: AuditTrail;
  readonly #log: Logger;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(node: PbxNode, audit: AuditTrail, log: Logger) {
    this.#node = node;
    this.#audit = audit;
    this.#log = log;
  }

  /** The document in force (its own text's data, secrets redacted), its revision and what waits for a restart. */
  read(): { revision: number; path: string | null; pending: string[]; document: Plain } {
    const n = this.#node;
    return { revision: n.revision, path: n.source.path ?? null, pending: [...n.pending], document: redactConfig(dataOf(n.source.text)) };
  }

  /** The problems of a proposed document (plain data, "[redacted]" secrets allowed); [] when it would be accepted. */
  validate(next: unknown): string[] {
    try {
      edit(this.#node.source.text, next, 'document');
      return [];
    } catch (e) {
      if (e instanceof ChangeRefused) return [...e.problems];
      throw e;
    }
  }

  /**
   * Makes `change` to a copy of the document's data (it returns the new data, or changes the
   * copy and returns undefined) and applies it. Throws ChangeRefused (409, 422, 503).
   */
  change(r: ChangeRequest, change: (data: Plain) => Plain | undefined): Promise<{ result: ReconfigureResult; changes: string[] }> {
    const run = this.#queue.then(() => this.#change(r, change));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #change(r: ChangeRequest, change: (data: Plain) => Plain | undefined): Promise<{ result: ReconfigureResult; changes: string[] }> {
    const n = this.#node;
    if (n.config.node.role !== 'primary') {
      throw new ChangeRefused(409, `this node is a ${n.config.node.role}: change the configuration on the solution's primary`);
    }
    if (n.config.nodes.length > 0) {
      // the document is the whole solution's; the API edits only a node's own document for now
      throw new ChangeRefused(409, 'this node is part of a solution: edit the solution document on the primary and send it SIGHUP to publish it');
    }
    if (r.revision !== undefined && r.revision !== n.revision) {
      throw new ChangeRefused(409, `the configuration changed since revision ${r.revision} was read: it is at revision ${n.revision} now; read it again`);
    }
    const before = n.source.text;
    const prev = dataOf(before);
    const copy = structuredClone(prev);
    const next = change(copy) ?? copy;
    const edited = edit(before, next, n.source.path ?? 'document');
    const changes = describeChanges(redactConfig(prev), redactConfig(dataOf(edited.text)));
    const path = n.source.path;
    if (path !== undefined) writeAtomically(path, edited.text);
    let result: ReconfigureResult;
    try {
      result = await n.reconfigure(edited.config, { text: edited.text, actor: r.actor });
    } catch (e) {
      if (path !== undefined) writeAtomically(path, before);
      this.#log.error(`admin: configuration change not applied: ${(e as Error).message}`, { actor: r.actor });
      throw new ChangeRefused(503, `the change could not be applied (${(e as Error).message}); nothing was changed`);
    }
    try {
      this.#audit.record({ actor: r.actor, address: r.address, action: r.action, target: r.target, outcome: 'ok', detail: { revision: result.revision, changes, pending: result.pending } });
    } catch (e) {
      this.#log.error(`admin: audit entry not written for revision ${result.revision}: ${(e as Error).message}`);
    }
    return { result, changes };
  }
}
