/**
 * The B2BUA: the edge where INVITEs come in (who calls, admission, the decision, and the one
 * place a new call is refused), the calls and local calls it runs, the dialogs it holds, and a
 * graceful end: new calls refused with 503 and Retry-After, calls ended with BYEs that are
 * awaited for a bounded time.
 */
import { systemClock, type Clock } from '../../core/clock.js';
import type { CallRecord } from '../../core/call-record.js';
import type { Logger } from '../../core/logger.js';
import type { SessionTimerPolicy } from '../../sip/dialog/session-timer.js';
import type { SipRequest, SipResponse } from '../../sip/message/message.js';
import type { InviteServerTransaction, ServerTransaction } from '../../sip/transaction/server.js';
import { AdHocConferences } from './adhoc.js';
import { CallEdge, RETRY_AFTER_SHUTDOWN } from './edge.js';
import { Call, type CallHost } from './call.js';
import { ForkFactory } from './forks.js';
import { InboundLeg, type Leg } from './leg.js';
import { LegRegistry } from './legs.js';
import { LocalCall, type LocalCallHost, type LocalCallInfo, type LocalService } from './local.js';
import { AnchoredMedia, AnchoredSide } from './media.js';
import { PhoneFeatures } from './phone-features.js';
import { Destinations, type RouteContext } from './routing.js';
import { CallRecords } from './records.js';
import type { Party } from './session.js';
import { CallTimers } from './timers.js';
import type { TransferCall, TransferHost, TransferRoute } from './transfer.js';
import type { CallsOptions, Decision, MemberState } from './types.js';
import { describeCall, describeLocal, type CallSnapshot } from './snapshot.js';

export type { CallSnapshot, CallPartySnapshot } from './snapshot.js';
export type { CallHuntGroups, CallsOptions, CallTrunk, CallTrunks, CallUser, CallVoicemail, MemberState, RegisteredContact } from './types.js';

export class Calls implements CallHost, TransferHost, LocalCallHost {
  readonly log: Logger;
  readonly clock: Clock;
  readonly ringTimeoutMs: number;
  readonly forks: ForkFactory;
  readonly #o: CallsOptions;
  readonly #calls = new Map<string, Call>();
  readonly #locals = new Map<LocalCall, Leg>();
  readonly #timers: CallTimers;
  readonly #legs: LegRegistry<Call | LocalCall>;
  readonly #adHoc: AdHocConferences | undefined;
  readonly #features: PhoneFeatures;
  readonly #destinations: Destinations;
  readonly #records: CallRecords;
  readonly #edge: CallEdge;
  #busy: Set<string> | undefined;
  #seq = 0;
  #draining = false;
  #closing: Promise<void> | undefined;
  readonly stats = { attempts: 0, answered: 0, refusedLimit: 0, refusedDraining: 0 };

