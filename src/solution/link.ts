/**
 * One node link: a SIP trunk from this node to another node of the solution. It knows where the
 * peer listens, answers the peer's digest challenges with the link's credentials, and keeps
 * itself alive with OPTIONS: the link is up while the peer answers them (after checking our
 * credentials), down when it refuses them or leaves several in a row unanswered. Its calls are counted.
 */
import type { LinksConfig, SolutionNodeConfig } from '../core/config/index.js';
import type { Logger } from '../core/logger.js';
import { DigestClient } from '../sip/auth/digest.js';
import { SipRequest } from '../sip/message/message.js';
import { SipStack } from '../sip/stack.js';
import type { Target } from '../sip/transport/types.js';
import type { ClientCredentials } from '../sip/ua/challenge.js';
import { ClientRequest } from '../sip/ua/client-request.js';
import { encodeLinkRequest, LINK_HEADER, linkUser, type LinkRequest, type LinkRoute } from '../features/calls/index.js';
import { quote } from '../sip/message/grammar.js';

/** Keepalives unanswered in a row that take a link that is up down (each one asked again at once). */
const MISSES_BEFORE_DOWN = 3;

/** connecting: no keepalive answered yet; up: the peer answers and takes our credentials; down. */
export type LinkState = 'connecting' | 'up' | 'down';

export interface LinkStatus {
  /** The node at the far end. */
  node: string;
  role: string;
  state: LinkState;
  /** When the state last changed (ISO time). */
  since: string;
  /** The peer's SIP address. */
  address: string;
  /** Calls this node has out over the link now. */
  calls: number;
  lastError?: string;
}

export interface LinkOptions {
  stack: SipStack;
  logger: Logger;
  /** This node's name (the digest user is `link-<name>`). */
  self: string;
  /** This node's SIP address (From of our requests). */
  selfAddress: string;
  peer: SolutionNodeConfig;
  /** The link's password (links.ts derives it from the bus password and the two names). */
  password: string;
  config: LinksConfig;
  /** The state changed. */
  onState: (link: Link, state: LinkState) => void;
}

export class Link {
  readonly peer: SolutionNodeConfig;
  readonly destination: Target;
  /** The link's credentials, answering SHA-256 challenges only. */
  readonly credentials: ClientCredentials;
  readonly #o: LinkOptions;
  #state: LinkState = 'connecting';
  #since = Date.now();
  #lastError: string | undefined;
  #calls = 0;
  #timer: NodeJS.Timeout | undefined;
  #answerTimer: NodeJS.Timeout | undefined;
  #probe: ClientRequest | undefined;
  /** Probes unanswered in a row. */
  #misses = 0;
  #closed = false;

  constructor(o: LinkOptions) {
    this.#o = o;
    this.peer = o.peer;
    this.destination = { protocol: 'udp', address: o.peer.sip.address ?? o.peer.address, port: o.peer.sip.port };
    const digest = new DigestClient(`link-${o.self}`, o.password);
    this.credentials = {
      authorize: (challenge, method, uri) => (/algorithm\s*=\s*"?SHA-256"?\s*(,|$)/i.test(challenge) ? digest.authorize(challenge, method, uri) : undefined),
    };
  }

  get name(): string {
    return this.peer.name;
  }

  get state(): LinkState {
    return this.#state;
  }

  get calls(): number {
    return this.#calls;
  }

