/**
 * A caller answered by the server itself: a conference, voicemail, a prompt. The service that
 * takes it sees a media endpoint in the engine and a few verbs (answer, reject, hang up) and
 * events (digits, hang-up); the SIP dialog stays here, so services never touch SIP.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../../core/logger.js';
import type { Endpoint } from '../../media/index.js';
import { SdpError } from '../../media/sdp.js';
import type { SipRequest } from '../../sip/message/message.js';
import type { ServerTransaction } from '../../sip/transaction/server.js';
import { parseDtmfInfo } from './dtmf.js';
import { InboundLeg, sdpOf, type Body, type Leg } from './leg.js';
import type { AnchoredSide } from './media.js';

export interface LocalCallEvents {
  /** A digit from the caller, by RFC 4733 or SIP INFO (the two are merged). */
  dtmf: [digit: string];
  /** The caller hung up or the call failed; the endpoint is closed right after. */
  hangup: [];
}

export interface LocalCallInfo {
  /** The call's id (logs, records). */
  id: string;
  /** The caller's number (an extension, or the number a trunk presented). */
  caller: string;
  callerName: string;
  /** The number the caller dialled. */
  dialled: string;
  /** The number or ID the dial plan resolved it to (a conference ID, a mailbox). */
  target: string;
}

/** What a LocalCall needs from the B2BUA that created it. */
export interface LocalCallHost {
  readonly log: Logger;
  /** A caller silent this long (no RTP, not in a hold) once answered is hung up (ms); 0 or none: never. */
  readonly rtpTimeoutMs?: number;
  /** The call is over: forget its dialog a little later. */
  localEnded(call: LocalCall): void;
}

export class LocalCall extends EventEmitter<LocalCallEvents> {
  readonly info: LocalCallInfo;
  /** When the node took the caller (the status of calls in progress shows it). */
  readonly since = new Date();
  readonly #leg: Leg;
  readonly #side: AnchoredSide;
  readonly #host: LocalCallHost;
  #answer: Body | undefined;
  /** Our 2xx offered (a delayed offer, an offer-less re-INVITE): the ACK brings the answer. */
  #awaitingAck = false;
  #ended = false;

