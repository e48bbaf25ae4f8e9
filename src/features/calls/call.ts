/**
 * A call between a caller (one inbound leg) and whoever its ring strategy reaches. Its state
 * (call-state.ts) changes in one place, `#to()`; offer/answer is the session's (session.ts);
 * how it rings is the strategy's (ring/); requests during the call are InCall's (in-call.ts)
 * and transfers Transfers' (transfer.ts). Every timer it starts lives in its CallTimers and
 * ends with it. A throw in any of its handlers ends this call, and only this call.
 */
import type { Clock } from '../../core/clock.js';
import type { CallDisposition, CallRecord } from '../../core/call-record.js';
import type { Logger } from '../../core/logger.js';
import type { PlayerSource, Player } from '../../media/index.js';
import { SdpError } from '../../media/sdp.js';
import type { SipResponse } from '../../sip/message/message.js';
import { CallState, CallStateMachine } from './call-state.js';
import { InCall } from './in-call.js';
import { sdpOf, type InboundLeg, type Leg } from './leg.js';
import type { AnchoredMedia, AnchoredSide } from './media.js';
import { Ringing, type ForkMaker, type RingingOwner, type RingPhase } from './ring/ringing.js';
import type { CallInfo, RingOutcome, RingStrategy } from './ring/strategy.js';
import { callRecord } from './records.js';
import { CallSession, type Fork, type Party } from './session.js';
import { CallTimers } from './timers.js';
import { Transfers, type TransferCall, type TransferHost } from './transfer.js';

/** What a call needs from the B2BUA that owns it. */
export interface CallHost {
  readonly log: Logger;
  readonly clock: Clock;
  readonly forks: ForkMaker;
  readonly transfers: TransferHost;
  /** Give up ringing after this long (480), for strategies that take a ring timeout. */
  readonly ringTimeoutMs: number;
  /** A party of the call silent this long (no RTP, not in a hold) ends it (ms); 0 or none: never. */
  readonly rtpTimeoutMs?: number;
  /** A leg's dialog is known: in-dialog requests reach this call through it. */
  registerLeg(leg: Leg, call: Call): void;
  /** The caller (not answered) goes on to `mailbox`'s voicemail with its leg and media. */
  divert(call: Call, leg: InboundLeg, side: AnchoredSide | undefined, mailbox: string, why: string): void;
  /** The call is over: its record is written, its dialogs linger a little for retransmissions. */
  ended(call: Call, record: CallRecord): void;
}

export class Call implements TransferCall {
  readonly info: CallInfo;
  readonly a: InboundLeg;
  readonly media: AnchoredMedia | undefined;
  readonly session: CallSession;
  readonly timers: CallTimers;
  readonly log: Logger;
  readonly start: Date;
  readonly #host: CallHost;
  readonly #sm = new CallStateMachine();
  readonly #strategy: RingStrategy;
  readonly #transfers: Transfers;
  readonly #inCall: InCall;
  #ringing: Ringing | undefined;
  #winner: Fork | undefined;
  #parties: Party[] = [];
  /** Legs that left (a transferor) or went elsewhere: this call no longer hangs them up. */
  readonly #released = new Set<Leg>();
  #connected: string | undefined;
  #answer: Date | undefined;
  #cause = '';
  #disposition: CallDisposition = 'failed';
  #holdPlayer: Player | undefined;
  #earlySent = false;
  readonly #onEnd: (() => void)[] = [];
  #closed: Promise<void> = Promise.resolve();

