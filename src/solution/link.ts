/**
 * One node link: a SIP trunk from this node to another node of the solution. It knows where the
 * peer listens, answers the peer's digest challenges with the link's credentials, and keeps
 * itself alive with OPTIONS: the link is up while the peer answers them (after checking our
 * credentials), down when it does not answer in time or refuses them. Its calls are counted.
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
      config: { setupTimeoutSeconds: o.config.setupTimeoutSeconds, allowTrunkToTrunk: true },
      digest: this.credentials,
      up: () => !link.#closed && link.#state === 'up',
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
   * One OPTIONS at a time: a probe still in its transaction is given up for the next one (the
   * answer timer has already said what its silence means).
   */
  #keepalive(): void {
    if (this.#closed) return;
    const o = this.#o;
    this.#probe?.abandon();
    const req = new SipRequest('OPTIONS', `sip:link@${this.destination.address.includes(':') ? `[${this.destination.address}]` : this.destination.address}:${this.destination.port}`);
    req.set('from', `<sip:link-${o.self}@${o.selfAddress}>;tag=${SipStack.tag()}`).set('to', `<sip:link-${this.peer.name}@${this.destination.address}>`);
    req.set('call-id', SipStack.callId()).set('cseq', '1 OPTIONS').set('max-forwards', '70');
    // the deadline runs from the first probe not answered: a keepalive more frequent than the
    // response timeout must not push it back for ever (the link would never go down)
    this.#answerTimer ??= setTimeout(() => {
      this.#answerTimer = undefined;
      this.#set('down', `no answer to OPTIONS within ${o.config.responseTimeoutSeconds} s`);
    }, o.config.responseTimeoutSeconds * 1000);
    const probe = new ClientRequest(o.stack, req, {
      onFinal: (res, authFailure) => {
        if (probe !== this.#probe) {
          // a late answer to a probe given up for a newer one: the peer is there all the same
          if (res.status >= 200 && res.status < 300 && this.#state === 'up') this.#answered();
          return;
        }
        this.#answered();
        if (res.status >= 200 && res.status < 300) return this.#set('up');
        const why = authFailure !== undefined || res.status === 403 || res.status === 401 || res.status === 407
          ? `node ${this.peer.name} refused the link's credentials (${res.status})` : `OPTIONS answered ${res.status}`;
        this.#set('down', why);
      },
      onFailure: (reason) => {
        if (probe !== this.#probe) return;
        this.#answered();
        this.#set('down', reason === 'timeout' ? 'OPTIONS timed out' : 'transport error towards the node');
      },
    }, { target: this.destination, credentials: this.credentials });
    this.#probe = probe;
    try {
      probe.start();
    } catch (e) {
      this.#answered();
      this.#set('down', `OPTIONS not sent: ${(e as Error).message}`);
    }
  }

  /** The probe in flight was answered (or failed): no deadline until the next one. */
  #answered(): void {
    clearTimeout(this.#answerTimer);
    this.#answerTimer = undefined;
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