  start(): void {
    if (this.#closed || this.#timer) return;
    this.#timer = setInterval(() => this.#keepalive(), this.#o.config.keepaliveSeconds * 1000);
    this.#keepalive();
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    clearTimeout(this.#answerTimer);
    this.#probe?.abandon();
  }

  /** A channel for a call out over the link; false while the link is not up. */
  acquire(): boolean {
    if (this.#closed || this.#state !== 'up') return false;
    this.#calls++;
    return true;
  }

  release(): void {
    if (this.#calls > 0) this.#calls--;
  }

  /** A route over this link for `request` (the number comes with each call). */
  route(request: LinkRequest): LinkRoute {
    const link = this;
    const o = this.#o;
    const header = encodeLinkRequest(request);
    const peerHost = `${this.destination.address.includes(':') ? `[${this.destination.address}]` : this.destination.address}:${this.destination.port}`;
    const selfHost = o.selfAddress.includes(':') ? `[${o.selfAddress}]` : o.selfAddress;
    return {
      name: `link-${this.peer.name}`,
      peer: this.peer.name,
      destination: this.destination,
      lineGroup: request.service.kind === 'line' ? request.service.lineGroup : 0,
      up: () => !link.#closed && link.#state === 'up',
      config: { setupTimeoutSeconds: o.config.setupTimeoutSeconds, allowTrunkToTrunk: true },
      digest: this.credentials,
      acquire: () => link.acquire(),
      release: () => link.release(),
      target: () => Promise.resolve(link.destination),
      requestUri: (number) => `sip:${linkUser(number)}@${peerHost}`,
      identity: (caller) => {
        // the link is trusted: the true caller always, and Privacy: id when it is withheld from the callee
        const who = `${caller.name ? `${quote(caller.name)} ` : ''}<sip:${caller.number || 'anonymous'}@${selfHost}>`;
        const headers: Record<string, string> = { 'P-Asserted-Identity': who, [LINK_HEADER]: header };
        if (caller.withheld) headers.Privacy = 'id';
        return { from: `${who};tag=${SipStack.tag()}`, headers };
      },
    };
  }

  status(): LinkStatus {
    const s: LinkStatus = {
      node: this.peer.name, role: this.peer.role, state: this.#state, since: new Date(this.#since).toISOString(),
      address: `${this.destination.address}:${this.destination.port}`, calls: this.#calls,
    };
    if (this.#lastError !== undefined) s.lastError = this.#lastError;
    return s;
  }

  /**
   * One OPTIONS at a time: a probe waiting for its answer goes on (retransmitting) until it is
   * answered or its answer time is over, and the keepalive that falls meanwhile sends nothing
   * (it used to replace the probe and its answer timer, so a link whose keepalive is shorter
   * than its answer time never went down). A link goes down on a refusal at once, but on
   * silence only after MISSES_BEFORE_DOWN probes in a row went unanswered, each missed one asked
   * again at once: on a lossy path (each probe needs two round trips, the challenge and the
   * answer) one lost packet too many no longer takes the link down and refuses its calls.
   */
  #keepalive(): void {
    if (this.#closed || this.#probe) return;
    const o = this.#o;
    const req = new SipRequest('OPTIONS', `sip:link@${this.destination.address.includes(':') ? `[${this.destination.address}]` : this.destination.address}:${this.destination.port}`);
    req.set('from', `<sip:link-${o.self}@${o.selfAddress}>;tag=${SipStack.tag()}`).set('to', `<sip:link-${this.peer.name}@${this.destination.address}>`);
    req.set('call-id', SipStack.callId()).set('cseq', '1 OPTIONS').set('max-forwards', '70');
    const probe: ClientRequest = new ClientRequest(o.stack, req, {
      onFinal: (res, authFailure) => {
        if (!this.#settle(probe)) return;
        if (res.status >= 200 && res.status < 300) {
          this.#misses = 0;
          return this.#set('up');
        }
        const why = authFailure !== undefined || res.status === 403 || res.status === 401 || res.status === 407
          ? `node ${this.peer.name} refused the link's credentials (${res.status})` : `OPTIONS answered ${res.status}`;
        this.#set('down', why);
      },
      onFailure: (reason) => {
        if (this.#settle(probe)) this.#missed(reason === 'timeout' ? 'OPTIONS timed out' : 'transport error towards the node');
      },
    }, { target: this.destination, credentials: this.credentials });
    this.#probe = probe;
    this.#answerTimer = setTimeout(() => {
      if (!this.#settle(probe)) return;
      probe.abandon();
      this.#missed(`no answer to OPTIONS within ${o.config.responseTimeoutSeconds} s`);
    }, o.config.responseTimeoutSeconds * 1000);
    try {
      probe.start();
    } catch (e) {
      this.#settle(probe);
      this.#set('down', `OPTIONS not sent: ${(e as Error).message}`);
    }
  }

  /** `probe` is over (answered, failed or timed out); false when it was over already. */
  #settle(probe: ClientRequest): boolean {
    if (probe !== this.#probe) return false;
    this.#probe = undefined;
    clearTimeout(this.#answerTimer);
    this.#answerTimer = undefined;
    return true;
  }

  /** A probe went unanswered: down after MISSES_BEFORE_DOWN in a row (at once while not up), else asked again now. */
  #missed(why: string): void {
    this.#misses++;
    if (this.#state !== 'up' || this.#misses >= MISSES_BEFORE_DOWN) return this.#set('down', why);
    this.#lastError = why;
    this.#o.logger.debug('solution: node link keepalive unanswered, asking again', { link: this.peer.name, misses: this.#misses, reason: why });
    if (!this.#closed) this.#keepalive();
  }

  #set(state: LinkState, error?: string): void {
    if (this.#closed) return;
    if (error !== undefined) this.#lastError = error;
    if (state === this.#state) return;
    this.#state = state;
    this.#since = Date.now();
    if (state === 'up') this.#lastError = undefined;
    const log = this.#o.logger;
    if (state === 'up') log.info('solution: node link up', { link: this.peer.name, address: this.status().address });
    else log.warn('solution: node link down', { link: this.peer.name, reason: error });
    this.#o.onState(this, state);
  }
}
