import { SipRequest, type SipResponse } from '../message/message.js';
import { parseUri, type SipUri } from '../message/uri.js';
import { uriTarget } from '../routing.js';
import type { SipStack } from '../stack.js';
import type { ClientTransaction, ClientTransactionUser } from '../transaction/client.js';
import type { InviteServerTransaction } from '../transaction/server.js';
import type { ClientCredentials } from '../ua/challenge.js';
import { ClientRequest, failureStatus } from '../ua/client-request.js';
import type { TimerEntry, TimerTarget } from '../transaction/timers.js';
import type { Target } from '../transport/types.js';

export enum DialogState {
  Early = 'Early',
  Confirmed = 'Confirmed',
  Terminated = 'Terminated',
}

/** How an in-dialog request ended: the final status, and the response when one came. */
export interface InDialogResult {
  /** The final status; 408 when nothing answered, 503 for a transport error, 481 with no dialog left. */
  status: number;
  response: SipResponse | undefined;
  /**
   * A 2xx to a re-INVITE sent without an offer carries one: ACK with the answer through this
   * (only with `ackLater`).
   */
  ack?: (body?: { type: string; data: Buffer }) => void;
}

export interface InDialogOptions {
  body?: { type: string; data: Buffer };
  headers?: Record<string, string>;
  /** A re-INVITE without an offer: the caller ACKs the 2xx with the answer (InDialogResult.ack). */
  ackLater?: boolean;
}

export interface DialogInit {
  callId: string;
  localTag: string;
  remoteTag: string;
  /** From/To values without tags (name-addr text). */
  localUri: string;
  remoteUri: string;
  remoteTarget: SipUri;
  /** Route set in the order requests carry it. */
  routeSet: string[];
  localSeq: number;
  remoteSeq: number | undefined;
  /** Our Contact for requests and 2xx in this dialog. */
  localContact: string;
  /** The connection (RFC 5626 flow) the peer is reached over, when it reached us over one. */
  flow: Target | undefined;
  secure: boolean;
  state: DialogState;
}

/**
 * A SIP dialog (RFC 3261 section 12): identifiers, CSeq spaces, remote target and route set,
 * in-dialog request construction, and the UAS's 2xx retransmission until the ACK arrives
 * (RFC 3261 13.3.1.4) or the UAC's ACK re-sent for every retransmitted 2xx.
 */
export class Dialog implements TimerTarget {
  readonly stack: SipStack;
  readonly callId: string;
  readonly localTag: string;
  remoteTag: string;
  readonly localUri: string;
  readonly remoteUri: string;
  remoteTarget: SipUri;
  readonly routeSet: string[];
  localSeq: number;
  remoteSeq: number | undefined;
  localContact: string;
  flow: Target | undefined;
  readonly secure: boolean;
  state: DialogState;
  /** The UAS's 2xx got no ACK within 64*T1: the TU should send BYE. */
  onAckTimeout: (() => void) | undefined;
  /** Our account when the peer (a carrier) challenges a request in this dialog. */
  credentials: ClientCredentials | undefined;
  #pending2xx: { buf: Buffer; tx: InviteServerTransaction; cseq: number; interval: number; timer: TimerEntry; giveUp: TimerEntry } | undefined;
  #lastAck: { cseq: number; buf: Buffer; target: Target } | undefined;

  constructor(stack: SipStack, init: DialogInit) {
    this.stack = stack;
    this.callId = init.callId;
    this.localTag = init.localTag;
    this.remoteTag = init.remoteTag;
    this.localUri = init.localUri;
    this.remoteUri = init.remoteUri;
    this.remoteTarget = init.remoteTarget;
    this.routeSet = init.routeSet;
    this.localSeq = init.localSeq;
    this.remoteSeq = init.remoteSeq;
    this.localContact = init.localContact;
    this.flow = init.flow;
    this.secure = init.secure;
    this.state = init.state;
  }

  get id(): string {
    return Dialog.key(this.callId, this.localTag, this.remoteTag);
  }

  static key(callId: string, localTag: string, remoteTag: string): string {
    return `${callId}\u0000${localTag}\u0000${remoteTag}`;
  }

