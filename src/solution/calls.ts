/**
 * The solution as the calls feature sees it (its CallSolution): which node serves a number (the
 * directory's answer, from the numbering and where phones are registered), where the services
 * that run once per solution are (hunt groups, meet-me rooms and every mailbox on the primary),
 * which nodes have a line group's trunks, and the node links that reach them.
 */
import type { CallLink, CallSolution, LinkRequest, LinkRoute } from '../features/calls/index.js';
import type { ExplainSolution } from '../features/routing/explain.js';
import type { Source } from '../sip/transport/types.js';
import type { Directory } from './directory.js';
import type { NodeLinks } from './links.js';
import type { Numbering } from './numbering.js';

export interface SolutionCallsOptions {
  /** This node's name and role. */
  self: string;
  role: string;
  /** The numbering in force (it changes with each revision). */
  numbering: () => Numbering;
  directory: Directory;
  /** The node links (offline: the links the document makes, without their state). */
  links: Pick<NodeLinks, 'routes' | 'describe' | 'linkOf'>;
}

export class SolutionCalls implements CallSolution, ExplainSolution {
  readonly #o: SolutionCallsOptions;

  constructor(o: SolutionCallsOptions) {
    this.#o = o;
  }

  servedElsewhere(number: string): string | undefined {
    const node = this.#o.directory.servingNode(number);
    return node === this.#o.self ? undefined : node;
  }

  registeredElsewhere(user: string): boolean {
    return this.#o.directory.whereIs(user).some((n) => n !== this.#o.self);
  }

  /**
   * The node running what runs once in the solution, when that is not this one: the primary, or
   * its backup while that serves the primary's users (failover).
   */
  get #central(): string | undefined {
    const at = this.#o.directory.servedBy(this.#o.numbering().primary);
    return at === this.#o.self ? undefined : at;
  }

  get voicemailNode(): string | undefined {
    return this.#central;
  }

  get meetMeNode(): string | undefined {
    return this.#central;
  }

  get huntGroupNode(): string | undefined {
    return this.#central;
  }

  hasMailbox(mailbox: string): boolean {
    return this.#o.numbering().owner(mailbox) !== undefined;
  }

  lineGroupNodes(lineGroup: number): string[] {
    return this.#o.numbering().lineGroupNodes(lineGroup).filter((n) => n !== this.#o.self);
  }

  routes(node: string, request: LinkRequest): LinkRoute[] {
    return this.#o.links.routes(node, request);
  }

  served(number: string): string | undefined {
    const node = this.servedElsewhere(number);
    return node === undefined ? undefined : `served by node ${node}, ${this.#o.links.describe(node)}`;
  }

  lineGroup(lineGroup: number): string | undefined {
    const nodes = this.lineGroupNodes(lineGroup);
    return nodes.length === 0 ? undefined : nodes.map((n) => `the trunks of node ${n}, ${this.#o.links.describe(n)}`).join('; ');
  }

  linkOf(source: Source): CallLink | undefined {
    return this.#o.links.linkOf(source);
  }
}
