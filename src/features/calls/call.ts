import type { Logger } from '../../core/logger.js';
import { SdpError } from '../../media/sdp.js';
import type { SipRequest, SipResponse } from '../../sip/message/message.js';
import type { ServerTransaction } from '../../sip/transaction/server.js';
import type { CallDisposition, CallRecord, LegRecord } from '../../core/call-record.js';
import { parseDtmfInfo, dtmfInfoBody } from './dtmf.js';
import type { Body, InboundLeg, Leg, OutboundLeg } from './leg.js';
import { Transfers } from './transfer.js';
import { AnchoredMedia, type AnchoredSide } from './media.js';
import type { NextRoute, OutboundRoute } from './outbound.js';
import { CAMP_ON } from './tones.js';
import type { Player, PlayerSource } from '../../media/index.js';

/** A party of an answered call: its leg and, with anchored media, its side in the engine. */
export interface Party {
  leg: Leg;
  side: AnchoredSide | undefined;
}

export interface Fork {
  leg: OutboundLeg;
  side: AnchoredSide | undefined;
  contact: string;
  /** Gives back what the fork holds (a trunk channel); idempotent. */
  release?: () => void;
}

/** What a call needs from the manager that owns it. */
export interface CallHost {
  readonly log: Logger;
  /** Creates the outbound legs towards an extension's contacts, with the offer each carries. */
  fork(call: Call, extension: string, offer: (side: AnchoredSide | undefined) => Body): Fork[];
  /** The outbound leg towards a trunk route; undefined when the trunk cannot be reached (next route). */
  trunkFork(call: Call, route: Extract<NextRoute, { kind: 'trunk' }>, offer: (side: AnchoredSide | undefined) => Body): Promise<Fork | undefined>;
  /** Calls `cb` whenever a trunk channel frees (camp-on); returns the unsubscribe function. */
  watchRoutes(cb: () => void): () => void;
  registerLeg(leg: Leg, call?: Call): void;
  /** True when `number` is an extension of the solution. */
  isExtension(number: string): boolean;
  /** The call and leg of a dialog we hold (RFC 3891 Replaces), by our dialog key. */
  findLeg(key: string): { call: Call; leg: Leg } | undefined;
  /** A leg moved from one call to another (attended transfer). */
  moveLeg(leg: Leg, from: Call, to: Call): void;
  /** The caller (not answered yet) goes on to `mailbox`'s voicemail with its leg and media; the call ends. */
  divert(call: Call, leg: InboundLeg, side: AnchoredSide | undefined, mailbox: string, why: string): void;
  ended(call: Call, record: CallRecord): void;
  ringTimeoutMs: number;
}

export interface CallInfo {
  id: string;
  callerNumber: string;
  callerName: string;
  calledNumber: string;
  direction: 'internal' | 'incoming' | 'outgoing';
  /** Present the caller as anonymous (Privacy: id). */
  withheld: boolean;
}

/** What a hunt group's driver tells the call to do next. */
export type HuntStep =
  /** Ring these members' phones together; after `ms` (undefined: until told otherwise) ask again. */
  | { kind: 'ring'; members: string[]; ms: number | undefined }
  /** Nobody to ring now (queued): wait, hearing what the driver plays, until rehunt(). */
  | { kind: 'wait' }
  | { kind: 'voicemail'; mailbox: string }
  | { kind: 'busy'; reason: string };

/** The call as a hunt group's driver sees it. */
export interface HuntCallee {
  readonly ended: boolean;
  /** Stop what is ringing and ask the driver for the next step. */
  rehunt(): void;
  /** Early media to the waiting caller (183): music, an announcement; undefined: silence. */
  hold(source: PlayerSource | undefined, onEnd?: () => void): void;
}

/** A call to a hunt group: the group's feature decides whom to ring, the call rings them. */
export interface HuntDriver {
  attach(call: HuntCallee): void;
  next(): HuntStep;
  /** A member answered (the call is connected). */
  answered(member: string): void;
  /** The call is over (answered or not). */
  ended(): void;
}