  /** UAS side, from the INVITE (or other dialog-creating request) and our To tag. */
  static fromRequest(stack: SipStack, req: SipRequest, localTag: string, localContact: string, flow?: Target): Dialog {
    const contact = req.contacts[0];
    if (!contact) throw new TypeError('request: a dialog-creating request needs a Contact');
    return new Dialog(stack, {
      callId: req.callId,
      localTag,
      remoteTag: req.from.tag ?? '',
      localUri: withoutTag(req.get('to')!),
      remoteUri: withoutTag(req.get('from')!),
      remoteTarget: contact.uri,
      routeSet: req.getAll('record-route'),
      localSeq: 0,
      remoteSeq: req.cseq.seq,
      localContact,
      flow,
      secure: req.uri.scheme === 'sips',
      state: DialogState.Early,
    });
  }

  /** UAC side, from our request and a 1xx/2xx with a To tag (RFC 3261 12.1.2). */
  static fromResponse(stack: SipStack, req: SipRequest, res: SipResponse, flow?: Target): Dialog {
    const contact = res.contacts[0];
    return new Dialog(stack, {
      callId: req.callId,
      localTag: req.from.tag ?? '',
      remoteTag: res.to.tag ?? '',
      localUri: withoutTag(req.get('from')!),
      remoteUri: withoutTag(req.get('to')!),
      remoteTarget: contact ? contact.uri : req.uri,
      routeSet: res.getAll('record-route').reverse(),
      localSeq: req.cseq.seq,
      remoteSeq: undefined,
      localContact: req.get('contact') ?? '',
      flow,
      secure: req.uri.scheme === 'sips',
      state: res.status >= 200 ? DialogState.Confirmed : DialogState.Early,
    });
  }

  /**
   * Checks an in-dialog request's CSeq (RFC 3261 12.2.2): returns false for an out-of-order
   * request (the TU answers 500), updates the remote CSeq and, for target refreshes, the remote
   * target.
   */
  receiveRequest(req: SipRequest): boolean {
    const seq = req.cseq.seq;
    if (req.method !== 'ACK' && req.method !== 'CANCEL') {
      if (this.remoteSeq !== undefined && seq <= this.remoteSeq) return false;
      this.remoteSeq = seq;
    }
    if ((req.method === 'INVITE' || req.method === 'UPDATE') && req.contacts[0]) this.remoteTarget = req.contacts[0].uri;
    if (req.method === 'BYE') this.state = DialogState.Terminated;
    return true;
  }

  /** Where requests in this dialog go: the flow when there is one, else route set / target. */
  target(): Target {
    if (this.flow) return this.flow;
    const first = this.routeSet[0];
    if (first) {
      const uri = parseUri(first.replace(/^[^<]*<([^>]*)>.*$/, '$1'));
      return uriTarget(uri);
    }
    return uriTarget(this.remoteTarget);
  }

  /** A request inside the dialog (RFC 3261 12.2.1.1); ACK reuses the INVITE's CSeq number. */
  createRequest(method: string, inviteSeq?: number): SipRequest {
    let ruri: string;
    const routes = this.routeSet.slice();
    const first = routes[0];
    if (first && !/;lr\b/i.test(first.replace(/^[^<]*<([^>]*)>.*$/, '$1'))) {
      // strict routing (RFC 2543 next hop): the first route becomes the Request-URI
      ruri = first.replace(/^[^<]*<([^>]*)>.*$/, '$1');
      routes.shift();
      routes.push(`<${this.remoteTarget.toString()}>`);
    } else ruri = this.remoteTarget.toString();
    const req = new SipRequest(method, ruri);
    req.set('from', `${this.localUri};tag=${this.localTag}`);
    req.set('to', this.remoteTag ? `${this.remoteUri};tag=${this.remoteTag}` : this.remoteUri);
    req.set('call-id', this.callId);
    const seq = method === 'ACK' || method === 'CANCEL' ? (inviteSeq ?? this.localSeq) : ++this.localSeq;
    req.set('cseq', `${seq} ${method}`);
    if (routes.length) req.set('route', routes);
    if (this.localContact && method !== 'BYE' && method !== 'CANCEL') req.set('contact', this.localContact);
    return req;
  }

  /** Sends a request made by createRequest through a client transaction (no digest retry). */
  request(req: SipRequest, tu: ClientTransactionUser): ClientTransaction {
    return this.stack.request(req, tu, this.target());
  }

