import type { Logger } from '../../core/logger.js';
import type { Authenticator } from '../../core/security/authenticator.js';
import type { MediaEngine, PlayerSource } from '../../media/index.js';
import { Dialog } from '../../sip/dialog/dialog.js';
import { SipRequest, type SipResponse } from '../../sip/message/message.js';
import { uriTarget } from '../../sip/routing.js';
import { parseUri } from '../../sip/message/uri.js';
import { quote } from '../../sip/message/grammar.js';
import { SipStack } from '../../sip/stack.js';
import type { InviteServerTransaction, ServerTransaction } from '../../sip/transaction/server.js';
import type { Target, TransportProtocol } from '../../sip/transport/types.js';
import type { CallRecord } from '../../core/call-record.js';
import { Call, type CallHost, type Fork, type RingPlan } from './call.js';
import { parseFeatureCode, type FeatureCode, type SettingsStore } from './settings.js';
import { AnchoredSide } from './media.js';
import { InboundLeg, OutboundLeg, type Body, type Leg } from './leg.js';
import { AnchoredMedia } from './media.js';

/** A registered phone of an extension, as the location service gives it (registrar bindings fit). */
export interface RegisteredContact {
  contact: string;
  path: string[];
  source: { protocol: string; address: string; port: number; flowId?: string };
}

export interface CallUser {
  extension: string;
  name: string;
  /** 'direct': SDP end to end when both parties allow it; 'anchored' (default): through the engine. */
  media: 'anchored' | 'direct';
}

export interface CallsOptions {
  stack: SipStack;
  engine: MediaEngine | undefined;
  auth: Authenticator;
  logger: Logger;
  domain: string;
  users: Map<string, CallUser>;
  /** Current contacts of an extension (the location service). */
  locate: (extension: string) => RegisteredContact[];
  /** Phone features per user (forwarding, do not disturb, call waiting, caller ID). */
  settings: SettingsStore;
  /** Relayed-call channels of the node (its profile); the next call gets 503. */
  maxCalls: number;
  /** Give up ringing after this long (480). */
  ringTimeoutMs: number;
  musicOnHold: PlayerSource;
  /** Where finished calls go (call records). */
  onRecord?: (r: CallRecord) => void;
}

/**
 * The B2BUA for calls between extensions: authenticates callers, enforces the node's channel
 * limit, finds the callee's contacts and runs a Call for each INVITE, and routes in-dialog
 * requests to the leg whose dialog they belong to.
 */
export class Calls implements CallHost {
  readonly log: Logger;
  readonly ringTimeoutMs: number;
  readonly #o: CallsOptions;
  readonly #calls = new Map<string, Call>();
  readonly #legs = new Map<string, Leg>();
  readonly #legKeys = new Map<Leg, string>();
  #attempts: number[] = [];
  #seq = 0;
  readonly stats = { attempts: 0, answered: 0, refusedLimit: 0 };

