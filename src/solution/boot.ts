/**
 * Which configuration a node starts on. The primary starts on its document file (it is the
 * source; it publishes it). Any other node starts on the revision it applied last, kept in its
 * store, when it has one (the bus is the truth, the file only tells it how to reach the bus);
 * else on its file. Either way it then follows the bus.
 */
import { ConfigError, type Config } from '../core/config/index.js';
import type { Logger } from '../core/logger.js';
import { Store } from '../core/store.js';
import { AppliedStore } from './applied.js';
import { nodeEntry, nodeView, readSolution, solutionFromRaw, type SolutionDocument } from './document.js';

export interface NodeBoot {
  /** The node's name in the document. */
  node: string;
  /** The document's file (the primary's is the solution's: SIGHUP and the admin API publish it). */
  file: string;
  /** The document it starts on. */
  document: SolutionDocument;
  /** The node's view of it: what the Server runs on. */
  view: Config;
  /** Its revision (0: the file, not yet published). */
  revision: number;
  source: 'file' | 'store';
  /** The last revision this node stored (the primary publishes above it). */
  storedRevision: number;
}

/** Reads `file` and the node's store; throws ConfigError or a TypeError naming --node. */
export function bootNode(file: string, node: string, logger: Logger): NodeBoot {
  const fromFile = readSolution(file);
  const me = nodeEntry(fromFile.config, node);
  const view = nodeView(fromFile, node);
  const store = Store.open(view.storage.path);
  let stored;
  try {
    stored = new AppliedStore(store).load();
  } finally {
    store.close();
  }
  const storedRevision = stored?.revision ?? 0;
  if (me.role === 'primary' || !stored || stored.hash === fromFile.hash) {
    const revision = stored && stored.hash === fromFile.hash ? stored.revision : 0;
    return { node, file, document: fromFile, view, revision, source: 'file', storedRevision };
  }
  try {
    const document = solutionFromRaw(stored.document, `stored revision ${stored.revision}`);
    return { node, file, document, view: nodeView(document, node), revision: stored.revision, source: 'store', storedRevision };
  } catch (e) {
    const problems = e instanceof ConfigError ? e.problems : [(e as Error).message];
    logger.error('solution: the stored revision cannot be used, starting on the file', { revision: stored.revision, problems });
    return { node, file, document: fromFile, view, revision: 0, source: 'file', storedRevision };
  }
}
