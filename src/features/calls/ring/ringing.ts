/**
 * One ringing of a call: the strategy it runs and the forks (INVITEs) that strategy sends. The
 * first fork to answer wins and every other is cancelled; early media from the first fork that
 * offers it is heard; the ring timeout, when the strategy takes one, ends it with 480. The call
 * rings this way when it starts, and again when a blind transfer rings its target.
 */
import type { Logger } from '../../../core/logger.js';
import type { PlayerSource } from '../../../media/index.js';
import type { SipResponse } from '../../../sip/message/message.js';
import { sdpOf, type Body } from '../leg.js';
import type { AnchoredSide } from '../media.js';
import type { OfferAnswer, Fork } from '../session.js';
import type { CallTimers } from '../timers.js';
import type { CallInfo, Ringer, RingOutcome, RingStrategy, TrunkRoute } from './strategy.js';

/** What makes the INVITEs (the B2BUA: registered contacts, trunks). */
export interface ForkMaker {
  /** INVITEs to an extension's registered phones; none when no phone is registered. */
  toExtension(src: ForkSource, extension: string): Fork[];
  /** The INVITE to a trunk route; undefined when the trunk cannot be reached. */
  toTrunk(src: ForkSource, route: TrunkRoute): Promise<Fork | undefined>;
  /** Calls `cb` whenever a trunk channel frees; returns the unsubscribe function. */
  watchRoutes(cb: () => void): () => void;
}

/** What a fork is made from. */
export interface ForkSource {
  readonly info: CallInfo;
  /** Max-Forwards of the caller's INVITE (the B2BUA takes one off). */
  readonly maxForwards: number | undefined;
  /** A media side for a new fork (anchored), undefined for direct media; throws without a free port. */
  newSide(): AnchoredSide | undefined;
  /** The INVITE's body; undefined for a delayed offer (the fork's 2xx offers, the ACK answers). */
  offer(side: AnchoredSide | undefined, oa: OfferAnswer): Body | undefined;
  /** Whether the call has ended (an asynchronous fork that comes back late is dropped). */
  readonly over: boolean;
}

/** Where the ringing is, as the call's state names it. */
export type RingPhase = 'routing' | 'ringing' | 'early';

/** What the ringing tells the one it rings for (the call, or a transfer in it). */
export interface RingingOwner extends ForkSource {
  readonly log: Logger;
  readonly timers: CallTimers;
  readonly forks: ForkMaker;
  /** 180 (the callee rings) or 181 (forwarded) to whoever waits. */
  progress(status: 180 | 181): void;
  /** A fork's early media (183 with SDP); true when it is heard. Throws SdpError when unusable. */
  earlyMedia(f: Fork, body: Body): boolean;
  /** Our own early media; undefined stops it. True when the caller hears it (anchored media). */
  hold(source: PlayerSource | undefined, onEnd?: () => void): boolean;
  phase(p: RingPhase): void;
  /** A fork's dialog exists now (in-dialog requests from it reach the call). */
  register(f: Fork): void;
  answered(f: Fork, res: SipResponse): void;
  failed(o: RingOutcome): void;
  divert(mailbox: string, why: string): boolean;
  /** The owner's error boundary: a throw in `fn` is logged and ends the call. */
  guard(what: string, fn: () => void): void;
}

export class Ringing implements Ringer {
  readonly #owner: RingingOwner;
  #strategy: RingStrategy;
  #forks: Fork[] = [];
  #early: Fork | undefined;
  #holding = false;
  #ringingSent = false;
  #phase: RingPhase | undefined;
  #done = false;
  readonly #ringTimeoutMs: number | undefined;
  /** Forks given up: their INVITEs' outcomes (a 487 to ACK, a crossing 2xx to end). */
  readonly #dropped: Promise<void>[] = [];

  constructor(owner: RingingOwner, strategy: RingStrategy, o: { ringTimeoutMs?: number } = {}) {
    this.#owner = owner;
    this.#strategy = strategy;
    this.#ringTimeoutMs = o.ringTimeoutMs;
  }

  get info(): CallInfo {
    return this.#owner.info;
  }

  get log(): Logger {
    return this.#owner.log;
  }

  get timers(): CallTimers {
    return this.#owner.timers;
  }

  /** The extension or number rung now. */
  get target(): string {
    return this.#strategy.target;
  }

  /** The parties rung now (who counts as busy). */
  get ringingNumbers(): string[] {
    return this.#done ? [] : this.#forks.map((f) => f.leg.party);
  }

  get pending(): number {
    return this.#forks.length;
  }

  get done(): boolean {
    return this.#done;
  }