/** Where the call rings, and where it goes when that extension is busy or does not answer. */
export interface RingPlan {
  /** The extension rung, or for a call out through trunks the number dialled. */
  extension: string;
  busyTo: string | undefined;
  noAnswer: { ms: number; to: string } | undefined;
  /** A call out through trunks: its routes (ARS), tried in turn. */
  outbound?: OutboundRoute;
  /** Unanswered after `afterMs`, busy everywhere, or no phone: the caller goes to this mailbox. */
  voicemail?: { mailbox: string; afterMs: number };
  /** A call to a hunt group: the driver chooses the members rung, in steps. */
  hunt?: HuntDriver;
}

/**
 * A call between a caller (one inbound leg) and a callee reached at one or more contacts
 * (outbound legs, all rung at once; the first to answer wins, the others are cancelled).
 */
export class Call {
  readonly info: CallInfo;
  readonly a: InboundLeg;
  readonly media: AnchoredMedia | undefined;
  readonly #host: CallHost;
  readonly #log: Logger;
  #forks: Fork[] = [];
  #winner: Fork | undefined;
  #failures: number[] = [];
  #ringing = false;
  #early: Fork | undefined;
  #ringTimer: NodeJS.Timeout | undefined;
  #noAnswerTimer: NodeJS.Timeout | undefined;
  #plan: RingPlan;
  #redirected = false;
  #ended = false;
  readonly start = new Date();
  #answer: Date | undefined;
  #cause = '';
  #disposition: CallDisposition = 'failed';
  /** The two connected parties once answered; a transfer replaces one of them. */
  #parties: Party[] = [];
  readonly #transfers: Transfers;
  /** Legs that left (a transferor) or went to another call: this call no longer hangs them up. */
  readonly #released = new Set<Leg>();

  constructor(host: CallHost, info: CallInfo, a: InboundLeg, media: AnchoredMedia | undefined, plan: RingPlan) {
    this.#host = host;
    this.#plan = plan;
    this.#transfers = new Transfers(this);
    this.info = info;
    this.a = a;
    this.media = media;
    this.#log = host.log;
  }

  /** When a party answered (the call is or was connected); undefined before. */
  get answeredAt(): Date | undefined {
    return this.#answer;
  }

  get ended(): boolean {
    return this.#ended;
  }

  get b(): OutboundLeg | undefined {
    return this.#winner?.leg;
  }

  /** Who is in this call now: the parties once answered, else the caller. */
  get partyNumbers(): string[] {
    return this.#parties.length ? this.#parties.map((p) => p.leg.party) : [this.a.party];
  }

  /** The extensions this call rings now (none once answered or over). */
  get ringingNumbers(): string[] {
    return this.#winner || this.#ended ? [] : this.#forks.map((f) => f.leg.party);
  }

  /** The extension being rung now, or that answered. */
  get target(): string {
    return this.#plan.extension;
  }

