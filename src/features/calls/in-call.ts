/**
 * What an answered call does with requests from its parties: re-INVITE and UPDATE (hold and
 * resume, a new address) answered from the party's side in the engine or relayed end to end
 * with direct media, an offer-less re-INVITE answered with our offer and completed by the ACK;
 * DTMF by SIP INFO and RFC 4733 carried to the other party in the form it takes.
 */
import type { Logger } from '../../core/logger.js';
import { SdpError } from '../../media/sdp.js';
import type { SipRequest } from '../../sip/message/message.js';
import type { ServerTransaction } from '../../sip/transaction/server.js';
import { dtmfInfoBody, parseDtmfInfo } from './dtmf.js';
import { sdpOf, type Body, type Leg } from './leg.js';
import type { AnchoredMedia } from './media.js';
import type { Party } from './session.js';

/** What in-call handling needs of its call. */
export interface InCallHost {
  readonly id: string;
  readonly log: Logger;
  readonly media: AnchoredMedia | undefined;
  partyOf(leg: Leg): Party | undefined;
  peerOf(leg: Leg): Party | undefined;
  /** The call's error boundary, for work done after an await. */
  guard(what: string, fn: () => void): void;
}

export class InCall {
  readonly #h: InCallHost;
  /** ACKs that complete an offer-less re-INVITE, by the leg whose ACK brings the answer. */
  readonly #acks = new Map<Leg, (answer: Body | undefined) => void>();

  constructor(host: InCallHost) {
    this.#h = host;
  }

  /** A re-INVITE or UPDATE from `leg`. */
  offer(leg: Leg, req: SipRequest, tx: ServerTransaction): void {
    const party = this.#h.partyOf(leg);
    if (!party) return leg.answerRequest(req, tx, 491);
    const body = sdpOf(req);
    const side = party.side;
    if (!side) return this.#relay(leg, req, tx, body);
    if (!body) {
      if (req.method !== 'INVITE') return leg.answerRequest(req, tx, 200);
      // RFC 3261 14.2: an offer-less re-INVITE gets our offer in the 2xx; the ACK answers it
      if (!party.oa.sendOffer()) return leg.answerRequest(req, tx, 491);
      this.#acks.set(leg, (answer) => {
        if (!answer) return party.oa.rollback();
        try {
          side.acceptAnswer(answer.data);
          party.oa.receiveAnswer();
          this.#h.media?.refresh();
        } catch (e) {
          party.oa.rollback();
          this.#h.log.warn(`answer in ACK unusable: ${(e as Error).message}`, { callId: leg.callId, call: this.#h.id });
        }
      });
      return leg.answerRequest(req, tx, 200, side.offer(side.codec, side.direction === 'inactive' ? 'inactive' : 'sendrecv'));
    }
    if (!party.oa.receiveOffer()) return leg.answerRequest(req, tx, 491);
    try {
      const answer = side.acceptOffer(body.data);
      party.oa.sendAnswer();
      leg.answerRequest(req, tx, 200, answer);
      this.#h.media?.refresh();
      this.#h.log.info(side.holding ? 'call held' : 'call resumed', { callId: leg.callId, call: this.#h.id, by: leg.party });
    } catch (e) {
      party.oa.rollback();
      leg.answerRequest(req, tx, e instanceof SdpError ? e.status : 488);
    }
  }

  /** The ACK for a 2xx of ours: the answer when that 2xx offered. */
  ack(leg: Leg, ack: SipRequest): void {
    const complete = this.#acks.get(leg);
    if (!complete) return;
    this.#acks.delete(leg);
    complete(sdpOf(ack));
  }

  /** Direct media: the offer goes to the other party, its answer comes back. */
  #relay(leg: Leg, req: SipRequest, tx: ServerTransaction, body: Body | undefined): void {
    const peer = this.#h.peerOf(leg);
    if (!peer) return leg.answerRequest(req, tx, 491);
    const delayed = req.method === 'INVITE' && !body;
    void peer.leg.send(req.method, body, {}, delayed).then((r) => this.#h.guard(`${req.method} relay`, () => {
      if (r.status >= 300 || !r.response) return leg.answerRequest(req, tx, r.status >= 500 ? 500 : r.status);
      // an offer-less re-INVITE: the other party offered in its 2xx, our caller's ACK answers
      if (delayed && r.ack) this.#acks.set(leg, (answer) => r.ack!(answer));
      leg.answerRequest(req, tx, r.status, sdpOf(r.response));
    }));
  }

  /** SIP INFO digits: to the other party as RFC 4733 when it takes them, else as INFO. */
  info(leg: Leg, req: SipRequest, tx: ServerTransaction): void {
    const digit = parseDtmfInfo(req.contentType, req.body);
    if (!digit) return leg.answerRequest(req, tx, 415);
    leg.answerRequest(req, tx, 200);
    this.#h.log.info(`DTMF ${digit.digit} by INFO`, { callId: leg.callId, call: this.#h.id });
    const peer = this.#h.peerOf(leg);
    if (!peer) return;
    if (peer.side?.telephoneEventPt !== undefined) peer.side.endpoint.sendDigits(digit.digit, { durationMs: Math.max(40, Math.min(5000, digit.durationMs)) });
    else void peer.leg.send('INFO', dtmfInfoBody(digit.digit, digit.durationMs));
  }

  /** RFC 4733 digits from a party: the bridge relays them; a party without telephone-event gets INFO. */
  rtpDigit(leg: Leg, digit: string, durationMs: number): void {
    this.#h.log.info(`DTMF ${digit} by RFC 4733`, { callId: leg.callId, call: this.#h.id });
    const peer = this.#h.peerOf(leg);
    if (!peer || peer.leg.ended) return;
    if (peer.side?.telephoneEventPt === undefined) void peer.leg.send('INFO', dtmfInfoBody(digit, durationMs));
  }
}
