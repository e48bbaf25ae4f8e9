import { EventEmitter } from 'node:events';
import type { Logger } from '../../core/logger.js';
import { Dialog, type InDialogResult } from '../../sip/dialog/dialog.js';
import type { SipRequest, SipResponse } from '../../sip/message/message.js';
import { SipStack } from '../../sip/stack.js';
import type { InviteServerTransaction, ServerTransaction } from '../../sip/transaction/server.js';
import type { Target } from '../../sip/transport/types.js';
import { negotiateUas, SessionTimer, type SessionTimerPolicy } from '../../sip/dialog/session-timer.js';
import type { TimerClock } from '../../sip/transaction/timers.js';
import type { ClientCredentials } from '../../sip/ua/challenge.js';
import { InviteClient } from '../../sip/ua/invite-client.js';

export type LegState = 'initial' | 'early' | 'confirmed' | 'ended';

export interface Body {
  type: string;
  data: Buffer;
}

export interface LegEvents {
  /** The peer hung up (BYE). */
  bye: [];
  /** A re-INVITE or UPDATE: the call answers it through `answerRequest`. */
  offer: [SipRequest, ServerTransaction];
  info: [SipRequest, ServerTransaction];
  refer: [SipRequest, ServerTransaction];
  /** ACK for our 2xx; its body is the answer when the 2xx carried our offer. */
  ack: [SipRequest];
  /** The peer never ACKed our 2xx. */
  ackTimeout: [];
}

const SDP = 'application/sdp';

/** The SDP a message carries, or undefined. */
export function sdpOf(msg: { body: Buffer; contentType: string | undefined }): Body | undefined {
  return msg.body.length && msg.contentType === SDP ? { type: SDP, data: msg.body } : undefined;
}

/**
 * One party of a call: one SIP dialog seen from the server (RFC 3261 section 12). Inbound legs
 * are UAS dialogs (the caller), outbound legs UAC dialogs (the callee); both handle the same
 * in-dialog requests and hang up the same way: a BYE, retransmitted and awaited.
 */
export abstract class Leg extends EventEmitter<LegEvents> {
  readonly stack: SipStack;
  readonly log: Logger;
  state: LegState = 'initial';
  /** Extension, trunk or URI of the party, for logs and records. */
  readonly party: string;
  #bye: Promise<void> | undefined;

  constructor(stack: SipStack, party: string, log: Logger) {
    super();
    this.stack = stack;
    this.party = party;
    this.log = log;
  }

  abstract get callId(): string;
  abstract get dialog(): Dialog | undefined;

  get ended(): boolean {
    return this.state === 'ended';
  }

