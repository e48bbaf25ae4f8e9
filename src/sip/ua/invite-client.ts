/**
 * The UAC side of an INVITE (RFC 3261 13.2, 9.1): sent with digest retries, early dialogs from
 * provisional responses, the dialog and its ACK from the first 2xx, and `cancel()`: CANCEL once
 * a provisional response has come (never before, 9.1), a 2xx that crosses it ACKed and ended
 * with BYE, and the wait for the INVITE's final response bounded by 64*T1. A 2xx from a second
 * fork of a proxy (13.2.2.4) is ACKed and ended at once: one dialog per InviteClient.
 */
import { Dialog } from '../dialog/dialog.js';
import { SipRequest, type SipResponse } from '../message/message.js';
import type { SipStack } from '../stack.js';
import type { TimerEntry, TimerTarget } from '../transaction/timers.js';
import type { Target } from '../transport/types.js';
import type { AuthFailure, ClientCredentials } from './challenge.js';
import { ClientRequest, failureStatus } from './client-request.js';

/** Where an INVITE client is in its life. */
export enum InviteClientPhase {
  /** Made, not sent yet. */
  Idle = 'idle',
  /** Sent; no provisional response yet. */
  Calling = 'calling',
  /** A provisional response came (CANCEL may be sent now). */
  Proceeding = 'proceeding',
  /** The user cancelled; waiting for the final response (487, or a 2xx we end at once). */
  Cancelling = 'cancelling',
  /** A 2xx came: the dialog is confirmed. */
  Answered = 'answered',
  /** A final failure, a timeout or a transport error. */
  Failed = 'failed',
  /** Cancelled and done with. */
  Cancelled = 'cancelled',
}

export interface InviteClientUser {
  /** A provisional response other than 100 (the early dialog, when it has a To tag, is `client.dialog`). */
  onProgress?(res: SipResponse): void;
  /** The first 2xx: `client.dialog` is confirmed. The ACK is sent already, unless `ackLater`. */
  onAnswered(res: SipResponse): void;
  /** The INVITE failed: the final status (408 timeout, 503 transport) and the response when one came. */
  onFailed(status: number, res: SipResponse | undefined, authFailure: AuthFailure | undefined): void;
}

export interface InviteClientOptions {
  target: Target;
  credentials?: ClientCredentials;
  /**
   * The INVITE carries no offer (RFC 3261 13.2.1 delayed offer): the 2xx carries one, and the
   * user ACKs with the answer through `ack(body)`. Default: ACKed at once without a body.
   */
  ackLater?: boolean;
}

export class InviteClient implements TimerTarget {
  readonly #stack: SipStack;
  readonly #user: InviteClientUser;
  readonly #o: InviteClientOptions;
  readonly #request: ClientRequest;
  #phase = InviteClientPhase.Idle;
  #dialog: Dialog | undefined;
  #cancelSent = false;
  #giveUp: TimerEntry | undefined;
  #answerSeq: number | undefined;
  #settle!: () => void;
  /** Resolves once the INVITE has its final outcome (answered, failed, or cancelled and done with). */
  readonly settled = new Promise<void>((resolve) => (this.#settle = resolve));

  constructor(stack: SipStack, invite: SipRequest, user: InviteClientUser, opts: InviteClientOptions) {
    if (!(invite instanceof SipRequest) || invite.method !== 'INVITE') throw new TypeError('invite: an INVITE SipRequest');
    if (!opts?.target) throw new TypeError('opts.target: Target');
    this.#stack = stack;
    this.#user = user;
    this.#o = opts;
    this.#request = new ClientRequest(stack, invite, {
      onProvisional: (res) => this.#provisional(res),
      onFinal: (res, auth) => this.#final(res, auth),
      onFailure: (reason) => this.#failed(failureStatus(reason), undefined, undefined),
    }, { target: opts.target, credentials: opts.credentials });
  }

  get phase(): InviteClientPhase {
    return this.#phase;
  }

  /** The INVITE as last sent (a digest retry replaces the first). */
  get request(): SipRequest {
    return this.#request.request;
  }

  /** The early dialog (first provisional with a To tag), then the confirmed one. */
  get dialog(): Dialog | undefined {
    return this.#dialog;
  }

  get target(): Target {
    return this.#o.target;
  }