  /**
   * Sends `method` in the dialog and resolves with its final response. A challenge is answered
   * with `credentials` (next CSeq of this dialog); a 2xx to INVITE is ACKed (RFC 3261 13.2.2.4).
   * Never rejects: a request that cannot be sent resolves 503, a terminated dialog 481 (BYE
   * excepted).
   */
  send(method: string, opts: InDialogOptions = {}): Promise<InDialogResult> {
    if (this.state === DialogState.Terminated && method !== 'BYE') return Promise.resolve({ status: 481, response: undefined });
    const req = this.createRequest(method);
    for (const [k, v] of Object.entries(opts.headers ?? {})) req.set(k, v);
    if (opts.body) {
      req.set('content-type', opts.body.type);
      req.body = opts.body.data;
    }
    return new Promise((resolve) => {
      const onFinal = (res: SipResponse): void => {
        if (method !== 'INVITE' || res.status >= 300) return resolve({ status: res.status, response: res });
        if (!opts.ackLater) {
          // every 2xx, retransmissions too, gets its ACK
          this.ack(res.cseq.seq);
          return resolve({ status: res.status, response: res });
        }
        let acked = false;
        const ack = (body?: { type: string; data: Buffer }): void => {
          if (acked) return;
          acked = true;
          this.ack(res.cseq.seq, body);
        };
        resolve({ status: res.status, response: res, ack });
      };
      try {
        new ClientRequest(this.stack, req, {
          onFinal,
          onFailure: (reason) => resolve({ status: failureStatus(reason), response: undefined }),
        }, { target: this.target(), credentials: this.credentials, nextSeq: () => ++this.localSeq }).start();
      } catch {
        // no listener for the transport, or a target that is not an address
        resolve({ status: 503, response: undefined });
      }
    });
  }

  /** UAC: the 2xx confirms an early dialog (RFC 3261 12.1.2: its Contact and Record-Route win). */
  confirm(res: SipResponse): void {
    const contact = res.contacts[0];
    if (contact) this.remoteTarget = contact.uri;
    const rr = res.getAll('record-route');
    if (rr.length) this.routeSet.splice(0, this.routeSet.length, ...rr.reverse());
    this.state = DialogState.Confirmed;
  }

  /** UAS: sends a 2xx and retransmits it until `ackReceived` (RFC 3261 13.3.1.4). */
  sendSuccess(tx: InviteServerTransaction, res: SipResponse): void {
    this.state = DialogState.Confirmed;
    this.#stop2xx();
    tx.respond(res);
    if (tx.reliable) {
      this.#pending2xx = undefined;
      return;
    }
    const t1 = this.stack.transactions.t1;
    this.#pending2xx = {
      buf: res.toBuffer(),
      tx,
      cseq: res.cseq.seq,
      interval: t1,
      timer: this.stack.transactions.timers.schedule(this, '2xx', t1),
      giveUp: this.stack.transactions.timers.schedule(this, 'ack-timeout', 64 * t1),
    };
  }

  /** UAS: the ACK for our 2xx arrived. */
  ackReceived(ack: SipRequest): void {
    if (this.#pending2xx && ack.cseq.seq === this.#pending2xx.cseq) this.#stop2xx();
  }

  #stop2xx(): void {
    this.#pending2xx?.timer.cancel();
    this.#pending2xx?.giveUp.cancel();
    this.#pending2xx = undefined;
  }

  onTimer(name: string): void {
    const p = this.#pending2xx;
    if (!p) return;
    if (name === '2xx') {
      p.tx.retransmitSuccess(p.buf);
      p.interval = Math.min(2 * p.interval, this.stack.transactions.t2);
      p.timer = this.stack.transactions.timers.schedule(this, '2xx', p.interval);
    } else if (name === 'ack-timeout') {
      this.#stop2xx();
      this.onAckTimeout?.();
    }
  }

  /** UAC: ACK for a 2xx, sent without a transaction; kept to answer 2xx retransmissions. */
  ack(inviteSeq: number, body?: { type: string; data: Buffer }): void {
    const ack = this.createRequest('ACK', inviteSeq);
    if (body) {
      ack.set('content-type', body.type);
      ack.body = body.data;
    }
    const target = this.target();
    this.stack.sendStateless(ack, target);
    this.#lastAck = { cseq: inviteSeq, buf: ack.toBuffer(), target };
  }

  /** UAC: a retransmitted 2xx arrived (the transaction already passed the first one up). */
  retransmitAck(res: SipResponse): void {
    if (this.#lastAck && res.cseq.seq === this.#lastAck.cseq) this.stack.send(this.#lastAck.buf, this.#lastAck.target);
  }

  terminate(): void {
    this.state = DialogState.Terminated;
    this.#stop2xx();
  }
}

function withoutTag(v: string): string {
  return v.replace(/;\s*tag=[^;]*/i, '');
}
