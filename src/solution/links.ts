/**
 * The node links of this node, generated from the document's nodes: a star (each expansion to
 * the primary) or, with a secondary, a double star (each expansion to both cores, and the
 * primary to the secondary). Every link authenticates both ways with digest: credentials per
 * link derived from the bus password and the two node names (so every node computes them from
 * the one document, and no two links share them), accepted only from the peer's SIP address.
 * Calls between two expansions cross a core.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { LinksConfig, SolutionNodeConfig } from '../core/config/index.js';
import type { Logger } from '../core/logger.js';
import type { CallLink, LinkRequest, LinkRoute } from '../features/calls/index.js';
import { DigestServer } from '../sip/auth/digest.js';
import type { SipRequest, SipResponse } from '../sip/message/message.js';
import type { SipStack } from '../sip/stack.js';
import type { ServerTransaction } from '../sip/transaction/server.js';
import type { Source } from '../sip/transport/types.js';
import { Link, type LinkState, type LinkStatus } from './link.js';

export type { LinkState, LinkStatus } from './link.js';

/** The realm of the links' challenges (phones never see it). */
export const LINK_REALM = 'pbx-node-links';

/** The nodes `self` has a link to: the star or double star of the solution. */
export function linkedNodes(nodes: readonly SolutionNodeConfig[], self: string): SolutionNodeConfig[] {
  const me = nodes.find((n) => n.name === self);
  if (!me) return [];
  if (me.role === 'expansion') return nodes.filter((n) => n.role !== 'expansion');
  return nodes.filter((n) => n.name !== self);
}

/** A link as explain names it: the node at its other end, that node's role, and the link's state when known. */
export interface LinkWay {
  readonly name: string;
  readonly role: string;
  readonly state?: LinkState;
}

/**
 * The way a call to `node` takes over `links` (a node's links): its own link, else through the
 * cores (two expansions), each link with its state when known (a running node; not offline).
 */
export function describeWay(links: readonly LinkWay[], node: string): string {
  const named = (l: LinkWay) => `link ${l.name}${l.state === undefined ? '' : ` (${l.state})`}`;
  const direct = links.find((l) => l.name === node);
  if (direct) return `over ${named(direct)}`;
  const via = ['primary', 'secondary'].flatMap((role) => links.filter((l) => l.role === role));
  if (via.length === 0) return 'no link reaches it';
  return via.map((l) => `through node ${l.name} over ${named(l)}`).join(', else ');
}

/**
 * The password of the link between nodes `a` and `b` (either order): from the bus password, so
 * only holders of the document know it; a solution without one (loopback or a closed lab, as
 * `pbx check` allows) still gets per-link credentials, from the names alone.
 */
export function linkPassword(busPassword: string | null, a: string, b: string): string {
  return createHmac('sha256', busPassword ?? 'pbx-core node links').update(`node link ${[a, b].sort().join(' ')}`).digest('base64url');
}

export interface NodeLinksOptions {
  stack: SipStack;
  logger: Logger;
  /** This node's name. */
  self: string;
  nodes: readonly SolutionNodeConfig[];
  busPassword: string | null;
  config: LinksConfig;
  /** A link went up or down. */
  onState?: (link: string, state: LinkState) => void;
}

export class NodeLinks {
  readonly #o: NodeLinksOptions;
  readonly #links = new Map<string, Link>();
  readonly #digest: DigestServer;
  #nodes: readonly SolutionNodeConfig[];
  #config: LinksConfig;
  #busPassword: string | null;
  #started = false;
  #closed = false;

  constructor(o: NodeLinksOptions) {
    if (typeof o?.self !== 'string' || o.self === '') throw new TypeError('self: must be a node name');
    if (!Array.isArray(o.nodes)) throw new TypeError('nodes: must be the solution\'s nodes');
    this.#o = o;
    this.#nodes = o.nodes;
    this.#config = o.config;
    this.#busPassword = o.busPassword;
    // nonces are checked by the node that made them: a secret of this process is enough. The nodes
    // answer SHA-256 (link.ts); MD5 is offered first for tools that answer only the first (sipp)
    this.#digest = new DigestServer({ realm: LINK_REALM, secret: randomBytes(32), nonceLifetimeMs: 300_000, algorithms: ['MD5', 'SHA-256'] });
    this.#build();
  }

