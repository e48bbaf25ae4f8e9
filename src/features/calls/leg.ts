import { EventEmitter } from 'node:events';
import type { Logger } from '../../core/logger.js';
import { Dialog, DialogState } from '../../sip/dialog/dialog.js';
import { SipRequest, type SipResponse } from '../../sip/message/message.js';
import { SipStack } from '../../sip/stack.js';
import type { ClientTransaction } from '../../sip/transaction/client.js';
import type { InviteServerTransaction, ServerTransaction } from '../../sip/transaction/server.js';
import type { Target } from '../../sip/transport/types.js';
import { negotiateUas, SessionTimer, type SessionTimerPolicy } from '../../sip/dialog/session-timer.js';

export type LegState = 'initial' | 'early' | 'confirmed' | 'ended';

export interface Body {
  type: string;
  data: Buffer;
}

export interface LegEvents {
  /** The peer hung up (BYE) or the leg failed after answer. */
  bye: [];
  /** A re-INVITE or UPDATE: the call answers it through `answerRequest`. */
  offer: [SipRequest, ServerTransaction];
  info: [SipRequest, ServerTransaction];
  refer: [SipRequest, ServerTransaction];
  /** ACK for our 2xx (may carry the answer to an offer we made in the 2xx). */
  ack: [SipRequest];
  /** The peer never ACKed our 2xx. */
  ackTimeout: [];
}

/**
 * One party of a call: one SIP dialog seen from the server (RFC 3261 section 12). Inbound legs
 * are UAS dialogs (the caller), outbound legs UAC dialogs (the callee); both handle the same
 * in-dialog requests and hang up the same way.
 */
export abstract class Leg extends EventEmitter<LegEvents> {
  readonly stack: SipStack;
  readonly log: Logger;
  dialog: Dialog | undefined;
  state: LegState = 'initial';
  /** Extension, trunk or URI of the party, for logs and records. */
  readonly party: string;

  constructor(stack: SipStack, party: string, log: Logger) {
    super();
    this.stack = stack;
    this.party = party;
    this.log = log;
  }

  abstract get callId(): string;

  get ended(): boolean {
    return this.state === 'ended';
  }

  /** An in-dialog request from the peer (the dialog matched). */
  handleRequest(req: SipRequest, tx: ServerTransaction): void {
    const d = this.dialog!;
    if (!d.receiveRequest(req)) {
      this.stack.respond(tx, this.stack.createResponse(req, 500, 'Server Internal Error (CSeq out of order)'));
      return;
    }
    switch (req.method) {
      case 'BYE':
        this.stack.respond(tx, this.stack.createResponse(req, 200));
        if (this.state !== 'ended') {
          this.#end();
          this.emit('bye');
        }
        return;
      case 'INVITE':
      case 'UPDATE':
        this.sessionTimer?.refreshed();
        this.emit('offer', req, tx);
        return;
      case 'INFO':
        if (this.listenerCount('info')) this.emit('info', req, tx);
        else this.stack.respond(tx, this.stack.createResponse(req, 200));
        return;
      case 'REFER':
        if (this.listenerCount('refer')) this.emit('refer', req, tx);
        else this.stack.respond(tx, this.stack.createResponse(req, 603));
        return;
      case 'OPTIONS':
      case 'NOTIFY':
        this.stack.respond(tx, this.stack.createResponse(req, 200));
        return;
      default:
        this.stack.respond(tx, this.stack.createResponse(req, 405));
    }
  }

  handleAck(ack: SipRequest): void {
    this.dialog?.ackReceived(ack);
    this.emit('ack', ack);
  }