  /** An in-dialog request from the peer (the dialog matched). */
  handleRequest(req: SipRequest, tx: ServerTransaction): void {
    const d = this.dialog!;
    // a dialog kept a little after its call ended answers a late BYE, and nothing else (RFC 3261 12.2.2)
    if (this.state === 'ended' && req.method !== 'BYE') return this.stack.refuse(tx, 481);
    if (!d.receiveRequest(req)) return this.stack.refuse(tx, 500, 'Server Internal Error (CSeq out of order)');
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
        if (this.listenerCount('offer')) this.emit('offer', req, tx);
        else this.stack.refuse(tx, 488);
        return;
      case 'INFO':
        if (this.listenerCount('info')) this.emit('info', req, tx);
        else this.stack.respond(tx, this.stack.createResponse(req, 200));
        return;
      case 'REFER':
        if (this.listenerCount('refer')) this.emit('refer', req, tx);
        else this.stack.refuse(tx, 603);
        return;
      case 'OPTIONS':
      case 'NOTIFY':
        this.stack.respond(tx, this.stack.createResponse(req, 200));
        return;
      default:
        this.stack.refuse(tx, 405);
    }
  }

  handleAck(ack: SipRequest): void {
    this.dialog?.ackReceived(ack);
    this.emit('ack', ack);
  }

  /** Answers a re-INVITE/UPDATE (or INFO, REFER) from the peer. */
  answerRequest(req: SipRequest, tx: ServerTransaction, status: number, body?: Body): void {
    if (status >= 300) return this.stack.refuse(tx, status);
    const res = this.stack.createResponse(req, status, undefined, this.dialog!.localTag);
    if (status >= 200) {
      res.set('contact', this.dialog!.localContact);
      // a 2xx to a re-INVITE or UPDATE refreshes the session, and says its interval again (RFC 4028 9, 10)
      if (status < 300 && (req.method === 'INVITE' || req.method === 'UPDATE')) this.sessionRefreshed(req, res);
      if (body) {
        res.set('content-type', body.type);
        res.body = body.data;
      }
      if (req.method === 'INVITE') return this.dialog!.sendSuccess(tx as InviteServerTransaction, res);
    }
    this.stack.respond(tx, res);
  }

  /** Sends a request in the dialog (challenges answered); resolves with its outcome, never rejects. */
  send(method: string, body?: Body, headers: Record<string, string> = {}, ackLater = false): Promise<InDialogResult> {
    const d = this.dialog;
    if (!d) return Promise.resolve({ status: 481, response: undefined });
    return d.send(method, { body, headers, ackLater });
  }

  /**
   * Hangs up (BYE once confirmed; an unanswered leg is ended by its subclass). The promise ends
   * when the BYE is answered or given up (Timer F): a node shutting down waits for it.
   */
  hangup(): Promise<void> {
    if (this.#bye) return this.#bye;
    if (this.state === 'ended') return Promise.resolve();
    const wasConfirmed = this.state === 'confirmed';
    this.#end();
    this.#bye = wasConfirmed ? this.send('BYE').then(() => undefined) : Promise.resolve();
    return this.#bye;
  }

  protected markConfirmed(): void {
    if (this.state !== 'ended') this.state = 'confirmed';
  }

  #end(): void {
    this.state = 'ended';
    this.sessionEnded();
    this.dialog?.terminate();
  }

  /** RFC 4028: a refresh from the peer was accepted (an InboundLeg with a session timer keeps time). */
  protected sessionRefreshed(_req: SipRequest, _res: SipResponse): void {}

  /** The dialog ends: its session timer with it. */
  protected sessionEnded(): void {}

  protected endQuietly(): void {
    this.#end();
  }
}

/** RFC 4028 session timers on a caller's dialog: the node's policy, and the clock its timer runs on. */
export interface SessionTimerSetup {
  policy: SessionTimerPolicy;
  clock?: TimerClock;
}

/** The caller's side: we received its INVITE and answer it (UAS). */
export class InboundLeg extends Leg {
  readonly request: SipRequest;
  readonly tx: InviteServerTransaction;
  readonly localTag = SipStack.tag();
  readonly #dialog: Dialog;
  readonly #session: SessionTimerSetup | undefined;
  #sessionTimer: SessionTimer | undefined;
  /** The caller sent CANCEL. */
  onCancel: (() => void) | undefined;

