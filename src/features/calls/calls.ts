import type { Logger } from '../../core/logger.js';
import { Dialog } from '../../sip/dialog/dialog.js';
import { SipRequest, type SipResponse } from '../../sip/message/message.js';
import { registeredTarget } from '../../sip/routing.js';
import { SdpError } from '../../media/sdp.js';
import { quote } from '../../sip/message/grammar.js';
import { SipStack } from '../../sip/stack.js';
import type { InviteServerTransaction, ServerTransaction } from '../../sip/transaction/server.js';
import type { Target, TransportProtocol } from '../../sip/transport/types.js';
import type { CallRecord } from '../../core/call-record.js';
import { Call, type CallHost, type Fork, type HuntDriver, type RingPlan } from './call.js';
import { parseFeatureCode } from './settings.js';
import { AnchoredMedia, AnchoredSide } from './media.js';
import { InboundLeg, OutboundLeg, type Body, type Leg } from './leg.js';
import { LocalCall, type LocalCallHost, type LocalCallInfo, type LocalService } from './local.js';
import { OutboundRoute, type NextRoute } from './outbound.js';
import { incomingParty, trunkInvite } from './trunk-messages.js';
import { AdHocConferences, CONFERENCE_FACTORY } from './adhoc.js';
import type { Destination } from '../routing/index.js';
import type { Caller, CallsOptions, CallTrunk, Ended, MemberState } from './types.js';
import { forbidden, PhoneFeatures } from './phone-features.js';
import { watchRtp } from '../../media/inactivity.js';

export type { CallHuntGroups, CallsOptions, CallTrunk, CallTrunks, CallUser, CallVoicemail, MemberState, RegisteredContact } from './types.js';

/**
 * The B2BUA for calls between extensions: authenticates callers, enforces the node's channel
 * limit, finds the callee's contacts and runs a Call for each INVITE, and routes in-dialog
 * requests to the leg whose dialog they belong to.
 */
export class Calls implements CallHost, LocalCallHost {
  readonly log: Logger;
  readonly ringTimeoutMs: number;
  readonly #o: CallsOptions;
  readonly #calls = new Map<string, Call>();
  readonly #legs = new Map<string, Leg>();
  readonly #legKeys = new Map<Leg, string>();
  readonly #locals = new Map<LocalCall, Leg>();
  readonly #adHoc: AdHocConferences | undefined;
  readonly #features: PhoneFeatures;
  #attempts: number[] = [];
  #seq = 0;
  readonly stats = { attempts: 0, answered: 0, refusedLimit: 0 };

  constructor(opts: CallsOptions) {
    this.#o = opts;
    this.#adHoc = opts.adHoc ? new AdHocConferences(this, opts.adHoc) : undefined;
    this.#features = new PhoneFeatures(this);
    this.log = opts.logger;
    this.ringTimeoutMs = opts.ringTimeoutMs;
  }

