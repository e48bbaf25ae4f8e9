/**
 * Call transfer for one call (RFC 3515 REFER). Blind: the Refer-To number goes through the dial
 * plan with the transferor's rights, as if the transferor dialled it for the transferee (an
 * extension with its do not disturb, forwarding and no-answer voicemail, a hunt group, a
 * mailbox, a number outside); the transferee hears ringback meanwhile. Attended: Replaces
 * (RFC 3891) names the transferor's dialog in another call, whose other party is connected
 * here. The transferor hears of the outcome by NOTIFY (message/sipfrag) and is released.
 *
 * Transfers work against the two interfaces below, which the call and the B2BUA implement.
 */
import type { Logger } from '../../core/logger.js';
import type { PlayerSource } from '../../media/index.js';
import { Dialog } from '../../sip/dialog/dialog.js';
import { parseAddress } from '../../sip/message/address.js';
import { reasonPhrase, type SipRequest, type SipResponse } from '../../sip/message/message.js';
import type { ServerTransaction } from '../../sip/transaction/server.js';
import { sdpOf, type Body, type Leg } from './leg.js';
import type { AnchoredMedia, AnchoredSide } from './media.js';
import { Ringing, type ForkMaker, type RingingOwner } from './ring/ringing.js';
import type { CallInfo, RingOutcome, RingStrategy } from './ring/strategy.js';
import type { Fork, OfferAnswer, Party } from './session.js';
import type { CallTimers } from './timers.js';
import { RINGBACK } from './tones.js';

/** The call a transfer works in (Call fits). */
export interface TransferCall {
  readonly info: CallInfo;
  readonly log: Logger;
  readonly media: AnchoredMedia | undefined;
  readonly timers: CallTimers;
  readonly parties: readonly Party[];
  readonly over: boolean;
  readonly maxForwards: number | undefined;
  /** A media side for the transfer's target (watched for RTP by the call once it is a party). */
  newSide(): AnchoredSide | undefined;
  /** A blind transfer rings its target (true), or is over (false). */
  transferring(on: boolean): void;
  /** `neu` takes the place of `old`; with `target` the call now connects to that number. */
  replaceParty(old: Party, neu: Party, target?: string): void;
  /** `leg` left: the call no longer hangs it up. */
  release(leg: Leg): void;
  /** The party opposite `leg` leaves this call with its leg and media (for another call). */
  releasePeerOf(leg: Leg): Party | undefined;
  /** A fork's dialog reaches this call from now on. */
  register(leg: Leg): void;
  end(why: string): void;
  /** The call's error boundary. */
  guard(what: string, fn: () => void): void;
}

/** Where a blind transfer goes, by the dial plan. */
export type TransferRoute =
  | { kind: 'ring'; strategy: RingStrategy }
  | { kind: 'voicemail'; mailbox: string }
  | { kind: 'refused'; status: number; reason: string };

/** What transfers need of the B2BUA. */
export interface TransferHost {
  readonly forks: ForkMaker;
  readonly ringTimeoutMs: number;
  /** Where a transfer by `transferor` of `transferee` to `number` goes. */
  routeTransfer(number: string, transferor: string, transferee: string): TransferRoute;
  /** The call and leg of a dialog we hold, by our dialog key (RFC 3891 Replaces). */
  findLeg(key: string): { call: TransferCall; leg: Leg } | undefined;
  /** A leg moved from one call to another (attended transfer). */
  moveLeg(leg: Leg, from: TransferCall, to: TransferCall): void;
  /** The transferee leaves `call` for `mailbox`'s voicemail with its leg and media; false when it cannot. */
  toVoicemail(call: TransferCall, party: Party, mailbox: string, why: string): boolean;
}

interface Blind {
  by: Party;
  other: Party;
  target: string;
  /** Set as soon as it is made (it needs `this` blind transfer to report to). */
  ringing: Ringing | undefined;
}

export class Transfers {
  readonly #call: TransferCall;
  readonly #host: TransferHost;
  #blind: Blind | undefined;

  constructor(call: TransferCall, host: TransferHost) {
    this.#call = call;
    this.#host = host;
  }

