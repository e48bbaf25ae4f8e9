import { SipRequest, type SipResponse } from '../message/message.js';
import type { Target } from '../transport/types.js';
import type { TransactionContext } from './context.js';
import type { TimerEntry, TimerTarget } from './timers.js';

/** RFC 3261 figure 5 with RFC 6026's Accepted state. */
export enum InviteClientState {
  Calling = 'Calling',
  Proceeding = 'Proceeding',
  Completed = 'Completed',
  Accepted = 'Accepted',
  Terminated = 'Terminated',
}

/** RFC 3261 figure 6. */
export enum NonInviteClientState {
  Trying = 'Trying',
  Proceeding = 'Proceeding',
  Completed = 'Completed',
  Terminated = 'Terminated',
}

export type ClientFailure = 'timeout' | 'transport';

/** What the TU hears from a client transaction. */
export interface ClientTransactionUser {
  /** Every response the transaction passes up (provisional, final, and 2xx retransmissions). */
  onResponse(res: SipResponse, tx: ClientTransaction): void;
  /** Timer B/F fired or the transport failed: treat as 408 / 503 (RFC 3261 8.1.3.1). */
  onFailure(reason: ClientFailure, tx: ClientTransaction): void;
}

abstract class ClientTransactionBase implements TimerTarget {
  readonly key: string;
  readonly request: SipRequest;
  readonly target: Target;
  readonly reliable: boolean;
  protected ctx: TransactionContext;
  protected tu: ClientTransactionUser;
  protected buf: Buffer;
  protected timerA: TimerEntry | undefined;
  protected timerB: TimerEntry | undefined;
  protected interval: number;

  constructor(ctx: TransactionContext, key: string, request: SipRequest, target: Target, tu: ClientTransactionUser) {
    this.ctx = ctx;
    this.key = key;
    this.request = request;
    this.target = target;
    this.tu = tu;
    this.reliable = target.protocol !== 'udp';
    this.buf = request.toBuffer();
    this.interval = ctx.t1;
  }

  abstract get state(): string;
  abstract onTimer(name: string): void;
  abstract receiveResponse(res: SipResponse): void;

  protected send(): void {
    this.ctx.sendRequest(this.buf, this.target, (err) => {
      if (err) this.fail('transport');
    });
  }

  protected abstract fail(reason: ClientFailure): void;

  protected clearTimers(): void {
    this.timerA?.cancel();
    this.timerB?.cancel();
    this.timerA = this.timerB = undefined;
  }

  protected terminate(): void {
    this.clearTimers();
    this.ctx.removeClient(this);
  }
}

export class InviteClientTransaction extends ClientTransactionBase {
  #state = InviteClientState.Calling;

  get state(): InviteClientState {
    return this.#state;
  }

  start(): void {
    this.send();
    if (!this.reliable) this.timerA = this.ctx.timers.schedule(this, 'A', this.interval);
    this.timerB = this.ctx.timers.schedule(this, 'B', 64 * this.ctx.t1);
  }

  receiveResponse(res: SipResponse): void {
    const s = res.status;
    switch (this.#state) {
      case InviteClientState.Calling:
      case InviteClientState.Proceeding:
        if (s < 200) {
          if (this.#state === InviteClientState.Calling) {
            this.#state = InviteClientState.Proceeding;
            this.timerA?.cancel();
            this.timerA = undefined;
          }
          this.tu.onResponse(res, this);
        } else if (s < 300) {
          this.#state = InviteClientState.Accepted;
          this.clearTimers();
          this.timerB = this.ctx.timers.schedule(this, 'M', 64 * this.ctx.t1);
          this.tu.onResponse(res, this);
        } else {
          this.#state = InviteClientState.Completed;
          this.clearTimers();
          this.#sendAck(res);
          this.timerB = this.ctx.timers.schedule(this, 'D', this.reliable ? 0 : 32000);
          this.tu.onResponse(res, this);
        }
        return;
      case InviteClientState.Completed:
        if (s >= 300) this.#sendAck(res); // retransmitted final: ACK again, not passed up
        return;
      case InviteClientState.Accepted:
        if (s >= 200 && s < 300) this.tu.onResponse(res, this); // 2xx retransmissions to the TU
        return;
      default:
        return;
    }
  }

