import { SipRequest, type SipResponse } from '../message/message.js';
import type { Source, Target } from '../transport/types.js';

/** What `request` reads once a completed non-INVITE transaction has let go of its request. */
const RELEASED = new SipRequest('RELEASED', 'sip:released.invalid');
import type { TimerEntry, TimerTarget } from './timers.js';
import type { TransactionContext } from './context.js';

/** RFC 3261 figure 7 with RFC 6026's Accepted state. */
export enum InviteServerState {
  Proceeding = 'Proceeding',
  Completed = 'Completed',
  Confirmed = 'Confirmed',
  Accepted = 'Accepted',
  Terminated = 'Terminated',
}

/** RFC 3261 figure 8. */
export enum NonInviteServerState {
  Trying = 'Trying',
  Proceeding = 'Proceeding',
  Completed = 'Completed',
  Terminated = 'Terminated',
}

abstract class ServerTransactionBase implements TimerTarget {
  readonly key: string;
  #request: SipRequest;
  readonly source: Source;
  /** Where responses go, fixed when the request arrives. */
  readonly target: Target;
  readonly reliable: boolean;
  protected ctx: TransactionContext;
  protected lastResponse: Buffer | undefined;
  protected timer: TimerEntry | undefined;
  protected timer2: TimerEntry | undefined;
  /** Called once when the transaction ends (removed from the table). */
  onTerminated: (() => void) | undefined;
  /** Transport failure while sending a response (RFC 3261 17.2.4). */
  onTransportError: ((err: Error) => void) | undefined;

  constructor(ctx: TransactionContext, key: string, request: SipRequest, source: Source) {
    this.ctx = ctx;
    this.key = key;
    this.#request = request;
    this.source = source;
    this.target = ctx.responseTarget(request, source);
    this.reliable = source.protocol !== 'udp';
  }

  /** The request; a placeholder once a completed non-INVITE transaction released it. */
  get request(): SipRequest {
    return this.#request;
  }

  /**
   * A completed non-INVITE transaction lives on for Timer J (32 s over UDP) only to answer
   * retransmissions: it keeps the response bytes and its target, not the parsed request.
   */
  protected release(): void {
    this.#request = RELEASED;
  }

  abstract get state(): string;
  abstract onTimer(name: string): void;
  /** A retransmission of the request arrived. */
  abstract receiveRequest(req: SipRequest): void;

  protected transmit(buf: Buffer): void {
    this.lastResponse = buf;
    this.ctx.sendResponse(buf, this.target, (err) => {
      if (err) this.onTransportError?.(err);
    });
  }

  protected retransmit(): void {
    if (this.lastResponse) this.ctx.sendResponse(this.lastResponse, this.target);
  }

  protected clearTimers(): void {
    this.timer?.cancel();
    this.timer2?.cancel();
    this.timer = this.timer2 = undefined;
  }

  /** True once any response was sent, or the transaction ended. */
  get responded(): boolean {
    return this.lastResponse !== undefined || this.#ended;
  }

  #ended = false;

  /** Whether a final response may still be sent. */
  abstract get finalSent(): boolean;

  /**
   * Sends a final response once and ends the transaction at once: no retransmission and no state
   * kept (Kamailio's sl_send_reply). For answers to requests nobody has proven to come from where
   * they say (a challenge, a refusal of an unauthenticated source): one packet back per packet in,
   * so a forged source address cannot turn the server into an amplifier, and a flood leaves no
   * transactions behind. A retransmitted request simply gets the same treatment again.
   */
  respondStateless(res: SipResponse, buf = res.toBuffer()): void {
    if (this.finalSent || this.#ended) return;
    this.ctx.sendResponse(buf, this.target, (err) => {
      if (err) this.onTransportError?.(err);
    });
    this.markTerminated();
    this.terminate();
  }

  protected abstract markTerminated(): void;

  protected terminate(): void {
    this.#ended = true;
    this.clearTimers();
    this.ctx.removeServer(this);
    const cb = this.onTerminated;
    this.onTerminated = undefined;
    cb?.();
  }
}

export class InviteServerTransaction extends ServerTransactionBase {
  #state = InviteServerState.Proceeding;
  #interval = 0;
  /** Set by the layer when a CANCEL for this INVITE arrives; the TU decides what to answer. */
  onCancel: ((cancel: SipRequest) => void) | undefined;
  /** An ACK for a non-2xx final response reached the transaction (for the TU's information). */
  onAck: ((ack: SipRequest) => void) | undefined;

