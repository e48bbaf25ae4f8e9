/**
 * The one path every client request of the node takes (RFC 3261 8.1 with 22.2): sent through a
 * client transaction, and sent again with credentials when the server or a proxy challenges it
 * (next CSeq, new branch, same Call-ID and tags), as many times as there are challenges to
 * answer, up to a limit. In-dialog requests take it through their Dialog, which counts the CSeq.
 */
import { SipRequest, type SipResponse } from '../message/message.js';
import type { SipStack } from '../stack.js';
import type { ClientFailure, ClientTransaction } from '../transaction/client.js';
import type { Target } from '../transport/types.js';
import { answerChallenges, isChallenge, type AuthFailure, type ClientCredentials } from './challenge.js';

export interface ClientRequestUser {
  /** A provisional response (not passed for the challenged attempts' 100 Trying). */
  onProvisional?(res: SipResponse): void;
  /**
   * The final response of the last attempt (and 2xx retransmissions to an INVITE). A 401/407
   * arrives here only when it could not be answered; `authFailure` says why.
   */
  onFinal(res: SipResponse, authFailure: AuthFailure | undefined): void;
  /** No response: timeout (Timer B/F) or transport error (RFC 3261 8.1.3.1: 408 / 503). */
  onFailure(reason: ClientFailure): void;
}

export interface ClientRequestOptions {
  /** Where it goes; default the Route set / Request-URI (RFC 3261 8.1.2). */
  target?: Target;
  credentials?: ClientCredentials;
  /** The CSeq number of a retry; default one more than the last. A dialog passes its own counter. */
  nextSeq?: () => number;
  /** Challenges answered for one request before giving up (default 3: a first one, then stale nonces). */
  maxChallenges?: number;
}

/** A request and its authenticated retries; `request` and `transaction` are the current attempt. */
export class ClientRequest {
  readonly #stack: SipStack;
  readonly #user: ClientRequestUser;
  readonly #o: ClientRequestOptions;
  #request: SipRequest;
  #tx: ClientTransaction | undefined;
  #challenges = 0;
  #abandoned = false;

  constructor(stack: SipStack, request: SipRequest, user: ClientRequestUser, opts: ClientRequestOptions = {}) {
    if (!(request instanceof SipRequest)) throw new TypeError('request: SipRequest');
    if (typeof user?.onFinal !== 'function' || typeof user.onFailure !== 'function') throw new TypeError('user: onFinal and onFailure');
    this.#stack = stack;
    this.#user = user;
    this.#o = opts;
    this.#request = request;
  }

  /** The attempt in flight (a retry replaces it: CANCEL and ACK must match this one). */
  get request(): SipRequest {
    return this.#request;
  }

  get transaction(): ClientTransaction | undefined {
    return this.#tx;
  }

  /** Challenges answered so far. */
  get challenges(): number {
    return this.#challenges;
  }

  /** Sends the first attempt; throws when it cannot be sent at all (no listener for the transport). */
  start(): this {
    this.#send();
    return this;
  }

  /** The user no longer wants any answer (a call gave up): later responses are dropped. */
  abandon(): void {
    this.#abandoned = true;
    const tx = this.#tx;
    if (tx && 'abandon' in tx) tx.abandon();
  }

  #send(): void {
    const sent = this.#request;
    this.#tx = this.#stack.request(sent, {
      onResponse: (res) => {
        if (this.#abandoned || sent !== this.#request) return;
        if (res.status < 200) return void this.#user.onProvisional?.(res);
        if (isChallenge(res)) return this.#challenged(res);
        this.#user.onFinal(res, undefined);
      },
      onFailure: (reason) => {
        if (!this.#abandoned && sent === this.#request) this.#user.onFailure(reason);
      },
    }, this.#o.target);
  }

  #challenged(res: SipResponse): void {
    const answer = this.#challenges >= (this.#o.maxChallenges ?? 3) ? 'too-many' : answerChallenges(this.#request, res, this.#o.credentials);
    if (typeof answer === 'string') return this.#user.onFinal(res, answer);
    this.#challenges++;
    const old = this.#request;
    const req = new SipRequest(old.method, old.uriText);
    for (const [k, v] of old.headers) if (k !== 'via') req.headers.set(k, v.slice());
    req.set('cseq', `${this.#o.nextSeq?.() ?? old.cseq.seq + 1} ${old.method}`);
    req.set(answer.header, answer.values);
    req.body = old.body;
    this.#request = req;
    try {
      this.#send();
    } catch {
      // the transport went away between two attempts: as if it failed now
      queueMicrotask(() => this.#user.onFailure('transport'));
    }
  }
}

/** A final status for a request that got no response (RFC 3261 8.1.3.1). */
export function failureStatus(reason: ClientFailure): number {
  return reason === 'timeout' ? 408 : 503;
}