  /** Answers a re-INVITE/UPDATE from the peer. */
  answerRequest(req: SipRequest, tx: ServerTransaction, status: number, body?: Body): void {
    const res = this.stack.createResponse(req, status, undefined, this.dialog!.localTag);
    if (status >= 200 && status < 300) {
      res.set('contact', this.dialog!.localContact);
      // a refresh is answered with the session interval again (RFC 4028 9)
      if (this.sessionTimer && (req.method === 'INVITE' || req.method === 'UPDATE')) {
        for (const [k, v] of Object.entries(negotiateUas(req, this.sessionPolicy)?.headers ?? {})) res.set(k, v);
      }
      if (body) {
        res.set('content-type', body.type);
        res.body = body.data;
      }
      if (req.method === 'INVITE') {
        this.dialog!.sendSuccess(tx as InviteServerTransaction, res);
        return;
      }
    }
    this.stack.respond(tx, res);
  }

  /** Sends a request in the dialog; resolves with the final response (408/503 on failure). */
  send(method: string, body?: Body, headers: Record<string, string> = {}): Promise<SipResponse | number> {
    const d = this.dialog;
    if (!d || d.state === DialogState.Terminated && method !== 'BYE') return Promise.resolve(481);
    const req = d.createRequest(method);
    for (const [k, v] of Object.entries(headers)) req.set(k, v);
    if (body) {
      req.set('content-type', body.type);
      req.body = body.data;
    }
    return new Promise((resolve) => {
      try {
        d.request(req, {
          onResponse: (res) => {
            if (res.status < 200) return;
            if (method === 'INVITE') {
              if (res.status < 300) d.ack(req.cseq.seq);
            }
            resolve(res);
          },
          onFailure: (why) => resolve(why === 'timeout' ? 408 : 503),
        });
      } catch (e) {
        this.log.warn(`cannot send ${method}: ${(e as Error).message}`, { callId: this.callId });
        resolve(503);
      }
    });
  }

  /** Hangs up an established leg (BYE); an unanswered one is ended by its subclass. */
  hangup(): void {
    if (this.state === 'ended') return;
    const wasConfirmed = this.state === 'confirmed';
    this.#end();
    if (wasConfirmed) void this.send('BYE');
  }

  protected markConfirmed(): void {
    if (this.state !== 'ended') this.state = 'confirmed';
  }

  #end(): void {
    this.state = 'ended';
    this.sessionTimer?.close();
    this.dialog?.terminate();
  }

  /** RFC 4028 (security hook, issue 15): set on an answered InboundLeg when timers are on. */
  sessionTimer: SessionTimer | undefined;
  sessionPolicy: SessionTimerPolicy | undefined;

  protected endQuietly(): void {
    this.#end();
  }
}

/** The caller's side: we received its INVITE and answer it (UAS). */
export class InboundLeg extends Leg {
  readonly request: SipRequest;
  readonly tx: InviteServerTransaction;
  readonly localTag = SipStack.tag();
  /** The caller sent CANCEL. */
  onCancel: (() => void) | undefined;

  constructor(stack: SipStack, req: SipRequest, tx: InviteServerTransaction, party: string, log: Logger, localContact: string, sessionPolicy?: SessionTimerPolicy) {
    super(stack, party, log);
    this.request = req;
    this.tx = tx;
    this.sessionPolicy = sessionPolicy;
    const src = tx.source;
    const flow: Target | undefined = src.flowId !== undefined ? { protocol: src.protocol, address: src.address, port: src.port, flowId: src.flowId } : undefined;
    this.dialog = Dialog.fromRequest(stack, req, this.localTag, localContact, flow);
    this.dialog.onAckTimeout = () => {
      this.log.warn('no ACK for our 2xx: hanging up', { callId: this.callId });
      this.emit('ackTimeout');
    };
    tx.onCancel = () => {
      if (this.state === 'confirmed' || this.state === 'ended') return;
      this.stack.respond(tx, this.stack.createResponse(req, 487, undefined, this.localTag));
      this.endQuietly();
      this.onCancel?.();
    };
  }

  get callId(): string {
    return this.request.callId;
  }