  findLeg(key: string): { call: Call; leg: Leg } | undefined {
    const leg = this.#legs.get(key);
    if (!leg) return undefined;
    for (const [call, legs] of this.#callLegs) if (legs.has(leg) || call.a === leg) return { call, leg };
    return undefined;
  }

  moveLeg(leg: Leg, from: Call, to: Call): void {
    this.#callLegs.get(from)?.delete(leg);
    this.registerLeg(leg, to);
  }

  /** The SIP dialogs (Call-ID and tags, ours first) of a party's live legs: what its phone would name in Replaces. */
  dialogsOf(party: string): { callId: string; localTag: string; remoteTag: string }[] {
    const out: { callId: string; localTag: string; remoteTag: string }[] = [];
    for (const leg of this.#legs.values()) {
      const d = leg.dialog;
      if (leg.party === party && !leg.ended && d) out.push({ callId: d.callId, localTag: d.localTag, remoteTag: d.remoteTag });
    }
    return out;
  }

  isExtension(number: string): boolean {
    return this.#o.users.has(number);
  }

  /** A user's phone features as they are now (configured, then changed from the phone). */
  settingsOf(extension: string) {
    return this.#o.settings.get(extension);
  }

  get active(): number {
    return this.#calls.size;
  }

  /** Call attempts in the last hour (busy-hour call attempts, BHCA). */
  get attemptsLastHour(): number {
    const from = Date.now() - 3600_000;
    while (this.#attempts.length && this.#attempts[0] < from) this.#attempts.shift();
    return this.#attempts.length;
  }

  onInvite(req: SipRequest, tx: InviteServerTransaction): void {
    const o = this.#o;
    // who is busy is looked at afresh for each new call (transfers move parties between calls)
    this.#changed();
    const stack = o.stack;
    const trunk = o.trunks?.identify(req, tx.source);
    if (trunk) return this.#fromTrunk(req, tx, trunk);
    const callerExt = req.from.uri.isSip ? req.from.uri.userDecoded ?? '' : '';
    // everybody is challenged alike, users or not: the answer must not tell which users exist
    const auth = o.auth.authenticate(req, tx.source, callerExt);
    if (!auth.ok) {
      stack.respond(tx, auth.response);
      return;
    }
    const caller = o.users.get(callerExt);
    if (auth.user !== callerExt || !caller) {
      this.log.warn('security: INVITE refused: credentials do not match the caller', {
        callId: req.callId, source: `${tx.source.protocol}:${tx.source.address}:${tx.source.port}`, from: req.from.uri.toString(), user: auth.user,
      });
      stack.respond(tx, stack.createResponse(req, 403, 'Forbidden (credentials do not match the caller)'));
      return;
    }
    if (!this.#admit(req, tx)) return;
    // security hook (issue 15): calls at once per user
    const limited = o.callLimits?.refusal(callerExt, this.#callsOf(callerExt));
    if (limited) return void stack.respond(tx, stack.createResponse(req, 403, limited));
    let dialled = req.uri.isSip ? req.uri.userDecoded ?? '' : '';
    let withheld = o.settings.get(callerExt)?.withholdCallerId ?? false;
    if (dialled === (o.voicemailCode ?? '*17')) {
      return void this.#features.voicemail(req, tx, { number: callerExt, name: caller.name, withheld }, dialled, 'collect', o.services?.voicemail?.has(callerExt) ? callerExt : '');
    }
    const code = parseFeatureCode(dialled);
    if (code?.kind === 'set') return this.#features.featureCode(req, tx, callerExt, code);
    if (code?.kind === 'conference' || dialled === CONFERENCE_FACTORY) {
      if (!this.#adHoc || !o.engine) return void stack.respond(tx, stack.createResponse(req, 480, 'Temporarily Unavailable (conferencing is not available on this node)'));
      return void (code?.kind === 'conference' ? this.#adHoc.merge(req, tx, callerExt, caller.name) : this.#adHoc.focus(req, tx, callerExt, caller.name));
    }
    if (code?.kind === 'withheld-call') {
      dialled = code.number;
      withheld = true;
    } else if (dialled.startsWith('*') && !o.router) {
      stack.respond(tx, stack.createResponse(req, 404, `Not Found (unknown feature code ${dialled})`));
      return;
    }
    const from: Caller = { number: callerExt, name: caller.name, withheld };
    const dest: Destination = o.router
      ? o.router.dial(dialled, { user: callerExt, trace: false }).destination
      : o.users.has(dialled) ? { kind: 'extension', extension: dialled } : { kind: 'notFound' };
    this.routeTo(req, tx, from, dialled, dest, callerExt, undefined);
  }

  /** The options the node gave (PhoneFeatures reads them). */
  get options(): CallsOptions {
    return this.#o;
  }

  // What ad-hoc conferences (adhoc.ts) need of the B2BUA.

  answeredCallsOf(user: string): Call[] {
    return [...this.#calls.values()].filter((c) => !c.ended && c.media && c.parties.length === 2 && c.parties.some((p) => p.leg.party === user && p.side));
  }

  answerLocally(req: SipRequest, tx: InviteServerTransaction, info: Omit<LocalCallInfo, 'id'>, service: LocalService): LocalCall | undefined {
    return this.#local(req, tx, info, service);
  }

  legOf(call: LocalCall): Leg | undefined {
    return this.#locals.get(call);
  }

  /** The party opposite `userLeg` leaves `call` with its leg and media, as a LocalCall; the call ends. */
  takePeer(call: Call, userLeg: Leg, why: string): LocalCall | undefined {
    const peer = call.releasePeerOf(userLeg);
    if (!peer?.side) return undefined;
    this.#callLegs.get(call)?.delete(peer.leg);
    const party = new LocalCall(this, { id: call.info.id, caller: peer.leg.party, callerName: '', dialled: '', target: '' }, peer.leg, peer.side);
    this.#locals.set(party, peer.leg);
    this.#changed();
    call.end(why);
    return party;
  }

  respond(req: SipRequest, tx: InviteServerTransaction, status: number, reason: string): void {
    this.#o.stack.respond(tx, this.#o.stack.createResponse(req, status, reason));
  }

  local(protocol: TransportProtocol): { address: string; port: number } {
    return this.#o.stack.local(protocol === 'wss' ? 'wss' : protocol);
  }

  /** Calls a party is the caller of now (B2BUA calls and calls the server answered), for CallLimits. */
  #callsOf(party: string): number {
    let n = 0;
    for (const c of this.#calls.values()) if (!c.ended && c.a.party === party) n++;
    for (const [c, leg] of this.#locals) if (!c.ended && leg.party === party) n++;
    return n;
  }

  /** Security hook (issue 15): a silent answered party (no RTP, not in a hold) ends its call. */
  #watchRtp(side: AnchoredSide, answered: () => boolean, end: (why: string) => void): void {
    watchRtp(side.endpoint, {
      timeoutMs: this.#o.rtpTimeoutMs ?? 0,
      // silence is expected before the answer and in any hold (whoever holds, the party may send nothing)
      expected: () => !answered() || side.direction !== 'sendrecv',
      onSilent: (ms) => end(`no RTP for ${Math.round(ms / 1000)} s`),
    });
  }

  /**
   * The calls up now, each as the record it would get if it ended at `at` (the call journal,
   * issue 15: a node killed with calls up records them at its next start).
   */
  live(at: Date): CallRecord[] {
    const out: CallRecord[] = [];
    for (const c of this.#calls.values()) {
      if (c.ended) continue;
      const answer = c.answeredAt;
      const legs: CallRecord['legs'] = [{ role: 'caller', sipCallId: c.a.callId, party: c.a.party, codec: c.media?.a.codec, quality: undefined }];
      if (c.b) legs.push({ role: 'callee', sipCallId: c.b.callId, party: c.b.party, codec: undefined, quality: undefined });
      out.push({
        id: c.info.id, start: c.start, answer, end: at, callerNumber: c.info.callerNumber, callerName: c.info.callerName,
        calledNumber: c.info.calledNumber, connectedNumber: answer ? c.target : undefined, direction: c.info.direction, legs,
        durationSec: answer ? Math.max(0, Math.round((at.getTime() - answer.getTime()) / 1000)) : 0,
        ringSec: Math.max(0, Math.round(((answer ?? at).getTime() - c.start.getTime()) / 1000)),
        disposition: answer ? 'answered' : 'failed', cause: 'node stopped',
      });
    }
    return out;
  }

  /** Counts the attempt; false (answered 503) when the node's channels are all in use. */
  #admit(req: SipRequest, tx: InviteServerTransaction): boolean {
    const o = this.#o;
    this.stats.attempts++;
    this.#attempts.push(Date.now());
    if (this.#calls.size < o.maxCalls) return true;
    this.stats.refusedLimit++;
    this.log.warn('call refused: node channel limit reached', { callId: req.callId, limit: o.maxCalls });
    const res = o.stack.createResponse(req, 503, `Service Unavailable (all ${o.maxCalls} channels of this node in use)`);
    res.set('retry-after', '5');
    o.stack.respond(tx, res);
    return false;
  }

  /**
   * Acts on the dial plan's destination for a call. `causer` is the user whose rights and
   * priority apply (the caller, or for an incoming call nobody); `fallback` is where an incoming
   * call goes when its destination is busy. PhoneFeatures routes through here too.
   */
  routeTo(req: SipRequest, tx: InviteServerTransaction, from: Caller, dialled: string, dest: Destination, causer: string | undefined, fallback: string | undefined): Ended | undefined {
    const o = this.#o;
    const refuse = (status: number, reason: string): undefined => void o.stack.respond(tx, o.stack.createResponse(req, status, reason));
    const direction = from.trunk ? 'incoming' : 'internal';
    switch (dest.kind) {
      case 'extension': {
        if (o.huntGroups?.isGroup(dest.extension)) return this.#huntGroup(req, tx, from, dialled, dest.extension, causer, direction);
        let plan = this.#plan(from.number, dest.extension, from.trunk);
        if ('status' in plan && plan.status === 486 && fallback !== undefined) {
          this.log.info(`${dest.extension} busy: incoming call goes to its fallback ${fallback}`, { callId: req.callId });
          return this.routeTo(req, tx, from, dialled, this.dial(fallback, causer, from.number), causer, undefined);
        }
        if ('status' in plan && plan.voicemail !== undefined) {
          this.log.info(`${dest.extension} ${plan.reason.includes('disturb') ? 'in do not disturb' : 'busy'}: call goes to voicemail`, { callId: req.callId });
          return this.#features.voicemail(req, tx, from, dialled, 'deposit', plan.voicemail);
        }
        if ('status' in plan) {
          refuse(plan.status, plan.reason);
          if (plan.status === 486) this.#record(req, from, dialled, 'busy', '486', direction);
          return undefined;
        }
        if (fallback !== undefined && plan.busyTo === undefined && o.users.has(fallback)) plan = { ...plan, busyTo: fallback };
        return this.#startCall(req, tx, from, dialled, plan, direction);
      }
      case 'ars':
      case 'lineGroup': {
        if (!dest.barring.allowed) {
          this.log.info(`call barred: ${dest.barring.reason}`, { callId: req.callId, user: causer, class: dest.barring.class });
          return refuse(403, forbidden(dest.barring.reason));
        }
        const route = this.#outboundRoute(dest, causer, from);
        if ('status' in route) return refuse(route.status, route.reason);
        const plan: RingPlan = { extension: dest.number, busyTo: undefined, noAnswer: undefined, outbound: route };
        return this.#startCall(req, tx, { ...from, withheld: from.withheld || dest.callerId.withhold === true }, dialled, plan, from.trunk ? 'incoming' : 'outgoing');
      }
      case 'busy':
        return refuse(486, `Busy Here (${dest.reason})`);
      case 'incomplete':
        return refuse(484, 'Address Incomplete');
      case 'notFound':
        return refuse(404, `Not Found (${dialled || 'no number'} is not in the dial plan)`);
      case 'feature':
        return this.#features.feature(req, tx, from, dialled, dest.feature, dest.number, causer);
    }
  }

  dial(number: string, causer: string | undefined, callerNumber: string): Destination {
    const r = this.#o.router;
    if (r) return r.dial(number, { user: causer, callerNumber, trace: false }).destination;
    return this.#o.users.has(number) ? { kind: 'extension', extension: number } : { kind: 'notFound' };
  }

  /** The routes out for an ARS or line-group destination, within the trunk-to-trunk policy. */
  #outboundRoute(dest: Extract<Destination, { kind: 'ars' | 'lineGroup' }>, causer: string | undefined, from: Caller): OutboundRoute | { status: number; reason: string } {
    const o = this.#o;
    if (!o.trunks || !o.router) return { status: 503, reason: 'Service Unavailable (no trunks)' };
    if (from.trunk && !from.trunk.config.allowTrunkToTrunk) {
      this.log.warn(`security: trunk-to-trunk call refused (trunk ${from.trunk.name} does not allow it)`, { number: dest.number });
      return { status: 403, reason: `Forbidden (trunk-to-trunk calls are off for trunk ${from.trunk.name})` };
    }
    const router = o.router;
    const trunks = o.trunks;
    return new OutboundRoute({
      pool: trunks,
      select: (form, number) => router.selectRoutes(form, number, { user: causer, trace: false }, (g) => trunks.available(g)),
      start: dest.kind === 'ars' ? { form: dest.form, number: dest.number } : { lineGroup: dest.lineGroup, number: dest.number, callerId: dest.callerId },
      allowTrunk: from.trunk ? (t) => t.config.allowTrunkToTrunk : undefined,
    });
  }

  /** Creates the caller's leg, the media and the Call, and starts ringing. */
  #startCall(req: SipRequest, tx: InviteServerTransaction, from: Caller, dialled: string, plan: RingPlan, direction: 'internal' | 'incoming' | 'outgoing'): Call | undefined {
    const o = this.#o;
    const stack = o.stack;
    if (!req.body.length || req.contentType !== 'application/sdp') {
      stack.respond(tx, stack.createResponse(req, 488, 'Not Acceptable Here (an SDP offer is required)'));
      return undefined;
    }
    const log = this.log;
    const a = new InboundLeg(stack, req, tx, from.trunk ? `trunk ${from.trunk.name}` : from.number, log, this.#contact(tx.source.protocol), o.sessionTimer);
    this.registerLeg(a);
    const callerUser = o.users.get(from.number);
    const callee = plan.outbound ? undefined : o.users.get(plan.extension);
    const direct = callerUser?.media === 'direct' && callee?.media === 'direct';
    const anchored = o.engine !== undefined && !direct;
    let media: AnchoredMedia | undefined;
    if (anchored) {
      try {
        media = new AnchoredMedia(o.engine!, o.musicOnHold);
      } catch (e) {
        log.error(`no media port for a call: ${(e as Error).message}`, { callId: req.callId });
        a.reject(503, 'Service Unavailable (no media port)', { 'retry-after': '5' });
        this.#unregister(a);
        return undefined;
      }
    }
    const id = `${Date.now().toString(36)}-${(++this.#seq).toString(36)}`;
    const call = new Call(this, { id, callerNumber: from.number, callerName: from.name, calledNumber: dialled, direction, withheld: from.withheld }, a, media, plan);
    if (media) this.#watchRtp(media.a, () => call.answeredAt !== undefined, (why) => call.end(`caller: ${why}`));
    this.#calls.set(id, call);
    this.#changed();
    this.registerLeg(a, call);
    log.info(`call ${from.number} -> ${dialled}${plan.outbound ? ' (out through trunks)' : plan.extension !== dialled ? ` (to ${plan.extension})` : ''}`, { callId: req.callId, call: id, media: anchored ? 'anchored' : 'direct' });
    call.begin();
    return call;
  }

  /** An INVITE from a trunk peer: the incoming call routes decide where it goes. */
  #fromTrunk(req: SipRequest, tx: InviteServerTransaction, trunk: CallTrunk): void {
    const o = this.#o;
    const stack = o.stack;
    const refuse = (status: number, reason: string) => stack.respond(tx, stack.createResponse(req, status, reason));
    if (!this.#admit(req, tx)) return;
    const { number, callerId, withheld, name } = incomingParty(req, trunk);
    if (!trunk.acquire('in')) {
      const res = stack.createResponse(req, 503, `Service Unavailable (all channels of trunk ${trunk.name} in use)`);
      res.set('retry-after', '5');
      stack.respond(tx, res);
      return;
    }
    const from: Caller = { number: callerId ?? 'anonymous', name, withheld, trunk };
    if (!o.router) {
      trunk.release();
      return refuse(404, 'Not Found (no dial plan)');
    }
    const d = o.router.incoming({ lineGroup: trunk.lineGroup, number, callerId, withheld, at: new Date() });
    if (d.destination === undefined) {
      trunk.release();
      this.log.info(`incoming call on trunk ${trunk.name} to ${number}: no incoming call route`, { callId: req.callId });
      return refuse(404, `Not Found (no route for ${number})`);
    }
    this.log.info(`incoming call on trunk ${trunk.name}: ${from.number} -> ${number} routed to ${d.destination}`, { callId: req.callId });
    // the line's rights route and bar it: a caller from outside is never "the system"
    const line = { name: trunk.name, rights: trunk.config.rights };
    const made = this.routeTo(req, tx, from, number, o.router.dial(d.destination, { callerNumber: from.number, trace: false, line }).destination, undefined, d.fallback);
    // the trunk channel is held for the call's life; a call refused at once gives it back now
    if (made) made.onEnd(() => trunk.release());
    else trunk.release();
  }

  /**
   * Where a call to `dialled` rings (PBX semantics): forward-all is followed (up to 5 hops,
   * never back to the caller), and to a number outside when the dial plan routes it and the
   * forwarding user may call it; a callee in do not disturb, or on a call without call waiting,
   * is busy: forward-on-busy if set, else 486.
   */
  #plan(caller: string, dialled: string, fromTrunk?: CallTrunk): RingPlan | { status: number; reason: string; voicemail?: string } {
    const o = this.#o;
    if (!o.users.has(dialled)) return { status: 404, reason: `Not Found (${dialled || 'no number'} is not an extension)` };
    let target = dialled;
    for (let hops = 0; hops < 5; hops++) {
      const next = o.settings.get(target)?.forwardAll;
      if (next === undefined || next === caller || next === target) break;
      if (!o.users.has(next)) return this.#forwardOut(target, next, caller, fromTrunk);
      target = next;
    }
    const s = o.settings.get(target)!;
    const busy = s.doNotDisturb || (!s.callWaiting && this.#onCall(target));
    const fwd = (to: string | undefined) => (to !== undefined && to !== caller && to !== target && o.users.has(to) ? to : undefined);
    // the user's mailbox takes what forwarding does not (never a caller's own call to itself)
    const vm = o.users.get(target)?.voicemail && target !== caller && o.services?.voicemail?.has(target) ? target : undefined;
    if (busy) {
      const to = fwd(s.forwardBusy);
      if (to === undefined) return { status: 486, reason: s.doNotDisturb ? 'Busy Here (do not disturb)' : 'Busy Here', voicemail: vm };
      return { extension: to, busyTo: undefined, noAnswer: undefined };
    }
    const na = fwd(s.forwardNoAnswer);
    return {
      extension: target, busyTo: fwd(s.forwardBusy), noAnswer: na ? { ms: s.noAnswerSeconds * 1000, to: na } : undefined,
      voicemail: vm === undefined ? undefined : { mailbox: vm, afterMs: s.noAnswerSeconds * 1000 },
    };
  }

  /**
   * Forward-all to a number outside: the leg out is the forwarding user's call, so it is routed
   * and barred with that user's rights (forwarding never reaches what the user may not dial).
   */
  #forwardOut(user: string, number: string, caller: string, fromTrunk: CallTrunk | undefined): RingPlan | { status: number; reason: string } {
    const d = this.dial(number, user, caller);
    if (d.kind !== 'ars' && d.kind !== 'lineGroup') return { status: 404, reason: `Not Found (${user} forwards to ${number}, which the dial plan does not route)` };
    if (!d.barring.allowed) {
      this.log.info(`forwarding barred: ${d.barring.reason}`, { user, number, class: d.barring.class });
      return { status: 403, reason: forbidden(d.barring.reason) };
    }
    const route = this.#outboundRoute(d, user, { number: caller, name: '', withheld: false, trunk: fromTrunk });
    if ('status' in route) return route;
    this.log.info(`${user} forwards all calls to ${number}: out through the dial plan`, { caller });
    return { extension: number, busyTo: undefined, noAnswer: undefined, outbound: route };
  }

  /** A ringing call goes on to voicemail (no answer, busy, no phone): the caller's leg and media move to a LocalCall. */
  divert(call: Call, leg: InboundLeg, side: AnchoredSide | undefined, mailbox: string, why: string): void {
    const o = this.#o;
    this.#callLegs.get(call)?.delete(leg);
    const vm = o.services?.voicemail;
    if (!vm || !o.engine || !vm.available) {
      this.log.warn(`voicemail for ${mailbox} not available (${why}): caller gets busy`, { callId: leg.callId });
      side?.endpoint.close();
      leg.reject(486, 'Busy Here (voicemail not available)');
      return;
    }
    const lc = new LocalCall(this, { id: call.info.id, caller: call.info.callerNumber, callerName: call.info.callerName, dialled: call.info.calledNumber, target: mailbox }, leg, side ?? new AnchoredSide(o.engine));
    this.#locals.set(lc, leg);
    this.#changed();
    this.log.info(`call ${call.info.callerNumber} -> ${mailbox}: to voicemail (${why})`, { callId: leg.callId, call: call.info.id });
    try {
      vm.deposit.accept(lc);
    } catch (e) {
      this.log.error(`voicemail failed to take a call: ${(e as Error).message}`, { callId: leg.callId });
      lc.reject(500, 'Server Internal Error');
    }
  }

  /** A call to a hunt group: its members ring by the group's rules; night service goes to its fallback. */
  #huntGroup(req: SipRequest, tx: InviteServerTransaction, from: Caller, dialled: string, group: string, causer: string | undefined, direction: 'internal' | 'incoming'): Ended | undefined {
    const o = this.#o;
    const r = o.huntGroups!.route(group, req.callId, (u) => this.#memberState(u));
    if ('kind' in r) {
      if (r.kind === 'number') return this.routeTo(req, tx, from, dialled, this.dial(r.number, causer, from.number), causer, undefined);
      if (r.kind === 'voicemail') return this.#features.voicemail(req, tx, from, dialled, 'deposit', r.mailbox);
      return void o.stack.respond(tx, o.stack.createResponse(req, 486, `Busy Here (${r.reason})`));
    }
    const call = this.#startCall(req, tx, from, dialled, { extension: group, busyTo: undefined, noAnswer: undefined, hunt: r as HuntDriver }, direction);
    if (!call) r.ended();
    return call;
  }

  #memberState(user: string): MemberState {
    const o = this.#o;
    const s = o.settings.get(user);
    return {
      registered: o.locate(user).length > 0,
      dnd: s?.doNotDisturb ?? false,
      forwardAll: s?.forwardAll !== undefined,
      onCall: this.#onCall(user),
      callWaiting: s?.callWaiting ?? true,
    };
  }

  /** True when the extension is a party of a call in progress (calling, being rung, or talking). */
  #onCall(extension: string): boolean {
    return this.#busyUsers().has(extension);
  }

  /**
   * Everyone on a call: parties, phones being rung, callers of conferences and voicemail. Built
   * once and kept until something changes (a phone rung, a call or local call begun or ended),
   * so a hunt over 100 members costs one pass over the calls, not one per member.
   */
  #busyUsers(): Set<string> {
    if (this.#busy) return this.#busy;
    const busy = new Set<string>();
    for (const c of this.#calls.values()) {
      for (const n of c.partyNumbers) busy.add(n);
      for (const n of c.ringingNumbers) busy.add(n);
    }
    for (const c of this.#locals.keys()) if (!c.ended) busy.add(c.info.caller);
    this.#busy = busy;
    return busy;
  }

  #busy: Set<string> | undefined;

  /** Something changed who is on a call. */
  #changed(): void {
    this.#busy = undefined;
  }


  /** Hands the caller to a feature that answers it itself (a conference, voicemail). */
  #local(req: SipRequest, tx: InviteServerTransaction, info: Omit<ConstructorParameters<typeof LocalCall>[1], 'id'>, service: LocalService): LocalCall | undefined {
    const o = this.#o;
    if (!o.engine) {
      o.stack.respond(tx, o.stack.createResponse(req, 503, 'Service Unavailable (no media engine)'));
      return;
    }
    if (!req.body.length || req.contentType !== 'application/sdp') {
      o.stack.respond(tx, o.stack.createResponse(req, 488, 'Not Acceptable Here (an SDP offer is required)'));
      return;
    }
    const leg = new InboundLeg(o.stack, req, tx, info.caller, this.log, this.#contact(tx.source.protocol), o.sessionTimer);
    let side: AnchoredSide;
    try {
      side = new AnchoredSide(o.engine);
    } catch (e) {
      leg.reject(503, 'Service Unavailable (no media port)', { 'retry-after': '5' });
      this.log.error(`no media port for a call: ${(e as Error).message}`, { callId: req.callId });
      return;
    }
    let call: LocalCall;
    try {
      call = new LocalCall(this, { ...info, id: `${Date.now().toString(36)}-${(++this.#seq).toString(36)}` }, leg, side);
    } catch (e) {
      side.endpoint.close();
      leg.reject(e instanceof SdpError ? e.status : 488, `Not Acceptable Here (${(e as Error).message})`);
      return;
    }
    this.registerLeg(leg);
    this.#locals.set(call, leg);
    this.#changed();
    const local = call;
    this.#watchRtp(side, () => local.answered, (why) => {
      this.log.info(`call ${info.caller} -> ${info.dialled} hung up: ${why}`, { callId: req.callId, call: local.info.id });
      local.hangup();
    });
    this.log.info(`call ${info.caller} -> ${info.dialled} (answered by the server: ${info.target})`, { callId: req.callId, call: call.info.id });
    try {
      service.accept(call);
    } catch (e) {
      this.log.error(`service failed to take a call: ${(e as Error).message}`, { callId: req.callId });
      call.reject(500, 'Server Internal Error');
    }
    return call;
  }

  localEnded(call: LocalCall): void {
    const leg = this.#locals.get(call);
    this.#locals.delete(call);
    this.#changed();
    if (leg) setTimeout(() => this.#unregister(leg), 32_000).unref();
    if (this.#o.users.has(call.info.caller)) this.#o.huntGroups?.memberIdle(call.info.caller);
  }

  /** A record for a call refused before it rang anywhere (busy, do not disturb). */
  #record(req: SipRequest, from: Caller, dialled: string, disposition: 'busy', cause: string, direction: CallRecord['direction']): void {
    const caller = from.number;
    const name = from.name;
    const now = new Date();
    try {
      this.#o.onRecord?.({
        id: `${Date.now().toString(36)}-${(++this.#seq).toString(36)}`, start: now, answer: undefined, end: now,
        callerNumber: caller, callerName: name, calledNumber: dialled, connectedNumber: undefined, direction,
        legs: [{ role: 'caller', sipCallId: req.callId, party: caller, codec: undefined, quality: undefined }],
        durationSec: 0, ringSec: 0, disposition, cause,
      });
    } catch (e) {
      this.log.error(`call record not written: ${(e as Error).message}`, { callId: req.callId });
    }
  }

