/**
 * The edge of the B2BUA: every new INVITE comes in here. Who calls (a trunk peer, or a user who
 * authenticates; everybody is challenged alike, so the answer never tells which users exist),
 * the admission (the node shutting down, its channels, the caller's calls at once), the decision
 * for what was dialled, and the one place a new call is refused.
 */
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/logger.js';
import type { SipRequest } from '../../sip/message/message.js';
import type { InviteServerTransaction, ServerTransaction } from '../../sip/transaction/server.js';
import { CONFERENCE_FACTORY, type AdHocConferences } from './adhoc.js';
import type { LocalCallInfo, LocalService } from './local.js';
import type { PhoneFeatures } from './phone-features.js';
import { recordRefused, type CallRecords } from './records.js';
import type { Destinations, RouteContext } from './routing.js';
import { parseFeatureCode } from './settings.js';
import { LINK_HEADER, linkCaller, MAX_LINK_HOPS, parseLinkRequest } from './link-messages.js';
import { incomingParty } from './trunk-messages.js';
import { refusal, type Caller, type CallLink, type CallsOptions, type CallTrunk, type Decision, type Ended } from './types.js';

/** Phones and trunks told to try again later while the node shuts down (seconds). */
export const RETRY_AFTER_SHUTDOWN = '30';
/** ... while another node serves the users (seconds): a phone tries its other registration meanwhile. */
export const RETRY_AFTER_NOT_SERVING = '5';

/** What the edge needs of the B2BUA. */
export interface EdgeHost {
  readonly options: CallsOptions;
  readonly log: Logger;
  readonly clock: Clock;
  readonly destinations: Destinations;
  readonly features: PhoneFeatures;
  readonly adHoc: AdHocConferences | undefined;
  readonly records: CallRecords;
  readonly stats: { attempts: number; refusedLimit: number; refusedDraining: number };
  /** The node is shutting down. */
  readonly draining: boolean;
  /** Calls in progress. */
  readonly active: number;
  /** Calls `party` is the caller of now (calls and calls the node answered), for the per-user limit. */
  callsOf(party: string): number;
  /** Something changed who is busy. */
  changed(): void;
  nextId(): string;
  startCall(req: SipRequest, tx: InviteServerTransaction, ctx: RouteContext, d: Extract<Decision, { kind: 'ring' }>): Ended | undefined;
  local(req: SipRequest, tx: InviteServerTransaction, info: Omit<LocalCallInfo, 'id'>, service: LocalService): Ended | undefined;
  /** A throw while handling `tx`: end the call it made, if any. */
  failed(tx: InviteServerTransaction, err: Error): void;
}

export class CallEdge {
  readonly #h: EdgeHost;

  constructor(host: EdgeHost) {
    this.#h = host;
  }

  onInvite(req: SipRequest, tx: InviteServerTransaction): void {
    try {
      this.#onInvite(req, tx);
    } catch (e) {
      // the error boundary: only the call this INVITE made ends; the dispatcher answers 500
      this.#h.failed(tx, e as Error);
      throw e;
    }
  }

