import type { Logger } from '../../core/logger.js';
import { Dialog } from '../../sip/dialog/dialog.js';
import { parseAddress } from '../../sip/message/address.js';
import { reasonPhrase, type SipRequest, type SipResponse } from '../../sip/message/message.js';
import type { ServerTransaction } from '../../sip/transaction/server.js';
import type { Call, Fork, Party } from './call.js';
import type { Leg } from './leg.js';
import { RINGBACK } from './tones.js';

interface Blind {
  by: Party;
  other: Party;
  forks: Fork[];
  failures: number[];
  target: string;
}

/**
 * Call transfer for one call (RFC 3515 REFER): blind, to the extension in Refer-To, and
 * attended, with Replaces (RFC 3891) naming the transferor's dialog in another call. The
 * transferor hears of the outcome by NOTIFY (message/sipfrag) and is released once it is done.
 */
export class Transfers {
  readonly #call: Call;
  #blind: Blind | undefined;

  constructor(call: Call) {
    this.#call = call;
  }

  get #log(): Logger {
    return this.#call.host.log;
  }

  /** True while `leg` is the transferor of a blind transfer under way (its BYE ends nothing). */
  isTransferor(leg: Leg): boolean {
    return this.#blind?.by.leg === leg;
  }

  onRefer(leg: Leg, req: SipRequest, tx: ServerTransaction): void {
    const call = this.#call;
    const by = call.parties.find((p) => p.leg === leg);
    const other = call.parties.find((p) => p.leg !== leg);
    if (!by || !other || this.#blind) {
      leg.answerRequest(req, tx, 491);
      return;
    }
    const refer = parseReferTo(req);
    if (!refer) {
      leg.answerRequest(req, tx, 400);
      return;
    }
    const { target, replaces } = refer;
    if (replaces !== undefined) return this.#attended(by, other, replaces, req, tx);
    if (!target || !call.host.isExtension(target)) {
      leg.answerRequest(req, tx, 403);
      this.#log.info(`transfer refused: ${target ?? 'no target'} is not an extension (transfers outside need the dial plan)`, { callId: leg.callId, call: call.info.id });
      return;
    }
    if (!call.media || !other.side || !by.side) {
      leg.answerRequest(req, tx, 501); // direct media: the far end would need a new offer
      return;
    }
    leg.answerRequest(req, tx, 202);
    notify(by.leg, 'SIP/2.0 100 Trying', false);
    call.media.hold(other.side, RINGBACK);
    const otherSide = other.side;
    const forks = call.host.fork(call, target, (side) => side!.offer(otherSide.codec));
    const t: Blind = { by, other, forks, failures: [], target };
    this.#blind = t;
    this.#log.info(`transfer by ${by.leg.party} of ${other.leg.party} to ${target}`, { callId: leg.callId, call: call.info.id });
    if (!forks.length) return this.#failed(480);
    for (const f of forks) {
      f.leg.outbound.on('answered', (res) => this.#answered(f, res));
      f.leg.outbound.on('failed', (status) => {
        if (this.#blind !== t) return;
        if (f.side) f.side.endpoint.close();
        t.failures.push(status);
        if (t.failures.length === t.forks.length) this.#failed(Math.min(...t.failures));
      });
      f.leg.invite();
    }
  }

  #answered(f: Fork, res: SipResponse): void {
    const call = this.#call;
    const t = this.#blind;
    if (!t || call.ended || !t.forks.includes(f)) {
      f.leg.hangup();
      return;
    }
    this.#blind = undefined;
    for (const other of t.forks) if (other !== f) call.dropFork(other);
    try {
      if (res.body.length) f.side!.acceptAnswer(res.body);
    } catch (e) {
      f.leg.hangup();
      this.#blind = t;
      return this.#failed(488, (e as Error).message);
    }
    call.host.registerLeg(f.leg, call);
    call.media!.replace(t.by.side!, f.side!);
    call.parties = [t.other, { leg: f.leg, side: f.side }];
    call.retarget(t.target);
    call.adoptLeg(f.leg);
    notify(t.by.leg, 'SIP/2.0 200 OK', true);
    this.#log.info(`transfer to ${t.target} completed`, { callId: f.leg.callId, call: call.info.id });
    release(call, t.by.leg);
  }

  #failed(status: number, why = ''): void {
    const t = this.#blind;
    if (!t) return;
    this.#blind = undefined;
    this.#log.info(`transfer to ${t.target} failed: ${status} ${why}`, { callId: t.by.leg.callId, call: this.#call.info.id });
    notify(t.by.leg, `SIP/2.0 ${status} ${reasonPhrase(status)}`, true);
    if (t.by.leg.ended) this.#call.end('transfer failed and the transferor had left');
    else this.#call.media?.restore();
  }

  /**
   * Attended transfer: the transferor X talks to P in this call and to C in another (the
   * dialog `replaces` names); P and C are connected, X's two dialogs end.
   */
  #attended(by: Party, other: Party, replaces: string, req: SipRequest, tx: ServerTransaction): void {
    const call = this.#call;
    const leg = by.leg;
    const found = call.host.findLeg(replaces);
    if (!found || found.call === call || found.call.ended || !call.media || !by.side || !other.side) {
      leg.answerRequest(req, tx, found ? 501 : 481);
      return;
    }
    const peer = found.call.releasePeerOf(found.leg);
    if (!peer || !peer.side) {
      leg.answerRequest(req, tx, 501);
      return;
    }
    leg.answerRequest(req, tx, 202);
    found.call.end('replaced by an attended transfer');
    call.host.moveLeg(peer.leg, found.call, call);
    call.media.adopt(by.side, peer.side);
    call.parties = [other, peer];
    call.adoptLeg(peer.leg);
    notify(leg, 'SIP/2.0 200 OK', true);
    this.#log.info(`attended transfer by ${leg.party}: ${other.leg.party} now talks to ${peer.leg.party}`, { callId: leg.callId, call: call.info.id });
    release(call, leg);
  }

  /** The call ends: a transfer under way stops ringing its target. */
  close(): void {
    for (const f of this.#blind?.forks ?? []) {
      f.leg.cancel();
      if (f.side && !f.side.endpoint.closed) f.side.endpoint.close();
    }
    this.#blind = undefined;
  }
}

/** The progress of a transfer, to the transferor (RFC 3515 2.4.5). */
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

/** The REFER's implicit subscription (RFC 3515): a NOTIFY with the progress as sipfrag. */
export function notify(leg: Leg, statusLine: string, final: boolean): void {
  if (leg.ended) return;
  void leg.send('NOTIFY', { type: 'message/sipfrag;version=2.0', data: Buffer.from(`${statusLine}\r\n`) }, {
    event: 'refer',
    'subscription-state': final ? 'terminated;reason=noresource' : 'active;expires=60',
  });
}

/** The transferor normally hangs up on the final NOTIFY; release it if it does not. */
function release(call: Call, leg: Leg): void {
  call.markReleased(leg);
  setTimeout(() => leg.hangup(), 2000).unref();
}
