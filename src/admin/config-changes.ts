/**
 * Changing the node's configuration through the admin API: one change at a time, against the
 * revision the client read, only on the primary, written to the node's file and applied live
 * with Server.reconfigure(), then audited with the paths that changed (secrets as "changed"
 * only). In a solution the document the API edits is the solution's, on the primary: a change
 * is written to its file and published to the bus as the next revision (as SIGHUP does), so it
 * reaches every node; the answer waits until the primary itself has applied it.
 */
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { solutionFromText } from '../solution/document.js';
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

  /**
   * The document the API edits: the node's own, or (on a solution's primary) the solution's
   * document file with the bus revision; `undefined` path: a node started without a file.
   */
  #document(): { text: string; path: string | undefined; revision: number } {
    const n = this.#node;
    const sol = n.solution;
    if (sol?.role === 'primary' && sol.file !== undefined) {
      try {
        return { text: readFileSync(sol.file, 'utf8'), path: sol.file, revision: sol.revision };
      } catch (e) {
        throw new ChangeRefused(503, `the solution document ${sol.file} cannot be read (${(e as Error).message})`);
      }
    }
    return { text: n.source.text, path: n.source.path, revision: n.revision };
  }

  /** The document in force (its own text's data, secrets redacted), its revision and what waits for a restart. */
  read(): { revision: number; path: string | null; pending: string[]; document: Plain } {
    const n = this.#node;
    const d = this.#document();
    return { revision: d.revision, path: d.path ?? null, pending: [...n.pending], document: redactConfig(dataOf(d.text)) };
  }

  /** The problems of a proposed document (plain data, "[redacted]" secrets allowed); [] when it would be accepted. */
  validate(next: unknown): string[] {
    try {
      edit(this.#document().text, next, 'document');
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
    const sol = n.solution;
    if (n.config.node.role !== 'primary') {
      const where = sol ? ` (node ${sol.primary.name} at ${sol.primary.address}); it publishes every change to the whole solution` : '';
      throw new ChangeRefused(409, `this node is a ${n.config.node.role}: change the configuration on the solution's primary${where}`);
    }
    const doc = this.#document();
    if (r.revision !== undefined && r.revision !== doc.revision) {
      throw new ChangeRefused(409, `the configuration changed since revision ${r.revision} was read: it is at revision ${doc.revision} now; read it again`);
    }
    const prev = dataOf(doc.text);
    const copy = structuredClone(prev);
    const next = change(copy) ?? copy;
    const edited = edit(doc.text, next, doc.path ?? 'document');
    const changes = describeChanges(redactConfig(prev), redactConfig(dataOf(edited.text)));
    const result = sol ? await this.#publish(doc, edited.text, r) : await this.#apply(doc, edited, r);
    try {
      this.#audit.record({ actor: r.actor, address: r.address, action: r.action, target: r.target, outcome: 'ok', detail: { revision: result.revision, changes, pending: result.pending } });
    } catch (e) {
      this.#log.error(`admin: audit entry not written for revision ${result.revision}: ${(e as Error).message}`);
    }
    return { result, changes };
  }

  /** A node on its own: the file written, the document applied live (the file restored if that fails). */
  async #apply(doc: { text: string; path: string | undefined }, edited: ReturnType<typeof edit>, r: ChangeRequest): Promise<ReconfigureResult> {
    if (doc.path !== undefined) writeAtomically(doc.path, edited.text);
    try {
      return await this.#node.reconfigure(edited.config, { text: edited.text, actor: r.actor });
    } catch (e) {
      if (doc.path !== undefined) writeAtomically(doc.path, doc.text);
      this.#log.error(`admin: configuration change not applied: ${(e as Error).message}`, { actor: r.actor });
      throw new ChangeRefused(503, `the change could not be applied (${(e as Error).message}); nothing was changed`);
    }
  }

  /**
   * A solution's primary: the document file written and published as the next revision; the
   * answer is what applying it on the primary did. With the bus away nothing is written (the
   * change could not reach the other nodes).
   */
  async #publish(doc: { text: string; path: string | undefined }, text: string, r: ChangeRequest): Promise<ReconfigureResult> {
    const sol = this.#node.solution!;
    if (!sol.busConnected) throw new ChangeRefused(503, 'the solution bus is unreachable: a change could not reach the other nodes; nothing was changed');
    const parsed = solutionFromText(text, doc.path ?? 'document');
    if (doc.path !== undefined) writeAtomically(doc.path, text);
    // the primary may apply the new revision from its own watch before publish() resolves
    const before = sol.revision;
    const revision = await sol.publish(parsed);
    if (revision === undefined) {
      if (doc.path !== undefined) writeAtomically(doc.path, doc.text);
      throw new ChangeRefused(503, 'the change could not be published to the solution bus; nothing was changed');
    }
    if (revision <= before) return { status: 'unchanged', revision, applied: [], pending: [...this.#node.pending] };
    const applied = await sol.applied(revision, 10_000);
    this.#log.info('admin: configuration change published to the solution', { actor: r.actor, revision });
    if (!applied) return { status: 'applied', revision, applied: [], pending: [...this.#node.pending] };
    return { status: 'applied', revision, applied: applied.applied, pending: applied.pending };
  }
}