  get #log(): Logger {
    return this.#call.log;
  }

  /** True while `leg` is the transferor of a blind transfer under way (its BYE ends nothing). */
  isTransferor(leg: Leg): boolean {
    return this.#blind?.by.leg === leg;
  }

  /** The parties a blind transfer rings now. */
  get ringingNumbers(): string[] {
    return this.#blind?.ringing?.ringingNumbers ?? [];
  }

  onRefer(leg: Leg, req: SipRequest, tx: ServerTransaction): void {
    const call = this.#call;
    const by = call.parties.find((p) => p.leg === leg);
    const other = call.parties.find((p) => p.leg !== leg);
    if (!by || !other || this.#blind) return leg.answerRequest(req, tx, 491);
    const refer = parseReferTo(req);
    if (!refer) return leg.answerRequest(req, tx, 400);
    if (refer.replaces !== undefined) return this.#attended(by, other, refer.replaces, req, tx);
    if (!refer.target) return leg.answerRequest(req, tx, 400);
    if (!call.media || !other.side || !by.side) return leg.answerRequest(req, tx, 501); // direct media: the far end would need a new offer
    const route = this.#host.routeTransfer(refer.target, by.leg.party, other.leg.party);
    if (route.kind === 'refused') {
      this.#log.info(`transfer to ${refer.target} refused: ${route.status} ${route.reason}`, { callId: leg.callId, call: call.info.id });
      return leg.answerRequest(req, tx, route.status);
    }
    leg.answerRequest(req, tx, 202);
    notify(by.leg, 'SIP/2.0 100 Trying', false);
    this.#log.info(`transfer by ${by.leg.party} of ${other.leg.party} to ${refer.target}`, { callId: leg.callId, call: call.info.id });
    if (route.kind === 'voicemail') {
      if (!this.#host.toVoicemail(call, other, route.mailbox, `transferred by ${by.leg.party}`)) return void notify(by.leg, 'SIP/2.0 486 Busy Here', true);
      notify(by.leg, 'SIP/2.0 200 OK', true);
      return call.end(`transferred to voicemail ${route.mailbox}`);
    }
    call.media.hold(other.side, RINGBACK);
    call.transferring(true);
    const t: Blind = { by, other, target: refer.target, ringing: undefined };
    const ringing = new Ringing(this.#owner(t), route.strategy, { ringTimeoutMs: this.#host.ringTimeoutMs });
    t.ringing = ringing;
    this.#blind = t;
    ringing.start();
  }

  /** The transfer target rings for the transferee: what the ringing may do in this call. */
  #owner(t: Blind): RingingOwner {
    const call = this.#call;
    const otherSide = t.other.side!;
    return {
      info: call.info,
      log: call.log,
      timers: call.timers,
      forks: this.#host.forks,
      get maxForwards() {
        return call.maxForwards;
      },
      get over() {
        return call.over;
      },
      newSide: () => call.newSide(),
      offer: (side: AnchoredSide | undefined, oa: OfferAnswer): Body | undefined => {
        oa.sendOffer();
        return side?.offer(otherSide.codec);
      },
      progress: () => undefined,
      earlyMedia: () => false,
      hold: (source: PlayerSource | undefined) => {
        call.media?.hold(otherSide, source ?? RINGBACK);
        return source !== undefined;
      },
      phase: () => undefined,
      register: (f: Fork) => call.register(f.leg),
      answered: (f: Fork, res: SipResponse) => this.#answered(t, f, res),
      failed: (o: RingOutcome) => this.#failed(t, o.status, o.why),
      divert: (mailbox: string, why: string) => this.#divert(t, mailbox, why),
      guard: (what: string, fn: () => void) => call.guard(what, fn),
    };
  }

  #answered(t: Blind, f: Fork, res: SipResponse): void {
    const call = this.#call;
    if (this.#blind !== t || call.over) return void f.leg.hangup();
    this.#blind = undefined;
    try {
      const body = sdpOf(res) ?? f.earlyAnswer;
      if (!body) throw new Error('the 2xx to our offer has no answer');
      f.side!.acceptAnswer(body.data);
      f.oa.receiveAnswer();
    } catch (e) {
      void f.leg.hangup();
      this.#blind = t;
      return this.#failed(t, 488, (e as Error).message);
    }
    call.transferring(false);
    call.replaceParty(t.by, { leg: f.leg, side: f.side, oa: f.oa }, t.ringing?.target ?? t.target);
    notify(t.by.leg, 'SIP/2.0 200 OK', true);
    this.#log.info(`transfer to ${t.target} completed`, { callId: f.leg.callId, call: call.info.id });
    this.#release(t.by.leg);
  }

  #failed(t: Blind, status: number, why = ''): void {
    if (this.#blind !== t) return;
    this.#blind = undefined;
    t.ringing?.stop();
    const call = this.#call;
    this.#log.info(`transfer to ${t.target} failed: ${status} ${why}`, { callId: t.by.leg.callId, call: call.info.id });
    notify(t.by.leg, `SIP/2.0 ${status} ${reasonPhrase(status)}`, true);
    if (call.over) return;
    call.transferring(false);
    if (t.by.leg.ended) call.end('transfer failed and the transferor had left');
    else call.media?.restore();
  }

  /** The target's mailbox takes the transferee (no answer, busy): the call ends here. */
  #divert(t: Blind, mailbox: string, why: string): boolean {
    if (this.#blind !== t) return false;
    const call = this.#call;
    if (!this.#host.toVoicemail(call, t.other, mailbox, why)) return false;
    this.#blind = undefined;
    t.ringing?.stop();
    notify(t.by.leg, 'SIP/2.0 200 OK', true);
    call.end(`transferred to voicemail ${mailbox} (${why})`);
    return true;
  }

  /**
   * Attended transfer: the transferor X talks to P in this call and to C in another (the
   * dialog `replaces` names); P and C are connected, X's two dialogs end.
   */
  #attended(by: Party, other: Party, replaces: string, req: SipRequest, tx: ServerTransaction): void {
    const call = this.#call;
    const leg = by.leg;
    const found = this.#host.findLeg(replaces);
    if (!found || found.call === call || found.call.over || !call.media || !by.side || !other.side) return leg.answerRequest(req, tx, found ? 501 : 481);
    const peer = found.call.releasePeerOf(found.leg);
    if (!peer || !peer.side) return leg.answerRequest(req, tx, 501);
    leg.answerRequest(req, tx, 202);
    found.call.end('replaced by an attended transfer');
    this.#host.moveLeg(peer.leg, found.call, call);
    call.replaceParty(by, peer);
    notify(leg, 'SIP/2.0 200 OK', true);
    this.#log.info(`attended transfer by ${leg.party}: ${other.leg.party} now talks to ${peer.leg.party}`, { callId: leg.callId, call: call.info.id });
    this.#release(leg);
  }

  /** The transferor normally hangs up on the final NOTIFY; released (BYE) if it does not. */
  #release(leg: Leg): void {
    this.#call.release(leg);
    this.#call.timers.add('release-transferor', 2000, () => void leg.hangup());
  }

  /** The call ends: a transfer under way stops ringing its target. */
  close(): void {
    this.#blind?.ringing?.stop();
    this.#blind = undefined;
  }
}

