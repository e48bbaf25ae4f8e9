/**
 * A solution as its document alone shows it, for `pbx explain` without a running node: node
 * `self`'s view and router, and the same SolutionCalls a running node explains with (calls.ts),
 * on what the document says: each number served by its home node (a hunt group by the primary),
 * and the node links the document makes (links.ts: the star or double star), whose state only a
 * running node knows. Where phones are registered and failover are left out: they change only
 * where a call goes live, which the admin API's explain shows.
 */
import type { Config } from '../core/config/index.js';
import { buildRouter } from '../features/routing/build.js';
import type { Router } from '../features/routing/router.js';
import { SolutionCalls } from './calls.js';
import type { Directory } from './directory.js';
import { nodeView, primaryOf, type SolutionDocument } from './document.js';
import { describeWay, linkedNodes } from './links.js';
import { Numbering } from './numbering.js';

export interface OfflineNode {
  /** The node's view of the document. */
  view: Config;
  /** Its router, knowing every number of the solution (as a running node's does). */
  router: Router;
  /** Where numbers served elsewhere go, and over which link. */
  solution: SolutionCalls;
}

/** Node `self` of `doc`, for explaining calls offline; throws a TypeError naming the field for an unknown node. */
export function offlineNode(doc: SolutionDocument, self: string): OfflineNode {
  const view = nodeView(doc, self);
  const c = doc.config;
  const numbering = new Numbering(doc.raw, primaryOf(c)?.name ?? c.node.name);
  const own = new Set([...view.users.map((u) => u.extension), ...view.huntGroups.map((g) => g.extension)]);
  const router = buildRouter(view, (n) => own.has(n) || numbering.owner(n) !== undefined);
  const me = c.nodes.find((n) => n.name === self)!;
  const links = linkedNodes(c.nodes, self).map((n) => ({ name: n.name, role: n.role }));
  const directory: Directory = {
    isUp: () => true,
    whereIs: () => [],
    servingNode: (number) => numbering.owner(number)?.node,
    servedBy: (name) => name,
    nodes: () => [],
  };
  const solution = new SolutionCalls({
    self,
    role: me.role,
    numbering: () => numbering,
    directory,
    links: { describe: (node) => describeWay(links, node), routes: () => [], linkOf: () => undefined },
  });
  return { view, router, solution };
}