  /** 180 Ringing or 183 Session Progress (with early media SDP). */
  progress(status: number, body?: Body): void {
    if (this.state !== 'initial' && this.state !== 'early') return;
    this.state = 'early';
    const res = this.stack.createResponse(this.request, status, undefined, this.localTag);
    res.set('contact', this.dialog!.localContact);
    if (body) {
      res.set('content-type', body.type);
      res.body = body.data;
    }
    this.stack.respond(this.tx, res);
  }

  answer(body: Body, headers: Record<string, string> = {}): void {
    if (this.state === 'confirmed' || this.state === 'ended') return;
    const res = this.stack.createResponse(this.request, 200, undefined, this.localTag);
    res.set('contact', this.dialog!.localContact);
    for (const [k, v] of Object.entries(headers)) res.set(k, v);
    const timer = negotiateUas(this.request, this.sessionPolicy);
    if (timer) for (const [k, v] of Object.entries(timer.headers)) res.set(k, v);
    res.set('content-type', body.type);
    res.body = body.data;
    this.markConfirmed();
    this.dialog!.sendSuccess(this.tx, res);
    if (timer) this.#startSessionTimer(timer.interval, timer.refresher === 'uas', body);
  }

  /** Refreshes when we are the refresher (UPDATE where the caller allows it, else re-INVITE with our SDP), or watches the caller's. */
  #startSessionTimer(interval: number, weRefresh: boolean, body: Body): void {
    const update = this.request.getAll('allow').some((a) => a.split(',').some((m) => m.trim().toUpperCase() === 'UPDATE'));
    const headers = { 'session-expires': `${interval};refresher=uas`, supported: 'timer' };
    this.sessionTimer = new SessionTimer({
      intervalMs: interval * 1000,
      weRefresh,
      refresh: async () => {
        const r = await (update ? this.send('UPDATE', undefined, headers) : this.send('INVITE', body, headers));
        return typeof r === 'number' ? r : r.status;
      },
      expire: (why) => {
        if (this.state === 'ended') return;
        this.log.warn(`session timer: ${why}; hanging up`, { callId: this.callId });
        this.hangup();
        this.emit('bye');
      },
    });
    this.sessionTimer.start();
  }

  reject(status: number, reason?: string, headers: Record<string, string> = {}): void {
    if (this.state === 'confirmed' || this.state === 'ended') return;
    const res = this.stack.createResponse(this.request, status, reason, this.localTag);
    for (const [k, v] of Object.entries(headers)) res.set(k, v);
    this.stack.respond(this.tx, res);
    this.endQuietly();
  }
}

export interface OutboundEvents {
  progress: [SipResponse];
  answered: [SipResponse];
  failed: [number, SipResponse | undefined];
}

/** The callee's side: we send the INVITE (UAC) to one contact. */
export class OutboundLeg extends Leg {
  /** The INVITE as last sent (a digest retry replaces it: new CSeq and branch). */
  request: SipRequest;
  readonly target: Target;
  /** Answers a 401/407 to our INVITE once (a trunk's account at the carrier). */
  auth: { authorize(challenge: string, method: string, uri: string): string | undefined } | undefined;
  #authTried = false;
  #tx: ClientTransaction | undefined;
  #provisional = false;
  #cancelWanted = false;
  #cancelled = false;
  readonly outbound = new EventEmitter<OutboundEvents>();

  constructor(stack: SipStack, req: SipRequest, target: Target, party: string, log: Logger) {
    super(stack, party, log);
    this.request = req;
    this.target = target;
  }

  get callId(): string {
    return this.request.callId;
  }