  constructor(opts: CallsOptions) {
    this.#o = opts;
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
    const stack = o.stack;
    const callerExt = req.from.uri.isSip ? req.from.uri.userDecoded ?? '' : '';
    const caller = o.users.get(callerExt);
    if (!caller) {
      stack.respond(tx, stack.createResponse(req, 403, 'Forbidden (caller is not a user of this PBX)'));
      return;
    }
    const auth = o.auth.authenticate(req, tx.source, callerExt);
    if (!auth.ok) {
      stack.respond(tx, auth.response);
      return;
    }
    if (auth.user !== callerExt) {
      stack.respond(tx, stack.createResponse(req, 403, 'Forbidden (credentials do not match the caller)'));
      return;
    }
    this.stats.attempts++;
    this.#attempts.push(Date.now());
    if (this.#calls.size >= o.maxCalls) {
      this.stats.refusedLimit++;
      this.log.warn('call refused: node channel limit reached', { callId: req.callId, limit: o.maxCalls });
      const res = stack.createResponse(req, 503, `Service Unavailable (all ${o.maxCalls} channels of this node in use)`);
      res.set('retry-after', '5');
      stack.respond(tx, res);
      return;
    }
    let dialled = req.uri.isSip ? req.uri.userDecoded ?? '' : '';
    let withheld = o.settings.get(callerExt)?.withholdCallerId ?? false;
    const code = parseFeatureCode(dialled);
    if (code?.kind === 'set') return this.#featureCode(req, tx, callerExt, code);
    if (code?.kind === 'withheld-call') {
      dialled = code.number;
      withheld = true;
    } else if (dialled.startsWith('*')) {
      stack.respond(tx, stack.createResponse(req, 404, `Not Found (unknown feature code ${dialled})`));
      return;
    }
    const plan = this.#plan(callerExt, dialled);
    if ('status' in plan) {
      stack.respond(tx, stack.createResponse(req, plan.status, plan.reason));
      if (plan.status === 486) this.#record(req, callerExt, caller.name, dialled, 'busy', '486');
      return;
    }
    const callee = o.users.get(plan.extension)!;
    if (!req.body.length || req.contentType !== 'application/sdp') {
      stack.respond(tx, stack.createResponse(req, 488, 'Not Acceptable Here (an SDP offer is required)'));
      return;
    }
    const log = this.log;
    const a = new InboundLeg(stack, req, tx, callerExt, log, this.#contact(tx.source.protocol));
    this.registerLeg(a);
    const anchored = o.engine !== undefined && !(caller.media === 'direct' && callee.media === 'direct');
    let media: AnchoredMedia | undefined;
    if (anchored) {
      try {
        media = new AnchoredMedia(o.engine!, o.musicOnHold);
      } catch (e) {
        log.error(`no media port for a call: ${(e as Error).message}`, { callId: req.callId });
        a.reject(503, 'Service Unavailable (no media port)', { 'retry-after': '5' });
        this.#unregister(a);
        return;
      }
    }
    const id = `${Date.now().toString(36)}-${(++this.#seq).toString(36)}`;
    const call = new Call(this, { id, callerNumber: callerExt, callerName: caller.name, calledNumber: dialled, direction: 'internal', withheld }, a, media, plan);
    this.#calls.set(id, call);
    this.registerLeg(a, call);
    log.info(`call ${callerExt} -> ${dialled}${plan.extension !== dialled ? ` (forwarded to ${plan.extension})` : ''}`, { callId: req.callId, call: id, media: anchored ? 'anchored' : 'direct' });
    call.begin();
  }

  /**
   * Where a call to `dialled` rings (RFC-free PBX semantics): forward-all is followed (up to 5
   * hops, never back to the caller); a callee in do not disturb, or on a call without call
   * waiting, is busy: forward-on-busy if set, else 486.
   */
  #plan(caller: string, dialled: string): RingPlan | { status: number; reason: string } {
    const o = this.#o;
    if (!o.users.has(dialled)) return { status: 404, reason: `Not Found (${dialled || 'no number'} is not an extension)` };
    let target = dialled;
    for (let hops = 0; hops < 5; hops++) {
      const next = o.settings.get(target)?.forwardAll;
      if (next === undefined || next === caller || next === target) break;
      if (!o.users.has(next)) return { status: 404, reason: `Not Found (${target} forwards to ${next}, which is not an extension; calls outside need the dial plan)` };
      target = next;
    }
    const s = o.settings.get(target)!;
    const busy = s.doNotDisturb || (!s.callWaiting && this.#onCall(target));
    const fwd = (to: string | undefined) => (to !== undefined && to !== caller && to !== target && o.users.has(to) ? to : undefined);
    if (busy) {
      const to = fwd(s.forwardBusy);
      if (to === undefined) return { status: 486, reason: s.doNotDisturb ? 'Busy Here (do not disturb)' : 'Busy Here' };
      return { extension: to, busyTo: undefined, noAnswer: undefined };
    }
    const na = fwd(s.forwardNoAnswer);
    return { extension: target, busyTo: fwd(s.forwardBusy), noAnswer: na ? { ms: s.noAnswerSeconds * 1000, to: na } : undefined };
  }

  /** True when the extension is a party of a call in progress (calling, or talking). */
  #onCall(extension: string): boolean {
    for (const c of this.#calls.values()) if (c.partyNumbers.includes(extension)) return true;
    return false;
  }

  /** A feature code: change the setting, confirm with two beeps, hang up. */
  #featureCode(req: SipRequest, tx: InviteServerTransaction, user: string, code: Extract<FeatureCode, { kind: 'set' }>): void {
    const o = this.#o;
    const stack = o.stack;
    if (code.target !== undefined && !o.users.has(code.target)) {
      stack.respond(tx, stack.createResponse(req, 404, `Not Found (${code.target} is not an extension; forwarding outside needs the dial plan)`));
      return;
    }
    o.settings.update(user, code.patch);
    this.log.info(`phone feature changed by ${user}: ${JSON.stringify(code.patch, (_k, v) => (v === undefined ? null : v))}`, { callId: req.callId });
    if (!o.engine) {
      stack.respond(tx, stack.createResponse(req, 480, 'Temporarily Unavailable (feature set; no media to confirm it)'));
      return;
    }
    const a = new InboundLeg(stack, req, tx, user, this.log, this.#contact(tx.source.protocol));
    let side: AnchoredSide;
    try {
      side = new AnchoredSide(o.engine);
    } catch {
      a.reject(480, 'Temporarily Unavailable (feature set; no media port to confirm it)');
      return;
    }
    try {
      a.answer(side.acceptOffer(req.body));
    } catch {
      side.endpoint.close();
      a.reject(488);
      return;
    }
    this.registerLeg(a);
    const done = () => {
      if (!side.endpoint.closed) side.endpoint.close();
      a.hangup();
      setTimeout(() => this.#unregister(a), 32_000).unref();
    };
    a.on('bye', done);
    const player = side.endpoint.play({ tones: [{ freqs: [1400], ms: 150 }, { freqs: [], ms: 100 }, { freqs: [1400], ms: 150 }, { freqs: [], ms: 300 }] });
    player.on('end', done);
  }

  /** A record for a call refused before it rang anywhere (busy, do not disturb). */
  #record(req: SipRequest, caller: string, name: string, dialled: string, disposition: 'busy', cause: string): void {
    const now = new Date();
    try {
      this.#o.onRecord?.({
        id: `${Date.now().toString(36)}-${(++this.#seq).toString(36)}`, start: now, answer: undefined, end: now,
        callerNumber: caller, callerName: name, calledNumber: dialled, connectedNumber: undefined, direction: 'internal',
        legs: [{ role: 'caller', sipCallId: req.callId, party: caller, codec: undefined, quality: undefined }],
        durationSec: 0, ringSec: 0, disposition, cause,
      });
    } catch (e) {
      this.log.error(`call record not written: ${(e as Error).message}`, { callId: req.callId });
    }
  }

  fork(call: Call, extension: string, offer: (side: AnchoredSide | undefined) => Body): Fork[] {
    const o = this.#o;
    const callee = o.users.get(extension)!;
    const forks: Fork[] = [];
    for (const b of o.locate(callee.extension)) {
      const target = this.#bindingTarget(b);
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
      const body = offer(side);
      req.set('content-type', body.type);
      req.body = body.data;
      const leg = new OutboundLeg(o.stack, req, target, callee.extension, this.log);
      forks.push({ leg, side, contact: b.contact });
    }
    return forks;
  }

  /** Where to send to a registered contact: its flow, its Path, or where its REGISTER came from. */
  #bindingTarget(b: RegisteredContact): Target | undefined {
    const src = b.source;
    const protocol = src.protocol as TransportProtocol;
    if (src.flowId !== undefined) {
      if (this.#o.stack.transports.hasFlow(src.flowId)) return { protocol, address: src.address, port: src.port, flowId: src.flowId };
      if (protocol === 'ws' || protocol === 'wss') return undefined; // a browser's flow is gone
    }
    if (b.path.length) {
      try {
        return uriTarget(parseRouteUri(b.path[0]));
      } catch {
        return undefined;
      }
    }
    // UDP: symmetric response routing (RFC 3581), the address the phone registered from;
    // TCP/TLS without a live connection: connect to the contact itself.
    if (protocol === 'udp') return { protocol, address: src.address, port: src.port };
    try {
      return uriTarget(parseUri(b.contact));
    } catch {
      return undefined;
    }
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
    // keep the dialogs reachable a little longer so late BYE/ACK retransmissions get answers
    const legs = [call.a, ...(this.#callLegs.get(call) ?? [])];
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
    this.#legs.clear();
    this.#legKeys.clear();
  }
}

/** A display name always quoted, as phones show it best, followed by the space before <URI>. */
function quoteName(name: string): string {
  return name ? `${quote(name)} ` : '';
}

function parseRouteUri(route: string) {
  const m = /<([^>]+)>/.exec(route);
  return parseUri(m ? m[1] : route);
}