  /** Answers the caller's offer (anchored) and rings every contact. */
  begin(): void {
    const a = this.a;
    let aAnswer: Body | undefined;
    if (this.media) {
      try {
        aAnswer = this.media.a.acceptOffer(a.request.body);
      } catch (e) {
        const status = e instanceof SdpError ? e.status : 488;
        return this.#fail(status, `${status === 488 ? 'Not Acceptable Here' : 'Bad Request'} (${(e as Error).message})`);
      }
    }
    this.#aAnswer = aAnswer;
    a.onCancel = () => {
      this.#disposition = 'cancelled';
      this.#cause = '487';
      this.end('caller cancelled');
    };
    this.#wireLeg(a);
    this.#plan.hunt?.attach(this);
    if (!this.#ring()) return;
    // a hunt group's call waits as long as its group says (queue, overflow, voicemail time)
    if (this.#plan.hunt) return;
    this.#ringTimer = setTimeout(() => {
      if (this.#winner || this.#ended) return;
      this.#cause = '480';
      this.#disposition = 'no-answer';
      for (const f of this.#forks) f.leg.cancel();
      this.a.reject(480, 'Temporarily Unavailable (no answer)');
      this.end('no answer');
    }, this.#host.ringTimeoutMs);
    this.#ringTimer.unref();
  }

  #aAnswer: Body | undefined;

  /** Rings every contact of the plan's extension; false (call ended) when there is none. */
  #ring(): boolean {
    if (this.#plan.outbound) return this.#ringOutbound(this.#plan.outbound);
    if (this.#plan.hunt) return this.#huntStep();
    const preferred = this.media?.a.codec;
    const a = this.a;
    this.#failures = [];
    this.#forks = this.#host.fork(this, this.#plan.extension, (side) => (side ? side.offer(preferred) : { type: 'application/sdp', data: a.request.body }));
    if (!this.#forks.length) {
      if (this.#redirect(this.#plan.noAnswer?.to, 'not registered')) return true;
      if (this.#divert('no phone registered')) return true;
      this.#fail(480, 'Temporarily Unavailable (no registered contact)');
      return false;
    }
    for (const f of this.#forks) this.#wireFork(f);
    for (const f of this.#forks) f.leg.invite();
    const na = this.#plan.noAnswer;
    const vm = this.#plan.voicemail;
    if (na && !this.#redirected) {
      this.#noAnswerTimer = setTimeout(() => {
        if (!this.#winner && !this.#ended) this.#redirect(na.to, 'no answer');
      }, na.ms);
      this.#noAnswerTimer.unref();
    } else if (vm) {
      this.#noAnswerTimer = setTimeout(() => {
        if (!this.#winner && !this.#ended) this.#divert('no answer');
      }, vm.afterMs);
      this.#noAnswerTimer.unref();
    }
    return true;
  }

  /** Voicemail takes the caller: ringing stops, the caller's leg and media go on without this call. */
  #divert(why: string): boolean {
    const vm = this.#plan.voicemail;
    if (!vm || this.#ended || this.#winner || this.a.state === 'confirmed') return false;
    clearTimeout(this.#noAnswerTimer);
    clearTimeout(this.#ringTimer);
    clearTimeout(this.#stepTimer);
    this.#stopHold();
    for (const f of this.#forks) this.#dropFork(f);
    this.#forks = [];
    this.#early = undefined;
    const side = this.media?.a;
    if (side && this.media) this.media.detach(side);
    this.a.removeAllListeners();
    this.a.onCancel = undefined;
    this.#released.add(this.a);
    this.#disposition = 'no-answer';
    this.#cause = 'voicemail';
    this.#host.divert(this, this.a, side, vm.mailbox, why);
    this.end(`to voicemail ${vm.mailbox} (${why})`);
    return true;
  }

  #stepTimer: NodeJS.Timeout | undefined;
  #holdPlayer: Player | undefined;
  #heldEarly = false;

  /** A hunt group's driver: stop ringing, ask it what next, and do that. */
  rehunt(): void {
    if (this.#ended || this.#winner || !this.#plan.hunt) return;
    this.#huntStep();
  }

  /** Early media to a waiting caller (a hunt group's queue): music or an announcement. */
  hold(source: PlayerSource | undefined, onEnd?: () => void): void {
    if (this.#ended || this.#winner || !this.media) return;
    if (this.#holdPlayer && !this.#holdPlayer.closed) this.#holdPlayer.close();
    this.#holdPlayer = undefined;
    if (!source) return;
    if (!this.#heldEarly) {
      this.#heldEarly = true;
      this.a.progress(183, this.#aAnswer);
    }
    try {
      const p = this.media.a.endpoint.play(source, { loop: onEnd === undefined });
      if (onEnd) p.once('end', (e) => e.completed && onEnd());
      this.#holdPlayer = p;
    } catch (e) {
      this.#log.warn(`cannot play to a waiting caller: ${(e as Error).message}`, { callId: this.a.callId });
    }
  }

  #stopHold(): void {
    if (this.#holdPlayer && !this.#holdPlayer.closed) this.#holdPlayer.close();
    this.#holdPlayer = undefined;
  }

  /** One step of a hunt: ring the members the driver names (skipping those without a phone). */
  #huntStep(): boolean {
    const hunt = this.#plan.hunt!;
    clearTimeout(this.#stepTimer);
    for (const f of this.#forks) this.#dropFork(f);
    this.#forks = [];
    this.#early = undefined;
    this.#failures = [];
    const preferred = this.media?.a.codec;
    const a = this.a;
    // a pass over members without phones ends at once: bounded, never a loop
    for (let guard = 0; guard < 1000; guard++) {
      const step = hunt.next();
      if (step.kind === 'wait') return true;
      if (step.kind === 'busy') {
        this.#disposition = 'busy';
        this.#fail(486, `Busy Here (${step.reason})`);
        return false;
      }
      if (step.kind === 'voicemail') {
        this.#plan = { ...this.#plan, voicemail: { mailbox: step.mailbox, afterMs: 0 } };
        if (this.#divert('hunt group')) return true;
        this.#fail(486, 'Busy Here (no voicemail)');
        return false;
      }
      this.#forks = step.members.flatMap((m) => this.#host.fork(this, m, (side) => (side ? side.offer(preferred) : { type: 'application/sdp', data: a.request.body })));
      if (!this.#forks.length) continue;
      for (const f of this.#forks) this.#wireFork(f);
      for (const f of this.#forks) f.leg.invite();
      if (step.ms !== undefined) {
        this.#stepTimer = setTimeout(() => this.rehunt(), step.ms);
        this.#stepTimer.unref();
      }
      return true;
    }
    this.#fail(480, 'Temporarily Unavailable (no member answers)');
    return false;
  }

  #campOn: { timer: NodeJS.Timeout; unwatch: () => void; player: Player | undefined } | undefined;
  #setupTimer: NodeJS.Timeout | undefined;
  #lastFailure: number | undefined;

  /**
   * A call out through trunks: takes the next route with a free channel and sends the INVITE
   * there; when every route is busy, waits hearing camp-on tone for a channel to free up.
   */
  #ringOutbound(route: OutboundRoute): boolean {
    const next = route.next();
    if (next.kind === 'refused') {
      this.#stopCampOn();
      const status = next.status === 503 && this.#lastFailure !== undefined ? this.#lastFailure : next.status;
      this.#disposition = status === 486 ? 'busy' : 'failed';
      this.#cause = String(status);
      this.a.reject(status, status === next.status ? next.reason : undefined);
      this.end(next.reason);
      return false;
    }
    if (next.kind === 'wait') {
      this.#startCampOn(route, next.ms);
      return true;
    }
    this.#stopCampOn();
    const preferred = this.media?.a.codec;
    const a = this.a;
    void this.#host.trunkFork(this, next, (side) => (side ? side.offer(preferred) : { type: 'application/sdp', data: a.request.body })).then((f) => {
      if (!f) {
        next.release();
        if (!this.#ended) this.#ringOutbound(route);
        return;
      }
      f.release = next.release;
      if (this.#ended) {
        f.release();
        f.side?.endpoint.close();
        return;
      }
      this.#forks = [f];
      this.#failures = [];
      this.#wireFork(f);
      f.leg.invite();
      this.#setupTimer = setTimeout(() => {
        if (this.#ended || this.#winner || f.leg.state !== 'initial') return;
        this.#log.warn(`trunk ${next.trunk.name} gave no answer within its setup time: next route`, { callId: f.leg.callId, call: this.info.id });
        f.leg.cancel();
        this.#onForkFailed(f, 408);
      }, next.trunk.config.setupTimeoutSeconds * 1000);
      this.#setupTimer.unref();
    });
    return true;
  }

  #startCampOn(route: OutboundRoute, ms: number): void {
    if (this.#campOn) return;
    let player: Player | undefined;
    if (this.media && this.#aAnswer) {
      this.a.progress(183, this.#aAnswer);
      player = this.media.a.endpoint.play(CAMP_ON, { loop: true });
    } else this.a.progress(180);
    this.#log.info(`every route busy: camping on for ${ms} ms`, { callId: this.a.callId, call: this.info.id });
    const unwatch = this.#host.watchRoutes(() => {
      if (!this.#ended && this.#campOn) this.#ringOutbound(route);
    });
    const timer = setTimeout(() => {
      this.#stopCampOn();
      if (this.#ended) return;
      route.waitExpired();
      this.#ringOutbound(route);
    }, ms);
    timer.unref();
    this.#campOn = { timer, unwatch, player };
  }

  #stopCampOn(): void {
    const c = this.#campOn;
    if (!c) return;
    this.#campOn = undefined;
    clearTimeout(c.timer);
    c.unwatch();
    if (c.player && !c.player.closed) c.player.close();
  }

  /** Forwarding: stop ringing the current extension and ring `to` instead (once per call). */
  #redirect(to: string | undefined, why: string): boolean {
    if (to === undefined || this.#redirected || this.#ended) return false;
    this.#redirected = true;
    clearTimeout(this.#noAnswerTimer);
    this.#log.info(`call forwarded (${why}) from ${this.#plan.extension} to ${to}`, { callId: this.a.callId, call: this.info.id });
    for (const f of this.#forks) this.#dropFork(f);
    this.#early = undefined;
    this.#plan = { extension: to, busyTo: undefined, noAnswer: undefined };
    this.a.progress(181);
    return this.#ring();
  }

  #wireFork(f: Fork): void {
    const leg = f.leg;
    leg.outbound.on('progress', (res) => this.#onProgress(f, res));
    leg.outbound.on('answered', (res) => this.#onAnswered(f, res));
    leg.outbound.on('failed', (status) => this.#onForkFailed(f, status));
  }

  #onProgress(f: Fork, res: SipResponse): void {
    if (this.#ended || this.#winner) return;
    clearTimeout(this.#setupTimer);
    this.#host.registerLeg(f.leg, this);
    if (res.body.length && res.contentType === 'application/sdp' && !this.#early) {
      // early media (183 with SDP): the first fork that offers it is heard
      try {
        if (f.side && this.media) {
          f.side.acceptAnswer(res.body);
          this.media.connect(f.side);
          this.a.progress(183, this.#aAnswer);
        } else this.a.progress(183, { type: 'application/sdp', data: res.body });
        this.#early = f;
        return;
      } catch (e) {
        this.#log.info(`ignoring early media SDP: ${(e as Error).message}`, { callId: f.leg.callId });
      }
    }
    if (!this.#ringing && res.status === 180) {
      this.#ringing = true;
      if (!this.#early) this.a.progress(180);
    }
  }

  #onAnswered(f: Fork, res: SipResponse): void {
    if (this.#ended || this.#winner) {
      f.leg.hangup();
      return;
    }
    this.#host.registerLeg(f.leg, this);
    this.#winner = f;
    clearTimeout(this.#stepTimer);
    this.#stopHold();
    for (const other of this.#forks) if (other !== f) this.#dropFork(other);
    if (this.#plan.hunt) this.#plan = { ...this.#plan, extension: f.leg.party };
    this.#plan.hunt?.answered(f.leg.party);
    try {
      if (f.side && this.media) {
        if (res.body.length) f.side.acceptAnswer(res.body);
        this.media.connect(f.side);
        this.a.answer(this.#aAnswer!);
      } else this.a.answer({ type: 'application/sdp', data: res.body });
    } catch (e) {
      this.#log.warn(`callee's answer unusable: ${(e as Error).message}`, { callId: f.leg.callId });
      f.leg.hangup();
      this.#cause = '488';
      return this.#fail(488, 'Not Acceptable Here (callee answer unusable)');
    }
    this.#answer = new Date();
    this.#disposition = 'answered';
    this.#parties = [{ leg: this.a, side: this.media?.a }, { leg: f.leg, side: f.side }];
    clearTimeout(this.#ringTimer);
    clearTimeout(this.#noAnswerTimer);
    this.#wireLeg(f.leg);
    this.#log.info('call answered', { callId: this.a.callId, call: this.info.id, by: f.contact });
  }

  #dropFork(f: Fork): void {
    f.leg.cancel();
    f.release?.();
    if (f.side && f !== this.#winner) f.side.endpoint.close();
  }

  #onForkFailed(f: Fork, status: number): void {
    if (this.#ended || this.#winner || !this.#forks.includes(f)) return;
    if (f.side) f.side.endpoint.close();
    const route = this.#plan.outbound;
    if (route) {
      clearTimeout(this.#setupTimer);
      f.release?.();
      this.#forks = this.#forks.filter((x) => x !== f);
      // a route that fails (5xx, setup timeout, transport) hands the call to the next route at once
      if ((status >= 500 && status < 600) || status === 408) {
        this.#lastFailure = status;
        this.#log.info(`route failed with ${status}: trying the next`, { callId: this.a.callId, call: this.info.id });
        this.#ringOutbound(route);
        return;
      }
      this.#disposition = status === 486 || status === 600 ? 'busy' : status === 480 ? 'no-answer' : 'rejected';
      this.#cause = String(status);
      this.a.reject(status);
      this.end(`far end answered ${status}`);
      return;
    }
    this.#failures.push(status);
    if (this.#failures.length < this.#forks.length) return;
    if (this.#plan.hunt) return void this.#huntStep();
    if (this.#failures.every((s) => s === 486 || s === 600 || s === 603) && this.#redirect(this.#plan.busyTo, 'busy')) return;
    if (this.#redirect(this.#plan.noAnswer?.to, `answered ${status}`)) return;
    if (this.#divert(`answered ${status}`)) return;
    // RFC 3261 16.7: 6xx beats all, then busy, then the lowest class.
    const best = this.#failures.find((s) => s >= 600) ?? this.#failures.find((s) => s === 486) ?? Math.min(...this.#failures);
    this.#disposition = best === 486 || best === 600 ? 'busy' : best === 408 || best === 480 ? 'no-answer' : 'rejected';
    this.#cause = String(best);
    this.a.reject(best === 408 ? 480 : best);
    this.end(`callee answered ${best}`);
  }

  #fail(status: number, reason: string): void {
    this.#cause = String(status);
    this.#disposition = 'failed';
    this.a.reject(status, reason);
    this.end(reason);
  }

  /** The other party of `leg` in an answered call. */
  #peer(leg: Leg): Leg | undefined {
    if (!this.#parties.length) return leg === this.a ? this.#winner?.leg : this.a;
    return this.#parties.find((p) => p.leg !== leg)?.leg;
  }

  #side(leg: Leg): AnchoredSide | undefined {
    if (!this.media) return undefined;
    const party = this.#parties.find((p) => p.leg === leg);
    if (party) return party.side;
    return leg === this.a ? this.media.a : this.#winner?.side;
  }

  #wireLeg(leg: Leg): void {
    leg.on('bye', () => {
      // the transferor leaves once the transfer is under way: the call goes on without it
      if (this.#transfers.isTransferor(leg)) return;
      if (this.#parties.length && !this.#parties.some((p) => p.leg === leg)) return;
      this.#cause = leg === this.a ? 'caller hung up' : 'callee hung up';
      this.end(this.#cause);
    });
    leg.on('refer', (req, tx) => this.#transfers.onRefer(leg, req, tx));
    leg.on('ackTimeout', () => {
      this.#cause = 'no ACK';
      this.end('no ACK');
    });
    leg.on('offer', (req, tx) => this.#onOffer(leg, req, tx));
    leg.on('info', (req, tx) => this.#onInfo(leg, req, tx));
    const side = this.#side(leg);
    side?.endpoint.on('dtmf', (d) => this.#onRtpDigit(leg, d.digit, d.durationMs));
  }

  /** Re-INVITE / UPDATE: hold and resume, or a new address. */
  #onOffer(leg: Leg, req: SipRequest, tx: ServerTransaction): void {
    const side = this.#side(leg);
    if (side) {
      if (!req.body.length) {
        leg.answerRequest(req, tx, 200, side.offer(side.codec));
        return;
      }
      try {
        const answer = side.acceptOffer(req.body);
        leg.answerRequest(req, tx, 200, answer);
        this.media!.refresh();
        this.#log.info(side.holding ? 'call held' : 'call resumed', { callId: leg.callId, call: this.info.id, by: leg.party });
      } catch (e) {
        leg.answerRequest(req, tx, e instanceof SdpError ? e.status : 488);
      }
      return;
    }
    // direct media: pass the offer to the other party and its answer back
    const peer = this.#peer(leg);
    if (!peer) {
      leg.answerRequest(req, tx, 491);
      return;
    }
    void peer.send(req.method, req.body.length ? { type: req.get('content-type') ?? 'application/sdp', data: req.body } : undefined).then((res) => {
      if (typeof res === 'number') leg.answerRequest(req, tx, res >= 500 ? 500 : res);
      else leg.answerRequest(req, tx, res.status, res.body.length ? { type: res.get('content-type') ?? 'application/sdp', data: res.body } : undefined);
    });
  }

  /** SIP INFO digits: to the other party as RFC 4733 when it takes them, else as INFO. */
  #onInfo(leg: Leg, req: SipRequest, tx: ServerTransaction): void {
    const digit = parseDtmfInfo(req.contentType, req.body);
    if (!digit) {
      leg.answerRequest(req, tx, 415);
      return;
    }
    leg.answerRequest(req, tx, 200);
    this.#log.info(`DTMF ${digit.digit} by INFO`, { callId: leg.callId, call: this.info.id });
    const peer = this.#peer(leg);
    if (!peer) return;
    const peerSide = this.#side(peer);
    if (peerSide?.telephoneEventPt !== undefined) peerSide.endpoint.sendDigits(digit.digit, { durationMs: Math.max(40, Math.min(5000, digit.durationMs)) });
    else void peer.send('INFO', dtmfInfoBody(digit.digit, digit.durationMs));
  }

  /** RFC 4733 digits from a party: the bridge relays them; a party without telephone-event gets INFO. */
  #onRtpDigit(leg: Leg, digit: string, durationMs: number): void {
    this.#log.info(`DTMF ${digit} by RFC 4733`, { callId: leg.callId, call: this.info.id });
    const peer = this.#peer(leg);
    if (!peer || peer.ended) return;
    if (this.#side(peer)?.telephoneEventPt === undefined) void peer.send('INFO', dtmfInfoBody(digit, durationMs));
  }

  // What transfers (transfer.ts) need of the call they work in.

  get parties(): Party[] {
    return this.#parties;
  }

  set parties(p: Party[]) {
    this.#parties = p;
  }

  get host(): CallHost {
    return this.#host;
  }

  /** A party joins this call (a transfer target): its leg's events are this call's now. */
  adoptLeg(leg: Leg): void {
    this.#wireLeg(leg);
  }

  /** The extension this call now connects to (the record's connected number). */
  retarget(extension: string): void {
    this.#plan = { extension, busyTo: undefined, noAnswer: undefined };
  }

  /** This call will not hang `leg` up when it ends (it left, or went to another call). */
  markReleased(leg: Leg): void {
    this.#released.add(leg);
  }

  dropFork(f: Fork): void {
    this.#dropFork(f);
  }

  /** Attended transfer: gives up the party opposite `leg` (and its media) to another call. */
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

  readonly #onEnd: (() => void)[] = [];

  /** Runs `fn` when the call ends (a trunk channel the caller's leg holds, say). */
  onEnd(fn: () => void): void {
    if (this.#ended) fn();
    else this.#onEnd.push(fn);
  }

  /** Ends the call: hangs up every leg still up, frees media, writes the record. */
  end(why: string): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#ringTimer);
    clearTimeout(this.#noAnswerTimer);
    clearTimeout(this.#setupTimer);
    clearTimeout(this.#stepTimer);
    this.#stopHold();
    this.#plan.hunt?.ended();
    this.#stopCampOn();
    if (!this.a.ended && !this.#released.has(this.a)) {
      if (this.a.state === 'confirmed') this.a.hangup();
      else this.a.reject(this.#disposition === 'no-answer' ? 480 : 500);
    }
    for (const f of this.#forks) {
      f.release?.();
      if (this.#released.has(f.leg)) continue;
      if (f.leg === this.#winner?.leg) f.leg.hangup();
      else f.leg.cancel();
    }
    for (const fn of this.#onEnd) fn();
    for (const p of this.#parties) if (!p.leg.ended && !this.#released.has(p.leg)) p.leg.hangup();
    this.#transfers.close();
    this.media?.close();
    for (const f of this.#forks) if (f.side && !f.side.endpoint.closed && !this.#released.has(f.leg)) f.side.endpoint.close();
    const end = new Date();
    const answer = this.#answer;
    this.#log.info(`call ended: ${why}`, { callId: this.a.callId, call: this.info.id, disposition: this.#disposition });
    const legs: LegRecord[] = [{
      role: 'caller', sipCallId: this.a.callId, party: this.a.party,
      codec: this.media?.a.codec, quality: this.media ? quality(this.media.a) : undefined,
    }];
    const w = this.#winner;
    if (w) legs.push({ role: 'callee', sipCallId: w.leg.callId, party: w.leg.party, codec: w.side?.codec, quality: w.side ? quality(w.side) : undefined });
    this.#host.ended(this, {
      id: this.info.id, start: this.start, answer, end,
      callerNumber: this.info.callerNumber, callerName: this.info.callerName, calledNumber: this.info.calledNumber,
      connectedNumber: w ? this.#plan.extension : undefined, direction: this.info.direction, legs,
      durationSec: answer ? Math.round((end.getTime() - answer.getTime()) / 1000) : 0,
      ringSec: Math.round(((answer ?? end).getTime() - this.start.getTime()) / 1000),
      disposition: this.#disposition, cause: this.#cause,
    });
  }
}

function quality(side: AnchoredSide): LegRecord['quality'] {
  const q = side.endpoint.quality;
  return { packetsLost: q.totalLost, fractionLost: q.fractionLost, jitterMs: q.jitterMs, rttMs: q.rttMs ?? undefined };
}
