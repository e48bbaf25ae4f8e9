/**
 * Offer/answer for a call (RFC 3264, RFC 6337). Each party has its own signalling state; the
 * session turns what one party offers or answers into what the other is sent, the same way
 * whether the media is anchored (an engine endpoint per party, each answered by us) or direct
 * (SDP passed end to end). It covers the caller's offer in its INVITE or none at all (RFC 3261
 * 13.2.1 delayed offer: our 2xx offers, the ACK answers), early media, and the answer.
 */
import { SdpError } from '../../media/sdp.js';
import type { Body, InboundLeg, Leg, OutboundLeg } from './leg.js';
import type { AnchoredMedia, AnchoredSide } from './media.js';

export enum SignalingState {
  Stable = 'stable',
  HaveLocalOffer = 'have-local-offer',
  HaveRemoteOffer = 'have-remote-offer',
}

/** One party's offer/answer state (RFC 6337 section 2: one offer outstanding at a time). */
export class OfferAnswer {
  #state = SignalingState.Stable;

  get state(): SignalingState {
    return this.#state;
  }

  /** We offer; false when an offer is outstanding either way (the request must wait or get 491). */
  sendOffer(): boolean {
    if (this.#state !== SignalingState.Stable) return false;
    this.#state = SignalingState.HaveLocalOffer;
    return true;
  }

  /** The party offers; false on glare (RFC 3261 14.2: answer 491). */
  receiveOffer(): boolean {
    if (this.#state !== SignalingState.Stable) return false;
    this.#state = SignalingState.HaveRemoteOffer;
    return true;
  }

  receiveAnswer(): void {
    if (this.#state !== SignalingState.HaveLocalOffer) throw new SdpError(`an answer in state ${this.#state}`, 488);
    this.#state = SignalingState.Stable;
  }

  sendAnswer(): void {
    if (this.#state !== SignalingState.HaveRemoteOffer) throw new SdpError(`answering in state ${this.#state}`, 500);
    this.#state = SignalingState.Stable;
  }

  /** The offer was refused or withdrawn (a failed re-INVITE, a CANCEL): back to stable. */
  rollback(): void {
    this.#state = SignalingState.Stable;
  }
}

/** An outbound leg the call rings, with its side in the engine when media is anchored. */
export interface Fork {
  leg: OutboundLeg;
  side: AnchoredSide | undefined;
  /** What answered, for logs ("sip:202@...", "trunk carrierA"). */
  contact: string;
  /** Gives back what the fork holds (a trunk channel); idempotent. */
  release?: () => void;
  readonly oa: OfferAnswer;
  /** The answer its 183 carried (a 2xx should repeat it; some leave it out). */
  earlyAnswer?: Body;
}

/** A party of an answered call: its leg, its side in the engine (anchored media), its offer/answer state. */
export interface Party {
  leg: Leg;
  side: AnchoredSide | undefined;
  oa: OfferAnswer;
}

/** What the caller's final answer carries, and whether its ACK must bring the answer. */
export interface CallerAnswer {
  body: Body;
  awaitAck: boolean;
}

export class CallSession {
  readonly media: AnchoredMedia | undefined;
  readonly #caller: InboundLeg;
  readonly callerOa = new OfferAnswer();
  /** Anchored: our answer to the caller's offer (undefined for a delayed offer). */
  #callerAnswer: Body | undefined;
  /** The fork whose answer the caller's ACK completes (delayed offer). */
  #awaiting: Fork | undefined;

  constructor(caller: InboundLeg, media: AnchoredMedia | undefined) {
    this.#caller = caller;
    this.media = media;
  }

  /** The caller sent no offer: our 2xx will carry one (RFC 3261 13.2.1). */
  get delayedOffer(): boolean {
    return this.#caller.offer === undefined;
  }

  /** Takes the caller's offer; anchored media answers it now (throws SdpError: 488/400). */
  open(): void {
    const offer = this.#caller.offer;
    if (!offer) return;
    this.callerOa.receiveOffer();
    if (this.media) this.#callerAnswer = this.media.a.acceptOffer(offer.data);
  }

  /** The body of an INVITE to a fork: our offer from its side, else the caller's own (direct), or none. */
  offerFor(side: AnchoredSide | undefined, oa: OfferAnswer): Body | undefined {
    const body = side ? side.offer(this.media?.a.codec) : this.#caller.offer;
    if (body) oa.sendOffer();
    return body;
  }

  /** Early media of our own (queue music, camp-on tone): the caller's 183 body; none for a delayed offer. */
  ownEarly(): Body | undefined {
    return this.#callerAnswer;
  }

  /**
   * A fork's 183 with SDP: what the caller's 183 carries (throws SdpError for an unusable
   * answer). None when the caller made no offer: early media would need a reliable offer.
   */
  earlyFrom(f: Fork, body: Body): Body | undefined {
    if (this.delayedOffer || f.oa.state !== SignalingState.HaveLocalOffer) return undefined;
    f.earlyAnswer = body;
    if (f.side && this.media) {
      f.side.acceptAnswer(body.data);
      this.media.connect(f.side);
      return this.#callerAnswer;
    }
    return body;
  }

  /** A fork answered: media connected; what the caller's 200 carries (throws SdpError when unusable). */
  answered(f: Fork, body: Body | undefined): CallerAnswer {
    body ??= f.earlyAnswer;
    if (f.oa.state === SignalingState.HaveLocalOffer) {
      if (!body) throw new SdpError('the 2xx to our offer has no answer', 488);
      if (f.side) f.side.acceptAnswer(body.data);
      f.oa.receiveAnswer();
    }
    if (f.side && this.media) {
      this.media.connect(f.side);
      if (!this.delayedOffer) {
        this.callerOa.sendAnswer();
        return { body: this.#callerAnswer!, awaitAck: false };
      }
      // delayed offer, anchored: our side of the caller offers in the 2xx, its ACK answers
      this.callerOa.sendOffer();
      return { body: this.media.a.offer(f.side.codec), awaitAck: true };
    }
    if (!this.delayedOffer) {
      if (!body) throw new SdpError('the callee answered without SDP', 488);
      this.callerOa.sendAnswer();
      return { body, awaitAck: false };
    }
    // delayed offer, direct: the callee's 2xx offers; the caller's ACK answers, and goes on to it
    if (!body) throw new SdpError('neither the caller nor the callee made an offer', 488);
    this.callerOa.sendOffer();
    this.#awaiting = f;
    return { body, awaitAck: true };
  }

  /**
   * The caller's ACK to a 2xx that offered: its answer reaches our side (anchored) or the
   * callee's ACK (direct). False when the ACK brought no usable answer (the call cannot go on).
   */
  callerAcked(body: Body | undefined): boolean {
    if (this.callerOa.state !== SignalingState.HaveLocalOffer) return true;
    const f = this.#awaiting;
    this.#awaiting = undefined;
    if (!body) return false;
    try {
      if (this.media) {
        this.media.a.acceptAnswer(body.data);
        this.media.refresh();
      }
      this.callerOa.receiveAnswer();
      f?.leg.ack(body);
      return true;
    } catch {
      return false;
    }
  }
}