  fork(call: Call, extension: string, offer: (side: AnchoredSide | undefined) => Body): Fork[] {
    this.#changed();
    const o = this.#o;
    const callee = o.users.get(extension)!;
    const forks: Fork[] = [];
    for (const b of o.locate(callee.extension)) {
      const target = registeredTarget(b, (id) => this.#o.stack.transports.hasFlow(id));
      if (!target) continue;
      const req = new SipRequest('INVITE', b.contact);
      const caller = call.info;
      if (caller.withheld) {
        // RFC 3323: an anonymous From, Privacy: id, and no asserted identity towards a phone
        req.set('from', `"Anonymous" <sip:anonymous@anonymous.invalid>;tag=${SipStack.tag()}`);
        req.set('privacy', 'id');
      } else {
        req.set('from', `${quoteName(caller.callerName)}<sip:${caller.callerNumber}@${o.domain}>;tag=${SipStack.tag()}`);
        req.set('p-asserted-identity', `${quoteName(caller.callerName)}<sip:${caller.callerNumber}@${o.domain}>`);
      }
      req.set('to', `<sip:${callee.extension}@${o.domain}>`);
      req.set('call-id', SipStack.callId());
      req.set('cseq', '1 INVITE');
      req.set('contact', this.#contact(target.protocol));
      req.set('allow', 'INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY');
      const mf = call.a.request.maxForwards;
      req.set('max-forwards', String(mf === undefined ? 70 : Math.max(0, Math.min(70, mf - 1))));
      if (b.path.length) req.set('route', b.path);
      let side: AnchoredSide | undefined;
      try {
        side = call.media?.newSide();
      } catch (e) {
        this.log.error(`no media port for a fork: ${(e as Error).message}`, { callId: call.a.callId });
        continue;
      }
      if (side) this.#watchRtp(side, () => call.answeredAt !== undefined, (why) => call.end(`callee: ${why}`));
      const body = offer(side);
      req.set('content-type', body.type);
      req.body = body.data;
      const leg = new OutboundLeg(o.stack, req, target, callee.extension, this.log);
      forks.push({ leg, side, contact: b.contact });
    }
    return forks;
  }

  async trunkFork(call: Call, route: Extract<NextRoute, { kind: 'trunk' }>, offer: (side: AnchoredSide | undefined) => Body): Promise<Fork | undefined> {
    const t = route.trunk;
    let target: Target;
    try {
      target = await t.target();
    } catch (e) {
      this.log.warn(`trunk ${t.name} cannot be reached: ${(e as Error).message}`, { callId: call.a.callId });
      return undefined;
    }
    if (call.ended) return undefined;
    const info = call.info;
    const req = trunkInvite({
      trunk: t, number: route.number, callerId: route.callerId, caller: { number: info.callerNumber, name: info.callerName, withheld: info.withheld },
      contact: this.#contact(target.protocol), maxForwards: call.a.request.maxForwards,
    });
    let side: AnchoredSide | undefined;
    try {
      side = call.media?.newSide();
    } catch (e) {
      this.log.error(`no media port for a trunk leg: ${(e as Error).message}`, { callId: call.a.callId });
      return undefined;
    }
    if (side) this.#watchRtp(side, () => call.answeredAt !== undefined, (why) => call.end(`trunk: ${why}`));
    const body = offer(side);
    req.set('content-type', body.type);
    req.body = body.data;
    const leg = new OutboundLeg(this.#o.stack, req, target, `trunk ${t.name}`, this.log);
    leg.auth = t.digest;
    this.log.info(`call out on trunk ${t.name} to ${route.number}`, { callId: call.a.callId, call: info.id, leg: req.callId });
    return { leg, side, contact: `trunk ${t.name}` };
  }

  watchRoutes(cb: () => void): () => void {
    const trunks = this.#o.trunks;
    if (!trunks) return () => undefined;
    trunks.on('channel-free', cb);
    return () => void trunks.off('channel-free', cb);
  }

  #contact(protocol: TransportProtocol): string {
    const l = this.#o.stack.local(protocol === 'wss' ? 'wss' : protocol);
    return `<sip:pbx@${l.address}:${l.port};transport=${protocol}>`;
  }

  readonly #callLegs = new Map<Call, Set<Leg>>();

  registerLeg(leg: Leg, call?: Call): void {
    const d = leg.dialog;
    if (call) {
      let set = this.#callLegs.get(call);
      if (!set) this.#callLegs.set(call, (set = new Set()));
      set.add(leg);
    }
    if (!d || this.#legKeys.has(leg)) return;
    const key = Dialog.key(d.callId, d.localTag, d.remoteTag);
    this.#legs.set(key, leg);
    this.#legKeys.set(leg, key);
  }

  #unregister(leg: Leg): void {
    const key = this.#legKeys.get(leg);
    if (key !== undefined) this.#legs.delete(key);
    this.#legKeys.delete(leg);
  }

  /** A request inside a call's dialog; false when it belongs to no leg we know (481). */
  onInDialog(req: SipRequest, tx: ServerTransaction): boolean {
    const leg = this.#legs.get(Dialog.key(req.callId, req.to.tag ?? '', req.from.tag ?? ''));
    if (!leg) return false;
    leg.handleRequest(req, tx);
    return true;
  }

  onAck(ack: SipRequest): void {
    this.#legs.get(Dialog.key(ack.callId, ack.to.tag ?? '', ack.from.tag ?? ''))?.handleAck(ack);
  }

  /** A 2xx retransmission after its transaction ended: ACK it again. */
  onStrayResponse(res: SipResponse): void {
    if (res.status < 200 || res.status >= 300 || res.cseq.method !== 'INVITE') return;
    this.#legs.get(Dialog.key(res.callId, res.from.tag ?? '', res.to.tag ?? ''))?.dialog?.retransmitAck(res);
  }

  ended(call: Call, record: CallRecord): void {
    this.#calls.delete(call.info.id);
    this.#changed();
    const hg = this.#o.huntGroups;
    if (hg) for (const u of call.partyNumbers) if (this.#o.users.has(u)) hg.memberIdle(u);
    // keep the dialogs reachable a little longer so late BYE/ACK retransmissions get answers
    // (not the legs that went on into a conference: they are the conference's now)
    const live = new Set(this.#locals.values());
    const legs = [call.a, ...(this.#callLegs.get(call) ?? [])].filter((l) => !live.has(l));
    this.#callLegs.delete(call);
    setTimeout(() => legs.forEach((l) => this.#unregister(l)), 32_000).unref();
    if (record.disposition === 'answered') this.stats.answered++;
    try {
      this.#o.onRecord?.(record);
    } catch (e) {
      this.log.error(`call record not written: ${(e as Error).message}`, { call: record.id });
    }
  }

  /** Ends every call (server shutdown). */
  close(): void {
    for (const c of [...this.#calls.values()]) c.end('server shutting down');
    for (const c of [...this.#locals.keys()]) c.hangup();
    this.#legs.clear();
    this.#legKeys.clear();
  }
}

/** A display name always quoted, as phones show it best, followed by the space before <URI>. */
function quoteName(name: string): string {
  return name ? `${quote(name)} ` : '';
}