  start(): void {
    this.#started = true;
    for (const l of this.#links.values()) l.start();
  }

  close(): void {
    this.#closed = true;
    for (const l of this.#links.values()) l.close();
  }

  /**
   * A new revision's nodes, bus password or link settings: links to nodes gone are closed, links
   * to new nodes (or whose address or credentials changed) are made; the others go on.
   */
  update(nodes: readonly SolutionNodeConfig[], busPassword: string | null, config: LinksConfig): void {
    if (this.#closed) return;
    const rebuildAll = busPassword !== this.#busPassword || !isDeepStrictEqual(config, this.#config);
    if (!rebuildAll && isDeepStrictEqual(nodes, this.#nodes)) return;
    this.#nodes = nodes;
    this.#busPassword = busPassword;
    this.#config = config;
    const wanted = new Map(linkedNodes(nodes, this.#o.self).map((n) => [n.name, n]));
    for (const [name, l] of this.#links) {
      if (rebuildAll || !isDeepStrictEqual(wanted.get(name), l.peer)) {
        l.close();
        this.#links.delete(name);
        this.#o.logger.info('solution: node link removed', { link: name });
      }
    }
    this.#build();
  }

  #build(): void {
    const me = this.#nodes.find((n) => n.name === this.#o.self);
    if (!me) return;
    for (const peer of linkedNodes(this.#nodes, this.#o.self)) {
      if (this.#links.has(peer.name)) continue;
      const link = new Link({
        stack: this.#o.stack, logger: this.#o.logger, self: me.name, selfAddress: me.sip.address ?? me.address, peer,
        password: linkPassword(this.#busPassword, me.name, peer.name), config: this.#config,
        onState: (l, s) => this.#o.onState?.(l.name, s),
      });
      this.#links.set(peer.name, link);
      if (this.#started && !this.#closed) link.start();
    }
  }

  /** The link to `node`, if this node has one. */
  get(node: string): Link | undefined {
    return this.#links.get(node);
  }

  /**
   * Routes to `node` for `request`, best first, over links that are up: the node's own link, else
   * (two expansions) through the primary, then the secondary.
   */
  routes(node: string, request: LinkRequest): LinkRoute[] {
    const direct = this.#links.get(node);
    const via = direct ? [direct] : ['primary', 'secondary'].flatMap((role) => [...this.#links.values()].filter((l) => l.peer.role === role));
    return via.filter((l) => l.state === 'up').map((l) => l.route(request));
  }

  /** The way a call to `node` takes from here, with each link's state (explain): its own link, else through the cores. */
  describe(node: string): string {
    return describeWay([...this.#links.values()].map((l) => ({ name: l.name, role: l.peer.role, state: l.state })), node);
  }

  /**
   * The link a request comes from: the linked node whose SIP address it was sent from (its port
   * too when several nodes share an address: links use UDP from the nodes' own SIP ports).
   */
  linkOf(source: Source): CallLink | undefined {
    const at = [...this.#links.values()].filter((l) => l.destination.address === source.address);
    const link = at.length > 1 ? at.find((l) => l.destination.port === source.port) : at[0];
    if (!link) return undefined;
    return { peer: link.name, authenticate: (req, src) => this.#authenticate(link, req, src) };
  }

  /** An OPTIONS from a linked node is a keepalive: answered only with the link's credentials. */
  onOptions(req: SipRequest, tx: ServerTransaction): boolean {
    const link = this.linkOf(tx.source);
    const refused = link?.authenticate(req, tx.source);
    if (!refused) return false;
    this.#o.stack.respond(tx, refused);
    return true;
  }

  #authenticate(link: Link, req: SipRequest, source: Source): SipResponse | undefined {
    const stack = this.#o.stack;
    const user = `link-${link.name}`;
    const password = linkPassword(this.#busPassword, this.#o.self, link.name);
    const r = this.#digest.verify(req.method, req.uriText, req.get('proxy-authorization'), (u) => (u === user ? password : undefined));
    if (r.ok) return undefined;
    if (r.reason === 'bad-response' || r.reason === 'unknown-user') {
      this.#o.logger.warn('security: node link credentials refused', { link: link.name, address: source.address, user: r.username, method: req.method, callId: req.callId });
      return stack.createResponse(req, 403, 'Forbidden (node link credentials refused)');
    }
    const res = stack.createResponse(req, 407);
    res.set('proxy-authenticate', this.#digest.challenge(r.reason === 'stale'));
    return res;
  }

  status(): LinkStatus[] {
    return [...this.#links.values()].map((l) => l.status());
  }
}