  /** ACK for a non-2xx final response (RFC 3261 17.1.1.3): same branch, To from the response. */
  #sendAck(res: SipResponse): void {
    const inv = this.request;
    const ack = new SipRequest('ACK', inv.uriText);
    ack.set('via', inv.headers.get('via')![0]);
    for (const h of ['max-forwards', 'from', 'call-id']) {
      const v = inv.get(h);
      if (v !== undefined) ack.set(h, v);
    }
    ack.set('to', res.get('to') ?? inv.get('to')!);
    ack.set('cseq', `${inv.cseq.seq} ACK`);
    const route = inv.headers.get('route');
    if (route) ack.set('route', route);
    this.ctx.sendRequest(ack.toBuffer(), this.target);
  }

  protected fail(reason: ClientFailure): void {
    if (this.#state === InviteClientState.Terminated || this.#state === InviteClientState.Accepted) return;
    if (this.#state === InviteClientState.Completed) return;
    this.#state = InviteClientState.Terminated;
    this.terminate();
    this.tu.onFailure(reason, this);
  }

  onTimer(name: string): void {
    switch (name) {
      case 'A':
        if (this.#state !== InviteClientState.Calling) return;
        this.send();
        this.interval *= 2;
        this.timerA = this.ctx.timers.schedule(this, 'A', this.interval);
        return;
      case 'B':
        if (this.#state === InviteClientState.Calling || this.#state === InviteClientState.Proceeding) {
          // Timer B only guards Calling per RFC 3261; in Proceeding we keep it as a ceiling only
          // when nothing at all was received, so a ringing call is not cut off here.
          if (this.#state === InviteClientState.Calling) this.fail('timeout');
        }
        return;
      case 'D':
      case 'M':
        this.#state = InviteClientState.Terminated;
        this.terminate();
        return;
    }
  }

  /** The TU gives up on a call still in Proceeding (after CANCEL got no final answer). */
  abandon(): void {
    if (this.#state === InviteClientState.Terminated) return;
    this.#state = InviteClientState.Terminated;
    this.terminate();
  }
}

export class NonInviteClientTransaction extends ClientTransactionBase {
  #state = NonInviteClientState.Trying;

  get state(): NonInviteClientState {
    return this.#state;
  }

  start(): void {
    this.send();
    if (!this.reliable) this.timerA = this.ctx.timers.schedule(this, 'E', this.interval);
    this.timerB = this.ctx.timers.schedule(this, 'F', 64 * this.ctx.t1);
  }

  receiveResponse(res: SipResponse): void {
    if (this.#state !== NonInviteClientState.Trying && this.#state !== NonInviteClientState.Proceeding) return;
    if (res.status < 200) {
      this.#state = NonInviteClientState.Proceeding;
      this.tu.onResponse(res, this);
      return;
    }
    this.#state = NonInviteClientState.Completed;
    this.clearTimers();
    this.timerB = this.ctx.timers.schedule(this, 'K', this.reliable ? 0 : this.ctx.t4);
    this.tu.onResponse(res, this);
  }

  protected fail(reason: ClientFailure): void {
    if (this.#state === NonInviteClientState.Completed || this.#state === NonInviteClientState.Terminated) return;
    this.#state = NonInviteClientState.Terminated;
    this.terminate();
    this.tu.onFailure(reason, this);
  }

  onTimer(name: string): void {
    switch (name) {
      case 'E':
        if (this.#state !== NonInviteClientState.Trying && this.#state !== NonInviteClientState.Proceeding) return;
        this.send();
        // In Proceeding the interval is T2 (RFC 3261 17.1.2.2).
        this.interval = this.#state === NonInviteClientState.Proceeding ? this.ctx.t2 : Math.min(2 * this.interval, this.ctx.t2);
        this.timerA = this.ctx.timers.schedule(this, 'E', this.interval);
        return;
      case 'F':
        this.fail('timeout');
        return;
      case 'K':
        this.#state = NonInviteClientState.Terminated;
        this.terminate();
        return;
    }
  }
}

export type ClientTransaction = InviteClientTransaction | NonInviteClientTransaction;