  invite(): void {
    try {
      this.#tx = this.stack.request(this.request, {
        onResponse: (res) => this.#onResponse(res),
        onFailure: (why) => {
          if (this.state === 'initial' || this.state === 'early') {
            this.endQuietly();
            this.outbound.emit('failed', why === 'timeout' ? 408 : 503, undefined);
          }
        },
      }, this.target);
    } catch (e) {
      this.log.warn(`INVITE not sent: ${(e as Error).message}`, { callId: this.callId });
      this.endQuietly();
      queueMicrotask(() => this.outbound.emit('failed', 503, undefined));
    }
  }

  #onResponse(res: SipResponse): void {
    const s = res.status;
    if (s < 200) {
      if (s === 100) return;
      this.#provisional = true;
      if (this.#cancelWanted) return this.#sendCancel();
      if (res.to.tag && !this.dialog) this.dialog = Dialog.fromResponse(this.stack, this.request, res, this.#flow());
      if (this.state === 'initial') this.state = 'early';
      if (!this.#cancelled) this.outbound.emit('progress', res);
      return;
    }
    if (s < 300) {
      if (this.state === 'confirmed') {
        this.dialog?.retransmitAck(res); // 2xx retransmission
        return;
      }
      const d = Dialog.fromResponse(this.stack, this.request, res, this.#flow());
      this.dialog = d;
      d.ack(this.request.cseq.seq);
      if (this.#cancelWanted || this.state === 'ended') {
        // answered after we gave up on it (CANCEL crossed the 200): end it at once
        this.state = 'confirmed';
        this.hangup();
        return;
      }
      this.markConfirmed();
      this.outbound.emit('answered', res);
      return;
    }
    if (this.state === 'ended') return;
    if ((s === 401 || s === 407) && this.#retryWithAuth(res)) return;
    this.endQuietly();
    this.outbound.emit('failed', s, res);
  }

  /** RFC 3261 22.2: the same INVITE again with credentials, next CSeq, new branch. */
  #retryWithAuth(res: SipResponse): boolean {
    if (!this.auth || this.#authTried) return false;
    this.#authTried = true;
    const challenge = res.get(res.status === 401 ? 'www-authenticate' : 'proxy-authenticate');
    const old = this.request;
    const credentials = challenge ? this.auth.authorize(challenge, 'INVITE', old.uriText) : undefined;
    if (!credentials) return false;
    const req = new SipRequest('INVITE', old.uriText);
    for (const [k, v] of old.headers) if (k !== 'via') req.headers.set(k, v.slice());
    req.set('cseq', `${old.cseq.seq + 1} INVITE`);
    req.set(res.status === 401 ? 'authorization' : 'proxy-authorization', credentials);
    req.body = old.body;
    this.request = req;
    this.invite();
    return true;
  }

  #flow(): Target | undefined {
    return this.target.flowId !== undefined ? this.target : undefined;
  }

  /** Stops an unanswered INVITE (RFC 3261 9.1): CANCEL once a provisional has arrived. */
  cancel(): void {
    if (this.state === 'confirmed') {
      this.hangup();
      return;
    }
    if (this.state === 'ended' || this.#cancelWanted) return;
    this.#cancelWanted = true;
    this.state = 'ended';
    if (this.#provisional) this.#sendCancel();
  }

  #sendCancel(): void {
    if (this.#cancelled) return;
    this.#cancelled = true;
    const inv = this.request;
    const cancel = new SipRequest('CANCEL', inv.uriText);
    cancel.set('via', inv.headers.get('via')![0]);
    for (const h of ['from', 'to', 'call-id', 'route', 'max-forwards']) {
      const v = inv.headers.get(h);
      if (v) cancel.set(h, v.slice());
    }
    cancel.set('cseq', `${inv.cseq.seq} CANCEL`);
    try {
      this.stack.request(cancel, { onResponse: () => undefined, onFailure: () => undefined }, this.target);
    } catch (e) {
      this.log.warn(`CANCEL not sent: ${(e as Error).message}`, { callId: this.callId });
    }
    // If the callee never answers the INVITE after CANCEL, stop waiting (RFC 3261 9.1: 64*T1).
    const tx = this.#tx;
    setTimeout(() => {
      if (tx && 'abandon' in tx) tx.abandon();
    }, 64 * this.stack.transactions.t1).unref();
  }
}