  #onInvite(req: SipRequest, tx: InviteServerTransaction): void {
    const o = this.#h.options;
    // who is busy is looked at afresh for each new call (transfers move parties between calls)
    this.#h.changed();
    const link = o.solution?.linkOf(tx.source);
    if (link) return this.#fromLink(req, tx, link);
    const trunk = o.trunks?.identify(req, tx.source);
    if (trunk) return this.#fromTrunk(req, tx, trunk);
    const callerExt = req.from.uri.isSip ? req.from.uri.userDecoded ?? '' : '';
    // everybody is challenged alike, users or not: the answer must not tell which users exist
    const auth = o.auth.authenticate(req, tx.source, callerExt);
    if (!auth.ok) return o.stack.respond(tx, auth.response);
    const caller = o.users.get(callerExt);
    if (auth.user === callerExt && !caller && o.standby?.(callerExt)) {
      // a phone calling through its standby registration before this node serves its user
      return this.#refuse(tx, 503, 'Service Unavailable (this user is served by its home node)', { 'retry-after': RETRY_AFTER_NOT_SERVING });
    }
    if (auth.user !== callerExt || !caller) {
      this.#h.log.warn('security: INVITE refused: credentials do not match the caller', {
        callId: req.callId, source: `${tx.source.protocol}:${tx.source.address}:${tx.source.port}`, from: req.from.uri.toString(), user: auth.user,
      });
      return this.#refuse(tx, 403, 'Forbidden (credentials do not match the caller)');
    }
    if (!this.#admit(req, tx, callerExt)) return;
    let dialled = req.uri.isSip ? req.uri.userDecoded ?? '' : '';
    let withheld = o.settings.get(callerExt)?.withholdCallerId ?? false;
    const ctx = (): RouteContext => ({ from: { number: callerExt, name: caller.name, withheld }, dialled, causer: callerExt, callId: req.callId });
    if (dialled === (o.voicemailCode ?? '*17')) {
      return void this.#act(req, tx, ctx(), this.#h.features.voicemail(ctx(), 'collect', o.services?.voicemail?.has(callerExt) ? callerExt : ''));
    }
    const code = parseFeatureCode(dialled);
    if (code?.kind === 'set') return void this.#act(req, tx, ctx(), this.#h.features.featureCode(ctx(), callerExt, code));
    if (code?.kind === 'conference' || dialled === CONFERENCE_FACTORY) {
      const d = !this.#h.adHoc || !o.engine ? refusal(480, 'Temporarily Unavailable (conferencing is not available on this node)')
        : code?.kind === 'conference' ? this.#h.adHoc.merge(callerExt, caller.name) : this.#h.adHoc.focus(callerExt, caller.name, tx.source.protocol);
      return void this.#act(req, tx, ctx(), d);
    }
    if (code?.kind === 'withheld-call') {
      dialled = code.number;
      withheld = true;
    } else if (dialled.startsWith('*') && !o.router) {
      return this.#refuse(tx, 404, `Not Found (unknown feature code ${dialled})`);
    }
    const c = ctx();
    this.#act(req, tx, c, this.#h.destinations.decide(c, this.#h.destinations.dial(dialled, callerExt, callerExt)));
  }

  /** An INVITE from a trunk peer: the incoming call routes decide where it goes. */
  #fromTrunk(req: SipRequest, tx: InviteServerTransaction, trunk: CallTrunk): void {
    const o = this.#h.options;
    if (!this.#admit(req, tx)) return;
    const { number, callerId, withheld, name } = incomingParty(req, trunk);
    if (!trunk.acquire('in')) return this.#refuse(tx, 503, `Service Unavailable (${trunk.busyReason?.() ?? `all channels of trunk ${trunk.name} in use`})`, { 'retry-after': '5' });
    const from: Caller = { number: callerId ?? 'anonymous', name, withheld, trunk };
    let made: Ended | undefined;
    try {
      const d = o.router?.incoming({ lineGroup: trunk.lineGroup, number, callerId, withheld, at: new Date(this.#h.clock.now()) });
      if (!d) return this.#refuse(tx, 404, 'Not Found (no dial plan)');
      if (d.destination === undefined) {
        this.#h.log.info(`incoming call on trunk ${trunk.name} to ${number}: no incoming call route`, { callId: req.callId });
        return this.#refuse(tx, 404, `Not Found (no route for ${number})`);
      }
      this.#h.log.info(`incoming call on trunk ${trunk.name}: ${from.number} -> ${number} routed to ${d.destination}`, { callId: req.callId });
      // the line's rights route and bar it: a caller from outside is never "the system"
      const line = { name: trunk.name, rights: trunk.config.rights };
      const ctx: RouteContext = { from, dialled: number, causer: undefined, line, fallback: d.fallback, callId: req.callId };
      made = this.#act(req, tx, ctx, this.#h.destinations.decide(ctx, this.#h.destinations.dial(d.destination, undefined, from.number, line)));
    } finally {
      // the trunk channel is held for the call's life; a call refused at once gives it back now
      if (made) made.onEnd(() => trunk.release());
      else trunk.release();
    }
  }

  /**
   * An INVITE from another node of the solution over its link: the link's credentials, then what
   * the call asks of this node (link-messages.ts), for the caller as that node presents them.
   */
  #fromLink(req: SipRequest, tx: InviteServerTransaction, link: CallLink): void {
    const refused = link.authenticate(req, tx.source);
    if (refused) return this.#h.options.stack.respond(tx, refused);
    const asked = parseLinkRequest(req);
    if (!asked) return this.#refuse(tx, 400, `Bad Request (no valid ${LINK_HEADER} from node ${link.peer})`);
    const { request, number } = asked;
    if (request.hops >= MAX_LINK_HOPS) return this.#refuse(tx, 482, `Loop Detected (the call crossed ${request.hops + 1} node links)`);
    if (!this.#admit(req, tx)) return;
    const caller = linkCaller(req);
    const from: Caller = { ...caller, link: { node: link.peer, origin: request.origin, hops: request.hops } };
    const ctx: RouteContext = { from, dialled: number, causer: undefined, callId: req.callId };
    this.#h.log.info(`call from node ${link.peer}: ${caller.number} -> ${number || '(none)'} (${request.service.kind})`, { callId: req.callId });
    this.#act(req, tx, ctx, this.#h.destinations.linked(ctx, number, request.service));
  }

  /** Acts on a decision: the one place a new call is refused, answered by a service, or rung. */
  #act(req: SipRequest, tx: InviteServerTransaction, ctx: RouteContext, d: Decision): Ended | undefined {
    switch (d.kind) {
      case 'refuse':
        this.#refuse(tx, d.status, d.reason, d.headers);
        if (d.record) this.#h.records.write(recordRefused(req, ctx, this.#h.nextId(), d.record, String(d.status), this.#h.clock));
        return undefined;
      case 'local':
        return this.#h.local(req, tx, d.info, d.service);
      case 'ring':
        return this.#h.startCall(req, tx, ctx, d);
    }
  }

  #refuse(tx: ServerTransaction, status: number, reason: string, headers?: Record<string, string>): void {
    this.#h.options.stack.refuse(tx, status, reason, headers);
  }

  /**
   * The admission of a new call, counted as an attempt: refused with 503 and Retry-After while
   * the node shuts down or when its channels are all in use; a user's call with 403 when the
   * user has as many calls as its limit allows (calls.maxCallsPerUser, user rights' maxCalls).
   */
  #admit(req: SipRequest, tx: InviteServerTransaction, user?: string): boolean {
    const o = this.#h.options;
    this.#h.stats.attempts++;
    this.#h.records.attempt();
    if (this.#h.draining) {
      this.#h.stats.refusedDraining++;
      this.#refuse(tx, 503, 'Service Unavailable (node shutting down)', { 'retry-after': RETRY_AFTER_SHUTDOWN });
      return false;
    }
    if (o.serving && !o.serving()) {
      this.#h.log.info('call refused: the backup node serves this node\'s users now', { callId: req.callId });
      this.#refuse(tx, 503, 'Service Unavailable (this node\'s users are served by its backup node now)', { 'retry-after': RETRY_AFTER_NOT_SERVING });
      return false;
    }
    if (this.#h.active >= o.maxCalls) {
      this.#h.stats.refusedLimit++;
      this.#h.log.warn('call refused: node channel limit reached', { callId: req.callId, limit: o.maxCalls });
      this.#refuse(tx, 503, `Service Unavailable (all ${o.maxCalls} channels of this node in use)`, { 'retry-after': '5' });
      return false;
    }
    // one account must not hold every channel (calls it made and calls the node answered for it)
    const limited = user === undefined ? undefined : o.callLimits?.refusal(user, this.#h.callsOf(user));
    if (limited === undefined) return true;
    this.#refuse(tx, 403, limited);
    return false;
  }
}