  constructor(opts: CallsOptions) {
    this.#o = opts;
    this.log = opts.logger;
    this.clock = opts.clock ?? systemClock;
    this.ringTimeoutMs = opts.ringTimeoutMs;
    this.#timers = new CallTimers(this.clock);
    this.#legs = new LegRegistry(this.#timers);
    this.#records = new CallRecords(this.clock, opts.onRecord, opts.logger);
    this.forks = new ForkFactory({
      stack: opts.stack, logger: opts.logger, domain: opts.domain, users: opts.users, locate: opts.locate, trunks: opts.trunks, solution: opts.solution, onRing: () => this.#changed(),
    });
    const self = this;
    this.#features = new PhoneFeatures({
      log: opts.logger, options: opts, decide: (ctx, d) => this.#destinations.decide(ctx, d), dial: (n, c, cn) => this.#destinations.dial(n, c, cn),
      remote: (ctx, node, n, service) => this.#destinations.remote(ctx, node, n, service),
    });
    this.#destinations = new Destinations({
      log: opts.logger, options: opts,
      onCall: (u) => this.#busyUsers().has(u),
      memberState: (u) => this.#memberState(u),
      feature: (ctx, f, n) => this.#features.feature(ctx, f, n),
      voicemail: (ctx, what, mailbox) => this.#features.voicemail(ctx, what, mailbox),
    });
    this.#adHoc = opts.adHoc ? new AdHocConferences({
      log: opts.logger,
      answeredCallsOf: (u) => this.answeredCallsOf(u),
      legOf: (lc) => this.#locals.get(lc),
      findLeg: (key) => self.findLeg(key),
      takePeer: (call, leg, why) => {
        const lc = this.#takePeer(call as Call, leg);
        if (lc) (call as Call).end(why);
        return lc;
      },
      local: (p) => this.#o.stack.local(p === 'wss' ? 'wss' : p),
    }, opts.adHoc) : undefined;
    this.#edge = new CallEdge({
      options: opts, log: opts.logger, clock: this.clock, destinations: this.#destinations, features: this.#features, adHoc: this.#adHoc,
      records: this.#records, stats: this.stats,
      get draining() {
        return self.#draining;
      },
      get active() {
        return self.#calls.size;
      },
      callsOf: (party) => this.callsOf(party),
      changed: () => this.#changed(),
      nextId: () => this.#nextId(),
      startCall: (req, tx, ctx, d) => this.#startCall(req, tx, ctx, d),
      local: (req, tx, info, service) => this.#local(req, tx, info, service),
      failed: (tx, e) => {
        for (const c of this.#calls.values()) if (c.a.tx === tx) c.end(`internal error: ${e.message}`);
      },
    });
  }

  get transfers(): TransferHost {
    return this;
  }

  /** The options the node gave. */
  get options(): CallsOptions {
    return this.#o;
  }

  /** Read for each new call: a reconfiguration changes it for the calls that follow. */
  get rtpTimeoutMs(): number {
    return this.#o.rtpTimeoutMs ?? 0;
  }

  /** Calls `party` is the caller of now (calls, and calls the node answered), for the per-user limit. */
  callsOf(party: string): number {
    let n = 0;
    for (const c of this.#calls.values()) if (!c.over && c.a.party === party) n++;
    for (const [c, leg] of this.#locals) if (!c.ended && leg.party === party) n++;
    return n;
  }

  /**
   * The calls up now, each as the record it would get if it ended at `at` with cause "node
   * stopped" (the call journal: a node killed with calls up records them at its next start).
   */
  live(at: Date): CallRecord[] {
    const out: CallRecord[] = [];
    for (const c of this.#calls.values()) if (!c.over) out.push(c.recordAt(at, 'node stopped'));
    return out;
  }

  get active(): number {
    return this.#calls.size;
  }

  /** Call attempts in the last hour (busy-hour call attempts, BHCA). */
  get attemptsLastHour(): number {
    return this.#records.attemptsLastHour;
  }

  isExtension(number: string): boolean {
    return this.#o.users.has(number);
  }

  /** A user's phone features as they are now (configured, then changed from the phone). */
  settingsOf(extension: string) {
    return this.#o.settings.get(extension);
  }

  /** The calls in progress, with each party's codec and RTCP quality (the admin API's live calls). */
  list(): CallSnapshot[] {
    return [...[...this.#calls.values()].map(describeCall), ...[...this.#locals.keys()].map(describeLocal)];
  }

  /** The SIP dialogs (Call-ID and tags, ours first) of a party's live legs: what its phone would name in Replaces. */
  dialogsOf(party: string): { callId: string; localTag: string; remoteTag: string }[] {
    return this.#legs.dialogsOf(party);
  }

  /** A user's answered calls with anchored media (what *47 merges). */
  answeredCallsOf(user: string): Call[] {
    return [...this.#calls.values()].filter((c) => !c.over && c.media && c.parties.length === 2 && c.parties.some((p) => p.leg.party === user && p.side));
  }

  /** A new INVITE (the edge decides what becomes of it). */
  onInvite(req: SipRequest, tx: InviteServerTransaction): void {
    this.#edge.onInvite(req, tx);
  }

  /** Creates the caller's leg, the media and the Call, and starts ringing. */
  #startCall(req: SipRequest, tx: InviteServerTransaction, ctx: RouteContext, d: Extract<Decision, { kind: 'ring' }>): Call | undefined {
    const o = this.#o;
    const from = ctx.from;
    const a = new InboundLeg(o.stack, req, tx, from.trunk ? `trunk ${from.trunk.name}` : from.number, this.log, this.forks.contact(tx.source.protocol), this.#sessionTimer());
    const direct = o.users.get(from.number)?.media === 'direct' && d.media === 'direct';
    let media: AnchoredMedia | undefined;
    if (o.engine && !direct) {
      try {
        media = new AnchoredMedia(o.engine, o.musicOnHold);
      } catch (e) {
        this.log.error(`no media port for a call: ${(e as Error).message}`, { callId: req.callId });
        d.strategy.stop();
        a.reject(503, 'Service Unavailable (no media port)', { 'retry-after': '5' });
        return undefined;
      }
    }
    const id = this.#nextId();
    const call = new Call(this, { id, callerNumber: from.number, callerName: from.name, calledNumber: ctx.dialled, direction: d.direction, withheld: from.withheld || d.withheld === true }, a, media, d.strategy);
    this.#calls.set(id, call);
    this.#changed();
    this.registerLeg(a, call);
    const to = d.strategy.target;
    this.log.info(`call ${from.number} -> ${ctx.dialled}${d.direction === 'outgoing' || (d.direction === 'incoming' && !o.users.has(to) && !o.huntGroups?.isGroup(to)) ? ' (out through trunks)' : to !== ctx.dialled ? ` (to ${to})` : ''}`, { callId: req.callId, call: id, media: media ? 'anchored' : 'direct' });
    call.begin();
    return call;
  }

  /** Hands the caller to a service of ours that answers it (a conference, voicemail). */
  #local(req: SipRequest, tx: InviteServerTransaction, info: Omit<LocalCallInfo, 'id'>, service: LocalService): LocalCall | undefined {
    const o = this.#o;
    if (!o.engine) return void o.stack.refuse(tx, 503, 'Service Unavailable (no media engine)');
    const leg = new InboundLeg(o.stack, req, tx, info.caller, this.log, this.forks.contact(tx.source.protocol), this.#sessionTimer());
    let side: AnchoredSide;
    try {
      side = new AnchoredSide(o.engine);
    } catch (e) {
      leg.reject(503, 'Service Unavailable (no media port)', { 'retry-after': '5' });
      this.log.error(`no media port for a call: ${(e as Error).message}`, { callId: req.callId });
      return undefined;
    }
    let call: LocalCall;
    try {
      call = new LocalCall(this, { ...info, id: this.#nextId() }, leg, side);
    } catch (e) {
      side.endpoint.close();
      leg.reject(488, `Not Acceptable Here (${(e as Error).message})`);
      return undefined;
    }
    this.#adoptLocal(call, leg);
    this.log.info(`call ${info.caller} -> ${info.dialled} (answered by the server: ${info.target})`, { callId: req.callId, call: call.info.id });
    try {
      service.accept(call);
    } catch (e) {
      this.log.error(`service failed to take a call: ${(e as Error).message}`, { callId: req.callId });
      call.reject(500, 'Server Internal Error');
    }
    return call;
  }

  /** RFC 4028 on the caller's dialog: the policy in force for this new call, on the B2BUA's clock. */
  #sessionTimer(): { policy: SessionTimerPolicy; clock: Clock } | undefined {
    const policy = this.#o.sessionTimer;
    return policy ? { policy, clock: this.clock } : undefined;
  }

  #adoptLocal(call: LocalCall, leg: Leg): void {
    this.#legs.register(leg, call);
    this.#locals.set(call, leg);
    this.#changed();
  }

  #nextId(): string {
    return `${this.clock.now().toString(36)}-${(++this.#seq).toString(36)}`;
  }

  // What calls, transfers and local calls need of the B2BUA.

  registerLeg(leg: Leg, call: Call): void {
    this.#legs.register(leg, call);
  }

  /** A ringing caller goes on to voicemail (no answer, busy, no phone) with its leg and media. */
  divert(call: Call, leg: InboundLeg, side: AnchoredSide | undefined, mailbox: string, why: string): void {
    const vm = this.#o.services?.voicemail;
    const engine = this.#o.engine;
    if (!vm || !engine || !vm.available) {
      this.log.warn(`voicemail for ${mailbox} not available (${why}): caller gets busy`, { callId: leg.callId });
      side?.endpoint.close();
      return leg.reject(486, 'Busy Here (voicemail not available)');
    }
    const lc = new LocalCall(this, { id: call.info.id, caller: call.info.callerNumber, callerName: call.info.callerName, dialled: call.info.calledNumber, target: mailbox }, leg, side ?? new AnchoredSide(engine));
    this.#adoptLocal(lc, leg);
    this.log.info(`call ${call.info.callerNumber} -> ${mailbox}: to voicemail (${why})`, { callId: leg.callId, call: call.info.id });
    try {
      vm.deposit.accept(lc);
    } catch (e) {
      this.log.error(`voicemail failed to take a call: ${(e as Error).message}`, { callId: leg.callId });
      lc.reject(500, 'Server Internal Error');
    }
  }

  routeTransfer(number: string, transferor: string, transferee: string): TransferRoute {
    return this.#destinations.transfer(number, transferor, transferee);
  }

  findLeg(key: string): { call: Call; leg: Leg } | undefined {
    const e = this.#legs.get(key);
    return e && e.owner instanceof Call ? { call: e.owner, leg: e.leg } : undefined;
  }

  moveLeg(leg: Leg, _from: TransferCall, to: TransferCall): void {
    this.#legs.register(leg, to as Call);
  }

  toVoicemail(call: TransferCall, party: Party, mailbox: string, why: string): boolean {
    const vm = this.#o.services?.voicemail;
    if (!vm?.available || !vm.has(mailbox)) return false;
    const other = call.parties.find((p) => p !== party);
    const lc = other && this.#takePeer(call as Call, other.leg, mailbox);
    if (!lc) return false;
    this.log.info(`${party.leg.party} -> ${mailbox}: to voicemail (${why})`, { call: call.info.id });
    try {
      vm.deposit.accept(lc);
    } catch (e) {
      this.log.error(`voicemail failed to take a call: ${(e as Error).message}`, { call: call.info.id });
      lc.hangup();
    }
    return true;
  }

  /** The party opposite `userLeg` leaves `call` with its leg and media, as a LocalCall (for `target`). */
  #takePeer(call: Call, userLeg: Leg, target = ''): LocalCall | undefined {
    const peer = call.releasePeerOf(userLeg);
    if (!peer?.side) return undefined;
    const lc = new LocalCall(this, { id: call.info.id, caller: peer.leg.party, callerName: '', dialled: '', target }, peer.leg, peer.side);
    this.#adoptLocal(lc, peer.leg);
    return lc;
  }

  localEnded(call: LocalCall): void {
    const leg = this.#locals.get(call);
    this.#locals.delete(call);
    this.#changed();
    if (leg) this.#legs.linger(leg, call);
    if (this.#o.users.has(call.info.caller)) this.#o.huntGroups?.memberIdle(call.info.caller);
  }

  ended(call: Call, record: CallRecord): void {
    this.#calls.delete(call.info.id);
    this.#changed();
    const hg = this.#o.huntGroups;
    // members on other nodes too: their phones were rung over a link (the party is the member)
    if (hg) for (const u of call.partyNumbers) if (this.#o.users.has(u) || this.#o.solution?.servedElsewhere(u) !== undefined) hg.memberIdle(u);
    // late BYE/ACK retransmissions still find the dialogs (not the legs that went elsewhere)
    for (const leg of this.#legs.legsOf(call)) this.#legs.linger(leg, call);
    if (record.disposition === 'answered') this.stats.answered++;
    this.#records.write(record);
  }

  // Who is busy: what hunt groups and call waiting look at.

  #memberState(user: string): MemberState {
    const o = this.#o;
    const s = o.settings.get(user);
    return {
      // a member on another node: registered as its node says; busy or in do not disturb, its node answers 486
      registered: o.locate(user).length > 0 || (o.solution?.registeredElsewhere(user) ?? false), dnd: s?.doNotDisturb ?? false, forwardAll: s?.forwardAll !== undefined,
      onCall: this.#busyUsers().has(user), callWaiting: s?.callWaiting ?? true,
    };
  }

  /**
   * Everyone on a call: parties, phones being rung, callers of conferences and voicemail. Built
   * once and kept until something changes, so a hunt over 100 members costs one pass.
   */
  #busyUsers(): Set<string> {
    if (this.#busy) return this.#busy;
    const busy = new Set<string>();
    for (const c of this.#calls.values()) for (const n of [...c.partyNumbers, ...c.ringingNumbers]) busy.add(n);
    for (const c of this.#locals.keys()) if (!c.ended) busy.add(c.info.caller);
    return (this.#busy = busy);
  }

  #changed(): void {
    this.#busy = undefined;
  }

  // In-dialog requests, ACKs and stray responses.

  /** A request inside a call's dialog; false when it belongs to no leg we know (481). */
  onInDialog(req: SipRequest, tx: ServerTransaction): boolean {
    const leg = this.#legs.byDialog(req.callId, req.to.tag ?? '', req.from.tag ?? '');
    if (!leg) return false;
    leg.handleRequest(req, tx);
    return true;
  }

  onAck(ack: SipRequest): void {
    this.#legs.byDialog(ack.callId, ack.to.tag ?? '', ack.from.tag ?? '')?.handleAck(ack);
  }

  /** A 2xx retransmission after its transaction ended: ACK it again. */
  onStrayResponse(res: SipResponse): void {
    if (res.status < 200 || res.status >= 300 || res.cseq.method !== 'INVITE') return;
    this.#legs.byDialog(res.callId, res.from.tag ?? '', res.to.tag ?? '')?.dialog?.retransmitAck(res);
  }

  /**
   * Graceful end: new calls get 503 with Retry-After (phones and trunks fail over), ringing
   * callers too, answered calls and local calls are hung up with BYEs that are retransmitted
   * and awaited, at most `drainTimeoutMs`. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#drain();
    return this.#closing;
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    const busy = { 'retry-after': RETRY_AFTER_SHUTDOWN };
    const waits: Promise<void>[] = [];
    for (const c of [...this.#calls.values()]) {
      c.abort(503, 'Service Unavailable (node shutting down)', busy, 'server shutting down');
      waits.push(c.closed);
    }
    for (const lc of [...this.#locals.keys()]) {
      if (lc.answered) lc.hangup();
      else lc.reject(503, 'Service Unavailable (node shutting down)', busy);
      waits.push(lc.closed);
    }
    let timer: unknown;
    const bound = new Promise<void>((resolve) => (timer = this.clock.setTimeout(resolve, this.#o.drainTimeoutMs ?? 5000)));
    await Promise.race([Promise.all(waits), bound]);
    this.clock.clearTimeout(timer);
    this.#timers.clearAll();
    this.#legs.clear();
  }
}