  /**
   * A caller's new INVITE (`leg` an InboundLeg, not yet answered), or a party of an answered
   * call handed over to a feature (an ad-hoc conference): its leg and side as they are.
   * Throws SdpError when a new caller's offer is unusable (the B2BUA answers 488).
   */
  constructor(host: LocalCallHost, info: LocalCallInfo, leg: Leg, side: AnchoredSide) {
    super();
    this.#host = host;
    this.info = info;
    this.#leg = leg;
    this.#side = side;
    if (leg instanceof InboundLeg && leg.state !== 'confirmed') {
      const offer = leg.offer;
      // a delayed offer (RFC 3261 13.2.1): we offer in the 200, the ACK answers
      this.#answer = offer ? side.acceptOffer(offer.data) : side.offer();
      this.#awaitingAck = offer === undefined;
      leg.onCancel = () => this.#finish('caller cancelled');
    }
    leg.on('bye', () => this.#finish('caller hung up'));
    leg.on('ackTimeout', () => this.hangup());
    leg.on('ack', (ack) => this.#onAck(sdpOf(ack)));
    leg.on('offer', (req, tx) => this.#onOffer(req, tx));
    leg.on('info', (req, tx) => this.#onInfo(req, tx));
    side.endpoint.on('dtmf', (d) => this.emit('dtmf', d.digit));
    // one caller must not hold a channel (a conference's, voicemail's) for ever without speaking
    side.watch(host.rtpTimeoutMs ?? 0, () => this.answered, (ms) => {
      host.log.info(`call ${info.caller} -> ${info.dialled} hung up: no RTP for ${Math.round(ms / 1000)} s`, { callId: leg.callId, call: info.id });
      this.hangup();
    });
  }

  /** For a room's logs and status. */
  get label(): string {
    return this.info.caller;
  }

  /** The caller's media: play prompts to it, record it, add it to a conference. */
  get endpoint(): Endpoint {
    return this.#side.endpoint;
  }

  get answered(): boolean {
    return this.#leg.state === 'confirmed';
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** 200 OK with our SDP (and `headers`); the endpoint carries media from now on. */
  answer(headers: Record<string, string> = {}): void {
    if (this.#ended || this.answered || !(this.#leg instanceof InboundLeg)) return;
    this.#leg.answer(this.#answer!, headers);
  }

  /** Refuses the call before it is answered, with a clear reason. */
  reject(status: number, reason?: string, headers: Record<string, string> = {}): void {
    if (this.#ended) return;
    if (this.answered || !(this.#leg instanceof InboundLeg)) return this.hangup();
    this.#leg.reject(status, reason, headers);
    this.#finish(`refused ${status}${reason ? ` ${reason}` : ''}`, false);
  }

  /** Ends the call from our side (BYE once answered, 480 before). */
  hangup(): void {
    if (this.#ended) return;
    if (this.answered || !(this.#leg instanceof InboundLeg)) this.#closed = this.#leg.hangup();
    else this.#leg.reject(480, 'Temporarily Unavailable');
    this.#finish('ended by the server', false);
  }

  /** Resolves once our BYE is answered (or given up): a node shutting down waits for it. */
  get closed(): Promise<void> {
    return this.#closed;
  }

  #closed: Promise<void> = Promise.resolve();

  readonly #onEnd: (() => void)[] = [];

  /** Runs `fn` when the call ends, however it ends (at once if it has). */
  onEnd(fn: () => void): void {
    if (this.#ended) fn();
    else this.#onEnd.push(fn);
  }

  #finish(why: string, emit = true): void {
    if (this.#ended) return;
    this.#ended = true;
    for (const fn of this.#onEnd.splice(0)) fn();
    this.#host.log.info(`local call ended: ${why}`, { callId: this.#leg.callId, call: this.info.id });
    if (emit) this.emit('hangup');
    if (!this.#side.endpoint.closed) this.#side.endpoint.close();
    this.#host.localEnded(this);
  }

  /** The ACK for our 2xx: the answer when that 2xx offered; a call without one cannot go on. */
  #onAck(answer: Body | undefined): void {
    if (!this.#awaitingAck) return;
    this.#awaitingAck = false;
    try {
      if (!answer) throw new SdpError('no answer in the ACK to our offer', 488);
      this.#side.acceptAnswer(answer.data);
    } catch (e) {
      this.#host.log.warn(`local call: ${(e as Error).message}`, { callId: this.#leg.callId, call: this.info.id });
      this.hangup();
    }
  }

  /** Hold and resume, or a new address: answered from the endpoint's side. */
  #onOffer(req: SipRequest, tx: ServerTransaction): void {
    const side = this.#side;
    if (!req.body.length) {
      this.#awaitingAck = req.method === 'INVITE';
      return this.#leg.answerRequest(req, tx, 200, side.offer(side.codec));
    }
    try {
      this.#leg.answerRequest(req, tx, 200, side.acceptOffer(req.body));
    } catch (e) {
      this.#leg.answerRequest(req, tx, e instanceof SdpError ? e.status : 488);
    }
  }

  #onInfo(req: SipRequest, tx: ServerTransaction): void {
    const d = parseDtmfInfo(req.contentType, req.body);
    if (!d) return this.#leg.answerRequest(req, tx, 415);
    this.#leg.answerRequest(req, tx, 200);
    this.emit('dtmf', d.digit);
  }
}

/** A feature that answers calls itself (a conference, voicemail). */
export interface LocalService {
  /** Takes the call: answer it and go on, or reject it with a clear response. */
  accept(call: LocalCall): void;
}