  get state(): InviteServerState {
    return this.#state;
  }

  /** True once a final response was sent. */
  get finalSent(): boolean {
    return this.#state !== InviteServerState.Proceeding;
  }

  protected markTerminated(): void {
    this.#state = InviteServerState.Terminated;
  }

  respond(res: SipResponse): void {
    const buf = res.toBuffer();
    switch (this.#state) {
      case InviteServerState.Proceeding:
        this.transmit(buf);
        if (res.status < 200) return;
        if (res.status < 300) {
          // RFC 6026: stay to absorb INVITE retransmissions and pass 2xx retransmissions on.
          this.#state = InviteServerState.Accepted;
          this.timer = this.ctx.timers.schedule(this, 'L', 64 * this.ctx.t1);
        } else {
          this.#state = InviteServerState.Completed;
          if (!this.reliable) {
            this.#interval = this.ctx.t1;
            this.timer2 = this.ctx.timers.schedule(this, 'G', this.#interval);
          }
          this.timer = this.ctx.timers.schedule(this, 'H', 64 * this.ctx.t1);
        }
        return;
      case InviteServerState.Accepted:
        // RFC 6026 section 8.7: 2xx retransmissions by the TU go straight to the transport.
        if (res.status >= 200 && res.status < 300) this.ctx.sendResponse(buf, this.target);
        return;
      default:
        return;
    }
  }

  /** RFC 6026 8.7: the TU's 2xx retransmissions go straight to the transport. */
  retransmitSuccess(buf: Buffer): void {
    this.ctx.sendResponse(buf, this.target);
  }

  receiveRequest(req: SipRequest): void {
    if (req.method === 'ACK') {
      if (this.#state === InviteServerState.Completed) {
        this.#state = InviteServerState.Confirmed;
        this.timer2?.cancel();
        this.timer?.cancel();
        this.timer = this.ctx.timers.schedule(this, 'I', this.reliable ? 0 : this.ctx.t4);
        this.onAck?.(req);
      }
      return;
    }
    // INVITE retransmission: the last provisional or final response again
    if (this.#state === InviteServerState.Proceeding || this.#state === InviteServerState.Completed) this.retransmit();
  }

  onTimer(name: string): void {
    switch (name) {
      case 'G':
        if (this.#state !== InviteServerState.Completed) return;
        this.retransmit();
        this.#interval = Math.min(2 * this.#interval, this.ctx.t2);
        this.timer2 = this.ctx.timers.schedule(this, 'G', this.#interval);
        return;
      case 'H': // no ACK came: give up (the TU learns of it as a transport-level failure)
        if (this.#state === InviteServerState.Completed) {
          this.#state = InviteServerState.Terminated;
          this.onTransportError?.(new Error('Timer H: no ACK for final response'));
          this.terminate();
        }
        return;
      case 'I':
      case 'L':
        this.#state = InviteServerState.Terminated;
        this.terminate();
        return;
    }
  }
}

export class NonInviteServerTransaction extends ServerTransactionBase {
  #state = NonInviteServerState.Trying;

  get state(): NonInviteServerState {
    return this.#state;
  }

  get finalSent(): boolean {
    return this.#state === NonInviteServerState.Completed || this.#state === NonInviteServerState.Terminated;
  }

  protected markTerminated(): void {
    this.#state = NonInviteServerState.Terminated;
  }

  respond(res: SipResponse): void {
    if (this.#state !== NonInviteServerState.Trying && this.#state !== NonInviteServerState.Proceeding) return;
    this.transmit(res.toBuffer());
    if (res.status < 200) {
      this.#state = NonInviteServerState.Proceeding;
      return;
    }
    this.#state = NonInviteServerState.Completed;
    if (this.reliable) {
      this.#state = NonInviteServerState.Terminated;
      this.terminate();
    } else {
      this.timer = this.ctx.timers.schedule(this, 'J', 64 * this.ctx.t1);
      this.release();
    }
  }

  receiveRequest(): void {
    if (this.#state === NonInviteServerState.Proceeding || this.#state === NonInviteServerState.Completed) this.retransmit();
  }

  onTimer(name: string): void {
    if (name === 'J') {
      this.#state = NonInviteServerState.Terminated;
      this.terminate();
    }
  }
}

export type ServerTransaction = InviteServerTransaction | NonInviteServerTransaction;