  /** Resolves once every fork given up has its outcome (a node shutting down waits for it). */
  get settled(): Promise<void> {
    return Promise.all(this.#dropped).then(() => undefined);
  }

  start(): void {
    if (this.#ringTimeoutMs !== undefined && this.#strategy.ringTimeout) {
      this.timers.set('ring', this.#ringTimeoutMs, () => this.fail({ status: 480, reason: 'Temporarily Unavailable (no answer)', disposition: 'no-answer', cause: '480', why: 'no answer' }));
    }
    this.#strategy.start(this);
    this.#updatePhase();
  }

  /** Stops ringing (the call ended or went elsewhere): the strategy is released, every fork cancelled. */
  stop(): void {
    if (this.#done) return;
    this.#done = true;
    this.timers.clear('ring');
    this.#strategy.stop();
    this.stopForks();
  }

  ringExtensions(extensions: string[]): number {
    if (this.#done) return 0;
    const made = extensions.flatMap((e) => this.#owner.forks.toExtension(this.#owner, e));
    for (const f of made) this.#wire(f);
    for (const f of made) f.leg.invite();
    this.#updatePhase();
    return made.length;
  }

  async ringTrunk(route: TrunkRoute): Promise<Fork | undefined> {
    const f = this.#done ? undefined : await this.#owner.forks.toTrunk(this.#owner, route);
    if (!f || this.#done || this.#owner.over) {
      route.release();
      f?.side?.endpoint.close();
      return undefined;
    }
    f.release = route.release;
    this.#wire(f);
    f.leg.invite();
    this.#updatePhase();
    return f;
  }

  stopForks(): void {
    for (const f of this.#forks) this.#drop(f);
    this.#forks = [];
    this.#early = undefined;
    this.#updatePhase();
  }

  /** Gives up on one fork (a trunk's setup time ran out): cancelled, and failed with `status`. */
  giveUp(f: Fork, status: number, reason?: string): void {
    if (!this.#forks.includes(f)) return;
    f.leg.cancel();
    this.#failed(f, status, reason);
  }

  waiting(): void {
    this.#updatePhase();
  }

  hold(source: PlayerSource | undefined, onEnd?: () => void): void {
    if (this.#done) return;
    this.#holding = this.#owner.hold(source, onEnd) && source !== undefined;
    this.#updatePhase();
  }

  watchRoutes(cb: () => void): () => void {
    return this.#owner.forks.watchRoutes(cb);
  }

  forwarded(to: string, why: string): void {
    this.log.info(`call forwarded (${why}) from ${this.#strategy.target} to ${to}`, { call: this.info.id });
    this.#owner.progress(181);
  }

  switchTo(next: RingStrategy): void {
    if (this.#done) return;
    this.#strategy.stop();
    this.stopForks();
    this.#strategy = next;
    next.start(this);
    this.#updatePhase();
  }

  divert(mailbox: string, why: string): boolean {
    return !this.#done && this.#owner.divert(mailbox, why);
  }

  guard(what: string, fn: () => void): void {
    this.#owner.guard(what, fn);
  }

  fail(o: RingOutcome): void {
    if (this.#done) return;
    this.stop();
    this.#owner.failed(o);
  }

  #wire(f: Fork): void {
    this.#forks.push(f);
    const g = this.#owner.guard;
    f.leg.outbound.on('progress', (res) => g('progress', () => this.#progress(f, res)));
    f.leg.outbound.on('answered', (res) => g('answer', () => this.#answered(f, res)));
    f.leg.outbound.on('failed', (status, res) => g('fork failure', () => this.#failed(f, status, res?.reason)));
  }

  #progress(f: Fork, res: SipResponse): void {
    if (this.#done || !this.#forks.includes(f)) return;
    this.#owner.register(f);
    this.#strategy.progress?.(f);
    const body = sdpOf(res);
    if (body && !this.#early) {
      try {
        if (this.#owner.earlyMedia(f, body)) {
          this.#early = f;
          return this.#updatePhase();
        }
      } catch (e) {
        this.log.info(`ignoring early media SDP: ${(e as Error).message}`, { callId: f.leg.callId });
      }
    }
    if (!this.#ringingSent && res.status === 180) {
      this.#ringingSent = true;
      if (!this.#early && !this.#holding) this.#owner.progress(180);
    }
  }

  #answered(f: Fork, res: SipResponse): void {
    if (this.#done || !this.#forks.includes(f)) {
      void f.leg.hangup();
      return;
    }
    this.#done = true;
    this.timers.clear('ring');
    for (const other of this.#forks) if (other !== f) this.#drop(other);
    this.#forks = [];
    this.#strategy.answered(f);
    this.#strategy.stop();
    this.#owner.register(f);
    this.#owner.answered(f, res);
  }

  #failed(f: Fork, status: number, reason?: string): void {
    if (this.#done || !this.#forks.includes(f)) return;
    this.#forks = this.#forks.filter((x) => x !== f);
    if (this.#early === f) this.#early = undefined;
    f.release?.();
    if (f.side && !f.side.endpoint.closed) f.side.endpoint.close();
    this.#strategy.forkFailed(f, status, this.#forks.length, reason);
    this.#updatePhase();
  }

  #updatePhase(): void {
    if (this.#done) return;
    const p: RingPhase = this.#early || this.#holding ? 'early' : this.#forks.length ? 'ringing' : 'routing';
    if (p === this.#phase) return;
    this.#phase = p;
    this.#owner.phase(p);
  }

  /** Stops a fork that lost (cancelled, its channel and media side given back). */
  #drop(f: Fork): void {
    f.leg.cancel();
    this.#dropped.push(f.leg.settled);
    f.release?.();
    if (f.side && !f.side.endpoint.closed) f.side.endpoint.close();
  }
}