/**
 * A REFER's Refer-To: the user part of its URI, and with Replaces (RFC 3891) the key of the
 * dialog it names, as our dialog map keys it; undefined when Refer-To is missing or bad.
 */
export function parseReferTo(req: SipRequest): { target: string | undefined; replaces: string | undefined } | undefined {
  try {
    const to = parseAddress(req.get('refer-to') ?? '');
    const target = to.uri.isSip ? to.uri.userDecoded : undefined;
    const m = /(?:^|&)replaces=([^&]*)/i.exec(to.uri.headers ?? '');
    if (!m) return { target, replaces: undefined };
    const r = decodeURIComponent(m[1]);
    const callId = r.split(';')[0];
    const toTag = /;\s*to-tag=([^;]*)/i.exec(r)?.[1];
    const fromTag = /;\s*from-tag=([^;]*)/i.exec(r)?.[1];
    // From the referrer's side, to-tag is our tag of that dialog and from-tag its own.
    return { target, replaces: callId && toTag && fromTag ? Dialog.key(callId, toTag, fromTag) : '' };
  } catch {
    return undefined;
  }
}

/** The REFER's implicit subscription (RFC 3515 2.4.5): a NOTIFY with the progress as sipfrag. */
export function notify(leg: Leg, statusLine: string, final: boolean): void {
  if (leg.ended) return;
  void leg.send('NOTIFY', { type: 'message/sipfrag;version=2.0', data: Buffer.from(`${statusLine}\r\n`) }, {
    event: 'refer',
    'subscription-state': final ? 'terminated;reason=noresource' : 'active;expires=60',
  });
}