  constructor(host: CallHost, info: CallInfo, a: InboundLeg, media: AnchoredMedia | undefined, strategy: RingStrategy) {
    this.#host = host;
    this.info = info;
    this.a = a;
    this.media = media;
    this.log = host.log;
    this.#strategy = strategy;
    this.timers = new CallTimers(host.clock, (what, fn) => this.guard(what, fn));
    this.start = new Date(host.clock.now());
    this.session = new CallSession(a, media);
    this.#transfers = new Transfers(this, host.transfers);
    this.#inCall = new InCall({
      id: info.id, log: this.log, media, partyOf: (l) => this.#partyOf(l), peerOf: (l) => this.#peerOf(l), guard: (what, fn) => this.guard(what, fn),
    });
    this.#sm.onChange = (from, to, why) => this.log.debug(`call ${from} -> ${to} (${why})`, { call: info.id, callId: a.callId });
    if (media) this.#watch(media.a);
  }

  /**
   * RTP inactivity (a phone that lost power, a client that never speaks): a party of this call
   * that sends nothing for the node's rtpTimeoutMs, not in a hold, ends the call. Sides that
   * ring (forks, a transfer's target) are not parties yet, and silence is expected of them.
   */
  #watch(side: AnchoredSide): void {
    const party = () => this.#parties.find((p) => p.side === side);
    side.watch(this.#host.rtpTimeoutMs ?? 0, () => party() !== undefined, (ms) => {
      this.guard('RTP inactivity', () => this.end(`${party()?.leg.party ?? 'a party'}: no RTP for ${Math.round(ms / 1000)} s`));
    });
  }

  /** A media side for a party this call rings (a phone, a trunk, a transfer's target), watched for RTP. */
  newSide(): AnchoredSide | undefined {
    const side = this.media?.newSide();
    if (side) this.#watch(side);
    return side;
  }

  get state(): CallState {
    return this.#sm.state;
  }

  /** When a party answered (the call is or was connected); undefined before. */
  get answeredAt(): Date | undefined {
    return this.#answer;
  }

  get ended(): boolean {
    return this.#sm.over;
  }

  get over(): boolean {
    return this.#sm.over;
  }

  /** Resolves once the call's BYEs are answered (or given up): a node shutting down waits for it. */
  get closed(): Promise<void> {
    return this.#closed;
  }

  get maxForwards(): number | undefined {
    return this.a.request.maxForwards;
  }

  get parties(): readonly Party[] {
    return this.#parties;
  }

  /** Who is in this call now: the parties once answered, else the caller. */
  get partyNumbers(): string[] {
    return this.#parties.length ? this.#parties.map((p) => p.leg.party) : [this.a.party];
  }

  /** Who this call rings now: the callee's phones, or a transfer's target. */
  get ringingNumbers(): string[] {
    return [...(this.#ringing?.ringingNumbers ?? []), ...this.#transfers.ringingNumbers];
  }

  /** The extension or number being rung now, or that answered. */
  get target(): string {
    return this.#connected ?? this.#ringing?.target ?? this.#strategy.target;
  }

  /** Answers the caller's offer (anchored media) and starts ringing. */
  begin(): void {
    this.guard('begin', () => {
      this.#to(CallState.Routing, 'begun');
      try {
        this.session.open();
      } catch (e) {
        const status = e instanceof SdpError ? e.status : 488;
        return this.#fail(status, `${status === 488 ? 'Not Acceptable Here' : 'Bad Request'} (${(e as Error).message})`);
      }
      this.a.onCancel = () => {
        this.#disposition = 'cancelled';
        this.#cause = '487';
        this.end('caller cancelled');
      };
      this.#wireLeg(this.a);
      this.#ringing = new Ringing(this.#owner(), this.#strategy, { ringTimeoutMs: this.#host.ringTimeoutMs });
      this.#ringing.start();
    });
  }

  /** What the ringing may do with this call. */
  #owner(): RingingOwner {
    const sm = this.#sm;
    return {
      info: this.info,
      log: this.log,
      timers: this.timers,
      forks: this.#host.forks,
      maxForwards: this.maxForwards,
      get over() {
        return sm.over;
      },
      newSide: () => this.newSide(),
      offer: (side, oa) => this.session.offerFor(side, oa),
      progress: (status) => this.a.progress(status),
      earlyMedia: (f, body) => {
        const b = this.session.earlyFrom(f, body);
        if (b) this.a.progress(183, b);
        return b !== undefined;
      },
      hold: (source, onEnd) => this.#hold(source, onEnd),
      phase: (p) => this.#phase(p),
      register: (f) => this.#host.registerLeg(f.leg, this),
      answered: (f: Fork, res: SipResponse) => this.#answered(f, res),
      failed: (o: RingOutcome) => this.#failed(o),
      divert: (mailbox, why) => this.#divert(mailbox, why),
      guard: (what, fn) => this.guard(what, fn),
    };
  }

  #phase(p: RingPhase): void {
    const next = p === 'routing' ? CallState.Routing : p === 'ringing' ? CallState.Ringing : CallState.Early;
    if (this.#sm.setup && this.#sm.state !== next) this.#to(next, `ringing: ${p}`);
  }

  #answered(f: Fork, res: SipResponse): void {
    if (!this.#sm.setup) return void f.leg.hangup();
    this.#winner = f;
    this.#stopHold();
    let answer;
    try {
      answer = this.session.answered(f, sdpOf(res));
    } catch (e) {
      this.log.warn(`callee's answer unusable: ${(e as Error).message}`, { callId: f.leg.callId });
      void f.leg.hangup();
      this.#cause = '488';
      return this.#fail(488, 'Not Acceptable Here (callee answer unusable)');
    }
    this.#connected = this.#ringing?.target;
    this.a.answer(answer.body);
    if (answer.awaitAck) {
      this.a.once('ack', (ack) => this.guard('ACK', () => {
        if (!this.session.callerAcked(sdpOf(ack))) this.end('no usable answer in the ACK');
      }));
    }
    this.#to(CallState.Answered, `answered by ${f.contact}`);
    this.#answer = new Date(this.#host.clock.now());
    this.#disposition = 'answered';
    this.#parties = [{ leg: this.a, side: this.media?.a, oa: this.session.callerOa }, { leg: f.leg, side: f.side, oa: f.oa }];
    this.#wireLeg(f.leg);
    this.log.info('call answered', { callId: this.a.callId, call: this.info.id, by: f.contact });
  }

  #failed(o: RingOutcome): void {
    this.#disposition = o.disposition;
    this.#cause = o.cause;
    this.a.reject(o.status, o.reason);
    this.end(o.why);
  }

  #fail(status: number, reason: string): void {
    this.#failed({ status, reason, disposition: 'failed', cause: String(status), why: reason });
  }

  /** Voicemail takes the caller: ringing stops, the caller's leg and media go on without this call. */
  #divert(mailbox: string, why: string): boolean {
    if (!this.#sm.setup || this.a.state === 'confirmed' || !mailbox) return false;
    this.#ringing?.stop();
    this.#stopHold();
    const side = this.media?.a;
    if (side) this.media!.detach(side);
    this.a.removeAllListeners();
    this.a.onCancel = undefined;
    this.#released.add(this.a);
    this.#disposition = 'no-answer';
    this.#cause = 'voicemail';
    this.#host.divert(this, this.a, side, mailbox, why);
    this.end(`to voicemail ${mailbox} (${why})`);
    return true;
  }

  /** Our early media to the waiting caller (a queue's music, camp-on tone); true when it is heard. */
  #hold(source: PlayerSource | undefined, onEnd?: () => void): boolean {
    if (!this.#sm.setup) return false;
    this.#stopHold();
    if (!source) return false;
    const body = this.session.ownEarly();
    if (!this.media || !body) {
      this.a.progress(180);
      return false;
    }
    if (!this.#earlySent) {
      this.#earlySent = true;
      this.a.progress(183, body);
    }
    try {
      const p = this.media.a.endpoint.play(source, { loop: onEnd === undefined });
      if (onEnd) p.once('end', (e) => e.completed && onEnd());
      this.#holdPlayer = p;
      return true;
    } catch (e) {
      this.log.warn(`cannot play to a waiting caller: ${(e as Error).message}`, { callId: this.a.callId });
      return false;
    }
  }

  #stopHold(): void {
    if (this.#holdPlayer && !this.#holdPlayer.closed) this.#holdPlayer.close();
    this.#holdPlayer = undefined;
  }

  #partyOf(leg: Leg): Party | undefined {
    return this.#parties.find((p) => p.leg === leg);
  }

  #peerOf(leg: Leg): Party | undefined {
    return this.#parties.length ? this.#parties.find((p) => p.leg !== leg) : undefined;
  }

  #wireLeg(leg: Leg): void {
    leg.on('bye', () => this.guard('BYE', () => {
      // the transferor leaves once the transfer is under way: the call goes on without it
      if (this.#transfers.isTransferor(leg) || this.#released.has(leg)) return;
      if (this.#parties.length && !this.#parties.some((p) => p.leg === leg)) return;
      this.#cause = leg === this.a ? 'caller hung up' : 'callee hung up';
      this.end(this.#cause);
    }));
    leg.on('refer', (req, tx) => this.guard('REFER', () => this.#transfers.onRefer(leg, req, tx), () => leg.answerRequest(req, tx, 500)));
    leg.on('ackTimeout', () => this.end('no ACK'));
    leg.on('ack', (ack) => this.guard('ACK', () => this.#inCall.ack(leg, ack)));
    leg.on('offer', (req, tx) => this.guard(req.method, () => this.#inCall.offer(leg, req, tx), () => leg.answerRequest(req, tx, 500)));
    leg.on('info', (req, tx) => this.guard('INFO', () => this.#inCall.info(leg, req, tx), () => leg.answerRequest(req, tx, 500)));
    const side = leg === this.a ? this.media?.a : this.#partyOf(leg)?.side;
    side?.endpoint.on('dtmf', (d) => this.guard('DTMF', () => this.#inCall.rtpDigit(leg, d.digit, d.durationMs)));
  }

  // What transfers (transfer.ts) and ad-hoc conferences need of the call.

  transferring(on: boolean): void {
    if (this.#sm.over) return;
    this.#to(on ? CallState.Transferring : CallState.Answered, on ? 'blind transfer rings its target' : 'transfer over');
  }

  replaceParty(old: Party, neu: Party, target?: string): void {
    if (old.side && neu.side) this.media?.adopt(old.side, neu.side);
    // a party from another call (attended transfer) is watched by this call from now on
    if (neu.side) this.#watch(neu.side);
    this.#parties = this.#parties.map((p) => (p === old ? neu : p));
    if (target !== undefined) this.#connected = target;
    this.#wireLeg(neu.leg);
  }

  release(leg: Leg): void {
    this.#released.add(leg);
  }

  register(leg: Leg): void {
    this.#host.registerLeg(leg, this);
  }

  /** The party opposite `leg` leaves with its leg and media (attended transfer, a conference). */
  releasePeerOf(leg: Leg): Party | undefined {
    const peer = this.#parties.find((p) => p.leg !== leg);
    if (!peer || !peer.side || !this.media) return undefined;
    peer.leg.removeAllListeners();
    peer.side.endpoint.removeAllListeners('dtmf');
    this.media.detach(peer.side);
    this.#parties = this.#parties.filter((p) => p !== peer);
    this.#released.add(peer.leg);
    return peer;
  }

  /** Runs `fn` when the call ends (a trunk channel the caller's leg holds, say). */
  onEnd(fn: () => void): void {
    if (this.#sm.over) fn();
    else this.#onEnd.push(fn);
  }

  /** Ends the call from our side; a caller still waiting gets `status` (a node shutting down: 503 and Retry-After). */
  abort(status: number, reason: string, headers: Record<string, string>, why: string): void {
    if (this.#sm.over) return;
    if (this.a.state !== 'confirmed') {
      this.#cause = String(status);
      this.a.reject(status, reason, headers);
    }
    this.end(why);
  }

  /** Ends the call: hangs up every leg still up (BYEs awaited in `closed`), frees media, writes the record. */
  end(why: string): void {
    if (this.#sm.over) return;
    this.#to(CallState.Ending, why);
    this.timers.clearAll();
    this.#ringing?.stop();
    this.#transfers.close();
    this.#stopHold();
    const byes: Promise<void>[] = [];
    const a = this.a;
    if (!a.ended && !this.#released.has(a)) {
      if (a.state === 'confirmed') byes.push(a.hangup());
      else a.reject(this.#disposition === 'no-answer' ? 480 : 500);
    }
    const w = this.#winner;
    w?.release?.();
    for (const fn of this.#onEnd.splice(0)) fn();
    for (const p of this.#parties) if (!p.leg.ended && !this.#released.has(p.leg)) byes.push(p.leg.hangup());
    if (w && !this.#parties.length && !w.leg.ended) byes.push(w.leg.hangup());
    this.media?.close();
    if (w?.side && !w.side.endpoint.closed && !this.#released.has(w.leg)) w.side.endpoint.close();
    this.log.info(`call ended: ${why}`, { callId: a.callId, call: this.info.id, disposition: this.#disposition });
    if (this.#ringing) byes.push(this.#ringing.settled);
    this.#closed = Promise.all(byes).then(() => this.#to(CallState.Ended, 'hung up'));
    this.#host.ended(this, this.#record());
  }

  #record(): CallRecord {
    return this.recordAt(new Date(this.#host.clock.now()), this.#cause);
  }

  /** The record this call gets if it ends at `at` with `cause` (the call journal writes it for calls up now). */
  recordAt(at: Date, cause: string): CallRecord {
    const w = this.#winner;
    return callRecord({
      info: this.info, start: this.start, answer: this.#answer, end: at, caller: { leg: this.a, side: this.media?.a },
      callee: w && { leg: w.leg, side: w.side }, connected: w ? this.target : undefined, disposition: this.#disposition, cause,
    });
  }

  #to(next: CallState, why: string): void {
    this.#sm.to(next, why);
  }

  /**
   * The call's error boundary: a throw in `fn` is logged with the call, `onError` answers the
   * request that caused it (500), and this call ends; the node and other calls carry on.
   */
  guard<R>(what: string, fn: () => R, onError?: () => void): R | undefined {
    try {
      return fn();
    } catch (e) {
      const err = e as Error;
      this.log.error(`call failed in ${what}: ${err.message}`, { callId: this.a.callId, call: this.info.id, stack: err.stack });
      try {
        onError?.();
      } catch { /* the request is answered already */ }
      this.#cause = '500';
      if (!this.#sm.over) {
        if (this.a.state !== 'confirmed') this.a.reject(500, 'Server Internal Error');
        this.end(`internal error in ${what}`);
      }
      return undefined;
    }
  }
}