  /** Sends the INVITE; a send that fails at once is reported through onFailed (503) after this returns. */
  start(): void {
    if (this.#phase !== InviteClientPhase.Idle) return;
    this.#phase = InviteClientPhase.Calling;
    try {
      this.#request.start();
    } catch {
      queueMicrotask(() => this.#failed(503, undefined, undefined));
    }
  }

  /**
   * Gives up on the INVITE (RFC 3261 9.1). Nothing more reaches the user. An answered INVITE is
   * not cancelled: end its dialog with BYE instead.
   */
  cancel(): void {
    switch (this.#phase) {
      case InviteClientPhase.Idle:
        this.#phase = InviteClientPhase.Cancelled;
        this.#settle();
        return;
      case InviteClientPhase.Calling:
        // CANCEL waits for a provisional response; Timer B ends a silent INVITE meanwhile
        this.#phase = InviteClientPhase.Cancelling;
        this.#armGiveUp();
        return;
      case InviteClientPhase.Proceeding:
        this.#phase = InviteClientPhase.Cancelling;
        this.#sendCancel();
        this.#armGiveUp();
        return;
      default:
    }
  }

  /** The ACK carrying the answer to the offer in the 2xx (with `ackLater`); once. */
  ack(body?: { type: string; data: Buffer }): void {
    if (this.#answerSeq === undefined || !this.#dialog) return;
    this.#dialog.ack(this.#answerSeq, body);
    this.#answerSeq = undefined;
  }

  /** Releases the timer; the transaction ends by its own timers. */
  close(): void {
    this.#giveUp?.cancel();
    this.#giveUp = undefined;
  }

  onTimer(): void {
    // no final response within 64*T1 of the CANCEL: stop waiting (RFC 3261 9.1)
    this.#giveUp = undefined;
    this.#request.abandon();
    if (this.#phase === InviteClientPhase.Cancelling) this.#phase = InviteClientPhase.Cancelled;
    this.#settle();
  }

  #armGiveUp(): void {
    this.#giveUp ??= this.#stack.transactions.timers.schedule(this, 'cancel-give-up', 64 * this.#stack.transactions.t1);
  }

  #provisional(res: SipResponse): void {
    if (res.status === 100) return;
    if (this.#phase === InviteClientPhase.Calling) this.#phase = InviteClientPhase.Proceeding;
    if (this.#phase === InviteClientPhase.Cancelling) return this.#sendCancel();
    if (this.#phase !== InviteClientPhase.Proceeding) return;
    if (res.to.tag && !this.#dialog) this.#dialog = Dialog.fromResponse(this.#stack, this.request, res, this.#flow());
    this.#user.onProgress?.(res);
  }

  #final(res: SipResponse, authFailure: AuthFailure | undefined): void {
    if (res.status >= 300) return this.#failed(res.status, res, authFailure);
    const tag = res.to.tag ?? '';
    const d = this.#dialog;
    if (d && d.remoteTag === tag && this.#phase === InviteClientPhase.Answered) {
      d.retransmitAck(res); // 2xx retransmission: the ACK again
      return;
    }
    if (this.#phase === InviteClientPhase.Answered || this.#phase === InviteClientPhase.Cancelling || this.#phase === InviteClientPhase.Cancelled) {
      // answered after we gave up on it (CANCEL crossed the 2xx), or by a second fork: ACK and BYE
      this.#endExtra(res);
      if (this.#phase === InviteClientPhase.Cancelling) {
        this.#phase = InviteClientPhase.Cancelled;
        this.close();
        this.#settle();
      }
      return;
    }
    if (this.#phase !== InviteClientPhase.Calling && this.#phase !== InviteClientPhase.Proceeding) return;
    const dialog = d && d.remoteTag === tag ? d : Dialog.fromResponse(this.#stack, this.request, res, this.#flow());
    dialog.confirm(res);
    dialog.credentials = this.#o.credentials;
    this.#dialog = dialog;
    this.#phase = InviteClientPhase.Answered;
    if (this.#o.ackLater) this.#answerSeq = res.cseq.seq;
    else dialog.ack(res.cseq.seq);
    this.#settle();
    this.#user.onAnswered(res);
  }

  #failed(status: number, res: SipResponse | undefined, authFailure: AuthFailure | undefined): void {
    if (this.#phase === InviteClientPhase.Cancelling || this.#phase === InviteClientPhase.Cancelled) {
      this.#phase = InviteClientPhase.Cancelled;
      this.close();
      this.#settle();
      return;
    }
    if (this.#phase !== InviteClientPhase.Calling && this.#phase !== InviteClientPhase.Proceeding) return;
    this.#phase = InviteClientPhase.Failed;
    this.#settle();
    this.#user.onFailed(status, res, authFailure);
  }

  /** A 2xx we do not want: its own dialog, ACKed, then BYE (RFC 3261 15). */
  #endExtra(res: SipResponse): void {
    const extra = Dialog.fromResponse(this.#stack, this.request, res, this.#flow());
    extra.credentials = this.#o.credentials;
    extra.ack(res.cseq.seq);
    void extra.send('BYE');
  }

  #sendCancel(): void {
    if (this.#cancelSent) return;
    this.#cancelSent = true;
    const inv = this.request;
    const cancel = new SipRequest('CANCEL', inv.uriText);
    cancel.set('via', inv.headers.get('via')![0]);
    for (const h of ['from', 'to', 'call-id', 'route', 'max-forwards']) {
      const v = inv.headers.get(h);
      if (v) cancel.set(h, v.slice());
    }
    cancel.set('cseq', `${inv.cseq.seq} CANCEL`);
    try {
      this.#stack.request(cancel, { onResponse: () => undefined, onFailure: () => undefined }, this.#o.target);
    } catch {
      // no transport: the INVITE's own timers end it
    }
  }

  #flow(): Target | undefined {
    return this.#o.target.flowId !== undefined ? this.#o.target : undefined;
  }
}