  /** `session`: RFC 4028 session timers on this dialog (started when it is answered). */
  constructor(stack: SipStack, req: SipRequest, tx: InviteServerTransaction, party: string, log: Logger, localContact: string, session?: SessionTimerSetup) {
    super(stack, party, log);
    this.request = req;
    this.tx = tx;
    this.#session = session;
    const src = tx.source;
    const flow: Target | undefined = src.flowId !== undefined ? { protocol: src.protocol, address: src.address, port: src.port, flowId: src.flowId } : undefined;
    this.#dialog = Dialog.fromRequest(stack, req, this.localTag, localContact, flow);
    this.#dialog.onAckTimeout = () => {
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

  get dialog(): Dialog {
    return this.#dialog;
  }

  /** The caller's offer; undefined for a delayed offer (RFC 3261 13.2.1: our 2xx offers, the ACK answers). */
  get offer(): Body | undefined {
    return sdpOf(this.request);
  }

  /** 180 Ringing, 181 forwarded, or 183 Session Progress (with early media SDP). */
  progress(status: number, body?: Body): void {
    if (this.state !== 'initial' && this.state !== 'early') return;
    this.state = 'early';
    const res = this.stack.createResponse(this.request, status, undefined, this.localTag);
    res.set('contact', this.#dialog.localContact);
    if (body) {
      res.set('content-type', body.type);
      res.body = body.data;
    }
    this.stack.respond(this.tx, res);
  }

  answer(body: Body, headers: Record<string, string> = {}): void {
    if (this.state === 'confirmed' || this.state === 'ended') return;
    const res = this.stack.createResponse(this.request, 200, undefined, this.localTag);
    res.set('contact', this.#dialog.localContact);
    for (const [k, v] of Object.entries(headers)) res.set(k, v);
    const timer = negotiateUas(this.request, this.#session?.policy);
    if (timer) for (const [k, v] of Object.entries(timer.headers)) res.set(k, v);
    res.set('content-type', body.type);
    res.body = body.data;
    this.markConfirmed();
    this.#dialog.sendSuccess(this.tx, res);
    if (timer) this.#startSessionTimer(timer.interval, timer.refresher === 'uas', body);
  }

  /**
   * Without refreshes a party that vanished without a BYE holds its call for ever: we refresh
   * when we are the refresher (UPDATE where the caller allows it, else re-INVITE with our SDP
   * again), else we watch the caller's refreshes; a session nobody refreshed is hung up.
   */
  #startSessionTimer(interval: number, weRefresh: boolean, body: Body): void {
    const update = this.request.getAll('allow').some((a) => a.split(',').some((m) => m.trim().toUpperCase() === 'UPDATE'));
    const headers = { 'session-expires': `${interval};refresher=uas`, supported: 'timer' };
    this.#sessionTimer = new SessionTimer({
      intervalMs: interval * 1000,
      weRefresh,
      clock: this.#session?.clock,
      refresh: async () => (await (update ? this.send('UPDATE', undefined, headers) : this.send('INVITE', body, headers))).status,
      expire: (why) => {
        if (this.state === 'ended') return;
        this.log.warn(`session timer: ${why}; hanging up`, { callId: this.callId });
        void this.hangup();
        this.emit('bye');
      },
    });
    this.#sessionTimer.start();
  }

  protected override sessionRefreshed(req: SipRequest, res: SipResponse): void {
    if (!this.#sessionTimer) return;
    this.#sessionTimer.refreshed();
    for (const [k, v] of Object.entries(negotiateUas(req, this.#session?.policy)?.headers ?? {})) res.set(k, v);
  }

  protected override sessionEnded(): void {
    this.#sessionTimer?.close();
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

/** The callee's side: we send the INVITE (UAC) to one contact, through the stack's INVITE client. */
export class OutboundLeg extends Leg {
  readonly #client: InviteClient;
  readonly outbound = new EventEmitter<OutboundEvents>();

  /** `ackLater`: the INVITE carries no offer; the call ACKs the 2xx with the answer (`ack()`). */
  constructor(stack: SipStack, req: SipRequest, target: Target, party: string, log: Logger, o: { credentials?: ClientCredentials; ackLater?: boolean } = {}) {
    super(stack, party, log);
    this.#client = new InviteClient(stack, req, {
      onProgress: (res) => {
        if (this.state === 'initial') this.state = 'early';
        this.outbound.emit('progress', res);
      },
      onAnswered: (res) => {
        this.markConfirmed();
        this.outbound.emit('answered', res);
      },
      onFailed: (status, res) => {
        if (this.state === 'ended') return;
        this.endQuietly();
        this.outbound.emit('failed', status, res);
      },
    }, { target, credentials: o.credentials, ackLater: o.ackLater });
  }

  get callId(): string {
    return this.#client.request.callId;
  }

  /** The INVITE as last sent (a digest retry replaces the first). */
  get request(): SipRequest {
    return this.#client.request;
  }

  get dialog(): Dialog | undefined {
    return this.#client.dialog;
  }

  /** Resolves once the INVITE has its outcome: a cancelled one waits for its 487 (or 64*T1). */
  get settled(): Promise<void> {
    return this.#client.settled;
  }

  /** True once a provisional response came (a trunk's setup time has been met). */
  get heard(): boolean {
    return this.state !== 'initial';
  }

  invite(): void {
    this.#client.start();
  }

  /** ACKs the 2xx with the answer to its offer (a leg made with `ackLater`). */
  ack(body?: Body): void {
    this.#client.ack(body);
  }

  /** Stops the leg: CANCEL while unanswered (RFC 3261 9.1), BYE once answered. */
  cancel(): void {
    if (this.state === 'confirmed') {
      void this.hangup();
      return;
    }
    if (this.state === 'ended') return;
    this.endQuietly();
    this.#client.cancel();
  }
}
