/**
 * What the dial plan's destination means for a call, decided before anything is answered: an
 * extension's phones with its forwarding (all, busy, no answer; to an extension or out through
 * ARS with the forwarding user's rights), do not disturb and mailbox; a hunt group's driver; an
 * outside number's routes within barring and the trunk-to-trunk policy; a feature. A blind
 * transfer's target is decided the same way, with the transferor's rights.
 */
import type { Logger } from '../../core/logger.js';
import type { Destination } from '../routing/index.js';
import { MAX_LINK_HOPS, type LinkService } from './link-messages.js';
import { OutboundRoute, type RoutePool, type RouteTrunk } from './outbound.js';
import { ContactsStrategy, type ContactsPlan, type Forward, type Refusal } from './ring/contacts.js';
import { HuntStrategy } from './ring/hunt.js';
import { RemoteStrategy } from './ring/remote.js';
import { RoutesStrategy } from './ring/routes.js';
import type { RingStrategy } from './ring/strategy.js';
import type { TransferRoute } from './transfer.js';
import { refusal, type Caller, type CallsOptions, type Decision, type MemberState } from './types.js';

/** A call being routed: who calls, what was dialled, whose rights apply. */
export interface RouteContext {
  from: Caller;
  dialled: string;
  /** The user whose rights and priority apply (the caller; nobody for a call from a trunk). */
  causer: string | undefined;
  /** A call from a trunk: its line's rights (trunks[].rights) route and bar it, never "the system". */
  line?: LineRights;
  /** An incoming call's destination when the first is busy. */
  fallback?: string;
  callId: string;
}

/** A trunk line as the router takes it (RouteContext.line of the routing feature). */
export interface LineRights {
  name: string;
  rights?: string;
}

/** What deciding needs of the B2BUA. */
export interface DestinationsHost {
  readonly log: Logger;
  readonly options: CallsOptions;
  /** The user is on a call now (calling, being rung, talking). */
  onCall(user: string): boolean;
  memberState(user: string): MemberState;
  /** A dial-plan feature (phone settings, meet-me, voicemail, hunt-group log-in). */
  feature(ctx: RouteContext, feature: string, number: string): Decision;
  /** A caller for voicemail: leave a message in `mailbox`, or listen ('collect'). */
  voicemail(ctx: RouteContext, what: 'deposit' | 'collect', mailbox: string): Decision;
}

/** The reason phrase of a 403 for a barred number (the router's reason may carry its own status). */
export function forbidden(reason: string): string {
  const text = reason.replace(/^403\s+/, '');
  return text.startsWith('Forbidden') ? text : `Forbidden (${text})`;
}

export class Destinations {
  readonly #h: DestinationsHost;

  constructor(host: DestinationsHost) {
    this.#h = host;
  }

  get #o(): CallsOptions {
    return this.#h.options;
  }

  /** The dial plan's destination for `number` dialled with `causer`'s rights (or, from a trunk, its `line`'s). */
  dial(number: string, causer: string | undefined, callerNumber: string, line?: LineRights): Destination {
    const r = this.#o.router;
    if (r) return r.dial(number, { user: causer, callerNumber, trace: false, line: causer === undefined ? line : undefined }).destination;
    return this.#o.users.has(number) ? { kind: 'extension', extension: number } : { kind: 'notFound' };
  }

  decide(ctx: RouteContext, dest: Destination): Decision {
    switch (dest.kind) {
      case 'extension': {
        if (this.#o.huntGroups?.isGroup(dest.extension)) return this.#huntGroup(ctx, dest.extension);
        const node = this.#o.solution?.servedElsewhere(dest.extension);
        return node === undefined ? this.#extension(ctx, dest.extension) : this.remote(ctx, node, dest.extension, { kind: 'call' });
      }
      case 'ars':
      case 'lineGroup':
        return this.#outside(ctx, dest);
      case 'busy':
        return refusal(486, `Busy Here (${dest.reason})`);
      case 'incomplete':
        return refusal(484, 'Address Incomplete');
      case 'notFound':
        return refusal(404, `Not Found (${ctx.dialled || 'no number'} is not in the dial plan)`);
      case 'feature':
        return this.#h.feature(ctx, dest.feature, dest.number);
    }
  }

  /** Where a blind transfer by `transferor` of `transferee` to `number` goes. */
  transfer(number: string, transferor: string, transferee: string): TransferRoute {
    const causer = this.#o.users.has(transferor) ? transferor : undefined;
    const ctx: RouteContext = { from: { number: transferee, name: '', withheld: false }, dialled: number, causer, callId: '' };
    const d = this.decide(ctx, this.dial(number, causer, transferee));
    if (d.kind === 'ring') return { kind: 'ring', strategy: d.strategy };
    if (d.kind === 'refuse') return { kind: 'refused', status: d.status, reason: d.reason };
    if (d.mailbox !== undefined) return { kind: 'voicemail', mailbox: d.mailbox };
    return { kind: 'refused', status: 403, reason: `Forbidden (a transfer cannot reach ${number})` };
  }

  #extension(ctx: RouteContext, extension: string): Decision {
    const o = this.#o;
    const log = this.#h.log;
    const direction = ctx.from.trunk ? 'incoming' : 'internal';
    const plan = this.#plan(ctx.from, extension);
    if ('status' in plan) {
      if (plan.status === 486 && ctx.fallback !== undefined) {
        log.info(`${extension} busy: incoming call goes to its fallback ${ctx.fallback}`, { callId: ctx.callId });
        return this.decide({ ...ctx, fallback: undefined }, this.dial(ctx.fallback, ctx.causer, ctx.from.number, ctx.line));
      }
      if (plan.voicemail !== undefined) {
        log.info(`${extension} ${plan.reason.includes('disturb') ? 'in do not disturb' : 'busy'}: call goes to voicemail`, { callId: ctx.callId });
        return this.#h.voicemail(ctx, 'deposit', plan.voicemail);
      }
      if (plan.status === 486) return { kind: 'refuse', status: 486, reason: plan.reason, record: 'busy' };
      return refusal(plan.status, plan.reason);
    }
    if ('start' in plan) return { kind: 'ring', strategy: plan, direction };
    const fb = ctx.fallback;
    if (fb !== undefined && plan.busy === undefined && o.users.has(fb)) plan.busy = { to: fb, make: () => new ContactsStrategy({ extension: fb }) };
    return { kind: 'ring', strategy: new ContactsStrategy(plan), direction, media: o.users.get(plan.extension)?.media };
  }

  /**
   * Where a call to `dialled` rings (PBX semantics): forward-all is followed (up to 5 hops,
   * never back to the caller), to a user of another node (whose node follows it further), and to
   * a number outside when the dial plan routes it and the forwarding user may call it; a callee
   * in do not disturb, or on a call without call waiting, is busy: forward-on-busy if set, else
   * 486 (or the mailbox, which may be on the voicemail node of the solution).
   */
  #plan(from: Caller, dialled: string): ContactsPlan | RingStrategy | (Refusal & { voicemail?: string }) {
    const o = this.#o;
    const caller = from.number;
    if (!o.users.has(dialled)) return { status: 404, reason: `Not Found (${dialled || 'no number'} is not an extension)` };
    let target = dialled;
    for (let hops = 0; hops < 5; hops++) {
      const next = o.settings.get(target)?.forwardAll;
      if (next === undefined || next === caller || next === target) break;
      if (!o.users.has(next)) return this.#forwardOut(target, next, from, 'all calls', 'call');
      target = next;
    }
    const s = o.settings.get(target)!;
    const busy = s.doNotDisturb || (!s.callWaiting && this.#h.onCall(target));
    const user = target;
    // forwarding on busy or no answer rings the phones of the user forwarded to, wherever they are
    const forward = (to: string | undefined, what: string): Forward | undefined => (to === undefined || to === caller || to === user ? undefined : {
      to, make: () => (o.users.has(to) ? new ContactsStrategy({ extension: to }) : this.#forwardOut(user, to, from, what, 'phones')),
    });
    // the user's mailbox takes what forwarding does not (never a caller's own call to itself)
    const vm = o.users.get(target)?.voicemail && target !== caller && this.#hasMailbox(target) ? target : undefined;
    if (busy) {
      const fw = forward(s.forwardBusy, 'calls while busy');
      if (fw === undefined) return { status: 486, reason: s.doNotDisturb ? 'Busy Here (do not disturb)' : 'Busy Here', voicemail: vm };
      const next = fw.make();
      return 'status' in next ? next : next instanceof ContactsStrategy ? { extension: fw.to } : next;
    }
    const na = forward(s.forwardNoAnswer, 'unanswered calls');
    const vmNode = vm === undefined || o.services?.voicemail ? undefined : o.solution?.voicemailNode;
    return {
      extension: target, busy: forward(s.forwardBusy, 'calls while busy'), noAnswer: na ? { ms: s.noAnswerSeconds * 1000, forward: na } : undefined,
      voicemail: vm === undefined ? undefined : {
        mailbox: vm, afterMs: s.noAnswerSeconds * 1000,
        remote: vmNode === undefined ? undefined : () => this.#remoteStrategy(from, vmNode, vm, { kind: 'voicemail' }),
      },
    };
  }

  /** The user's mailbox is on this node, or (without voicemail here) on the solution's voicemail node. */
  #hasMailbox(user: string): boolean {
    const o = this.#o;
    const vm = o.services?.voicemail;
    return vm ? vm.has(user) : o.solution?.voicemailNode !== undefined && o.solution.hasMailbox(user);
  }

  /**
   * Forwarding to a user of another node, or to a number outside: the leg out is the forwarding
   * user's call, so it is routed and barred with that user's rights (forwarding never reaches
   * what the user may not dial).
   */
  #forwardOut(user: string, number: string, from: Caller, what: string, kind: 'call' | 'phones'): RingStrategy | Refusal {
    const d = this.dial(number, user, from.number);
    const node = d.kind === 'extension' ? this.#o.solution?.servedElsewhere(d.extension) : undefined;
    if (node !== undefined) {
      this.#h.log.info(`${user} forwards ${what} to ${number} on node ${node}`, { caller: from.number });
      return this.#remoteStrategy(from, node, number, { kind });
    }
    if (d.kind !== 'ars' && d.kind !== 'lineGroup') return { status: 404, reason: `Not Found (${user} forwards to ${number}, which the dial plan does not route)` };
    if (!d.barring.allowed) {
      this.#h.log.info(`forwarding barred: ${d.barring.reason}`, { user, number, class: d.barring.class });
      return { status: 403, reason: forbidden(d.barring.reason) };
    }
    const route = this.#outboundRoute(d, user, { ...from, name: '', withheld: false });
    if ('status' in route) return route;
    this.#h.log.info(`${user} forwards ${what} to ${number}: out through the dial plan`, { caller: from.number });
    return new RoutesStrategy(number, route);
  }

  /** A call to `number` served by `node`: rung over the node links. */
  remote(ctx: RouteContext, node: string, number: string, service: LinkService): Decision {
    const strategy = this.#remoteStrategy(ctx.from, node, number, service);
    if ('status' in strategy) return refusal(strategy.status, strategy.reason);
    const incoming = ctx.from.trunk !== undefined || ctx.from.link?.origin === 'trunk';
    return { kind: 'ring', strategy, direction: incoming ? 'incoming' : service.kind === 'line' ? 'outgoing' : 'internal' };
  }

  #remoteStrategy(from: Caller, node: string, number: string, service: LinkService): RemoteStrategy | Refusal {
    const sol = this.#o.solution;
    if (!sol) return { status: 404, reason: `Not Found (${number} is served by node ${node}, and this node is not in a solution)` };
    const hops = (from.link?.hops ?? -1) + 1;
    if (hops >= MAX_LINK_HOPS) return { status: 482, reason: `Loop Detected (the call crossed ${hops} node links)` };
    const request = { service, origin: from.trunk !== undefined || from.link?.origin === 'trunk' ? 'trunk' as const : 'user' as const, hops };
    const personal = service.kind === 'call' || service.kind === 'phones';
    return new RemoteStrategy({ number, node, routes: () => sol.routes(node, request), ringTimeout: personal });
  }

  /**
   * What a call that came in over a node link asked for (link-messages.ts): the node it came
   * from decided the short codes, rights and barring; this one serves the number.
   */
  linked(ctx: RouteContext, number: string, service: LinkService): Decision {
    const o = this.#o;
    switch (service.kind) {
      case 'call':
        return this.decide(ctx, { kind: 'extension', extension: number });
      case 'phones': {
        const node = o.solution?.servedElsewhere(number);
        if (node !== undefined) return this.remote(ctx, node, number, service);
        const s = o.settings.get(number);
        if (!o.users.has(number) || !s) return refusal(404, `Not Found (${number} is not an extension of this node)`);
        if (s.doNotDisturb || (!s.callWaiting && this.#h.onCall(number))) return refusal(486, s.doNotDisturb ? 'Busy Here (do not disturb)' : 'Busy Here');
        return { kind: 'ring', strategy: new ContactsStrategy({ extension: number }), direction: ctx.from.link?.origin === 'trunk' ? 'incoming' : 'internal' };
      }
      case 'voicemail':
        return this.#h.voicemail(ctx, 'deposit', number);
      case 'collect':
        return this.#h.voicemail(ctx, 'collect', number);
      case 'meetme':
        return this.#h.feature(ctx, 'meetMe', number);
      case 'feature':
        return this.#h.feature({ ...ctx, causer: ctx.from.number }, service.feature, number);
      case 'line':
        return this.#outside(ctx, {
          kind: 'lineGroup', lineGroup: service.lineGroup, number, callerId: {},
          barring: { allowed: true, class: 'linked', reason: `barring decided on node ${ctx.from.link?.node ?? '?'}` },
        });
    }
  }

  #outside(ctx: RouteContext, dest: Extract<Destination, { kind: 'ars' | 'lineGroup' }>): Decision {
    if (!dest.barring.allowed) {
      this.#h.log.info(`call barred: ${dest.barring.reason}`, { callId: ctx.callId, user: ctx.causer, class: dest.barring.class });
      return refusal(403, forbidden(dest.barring.reason));
    }
    const route = this.#outboundRoute(dest, ctx.causer, ctx.from, ctx.line);
    if ('status' in route) return refusal(route.status, route.reason);
    return {
      kind: 'ring', strategy: new RoutesStrategy(dest.number, route), direction: ctx.from.trunk ? 'incoming' : 'outgoing',
      withheld: ctx.from.withheld || dest.callerId.withhold === true,
    };
  }

  /** The routes out for an ARS or line-group destination, within the trunk-to-trunk policy. */
  #outboundRoute(dest: Extract<Destination, { kind: 'ars' | 'lineGroup' }>, causer: string | undefined, from: Caller, line?: LineRights): OutboundRoute | Refusal {
    const o = this.#o;
    if (!o.trunks || !o.router) return { status: 503, reason: 'Service Unavailable (no trunks)' };
    if (from.trunk && !from.trunk.config.allowTrunkToTrunk) {
      this.#h.log.warn(`security: trunk-to-trunk call refused (trunk ${from.trunk.name} does not allow it)`, { number: dest.number });
      return { status: 403, reason: `Forbidden (trunk-to-trunk calls are off for trunk ${from.trunk.name})` };
    }
    const router = o.router;
    const pool = this.#pool(from);
    // a call that came in on a trunk (here, or on the node it came from) leaves only on trunks that allow it
    const trunkToTrunk = from.trunk !== undefined || from.link?.origin === 'trunk';
    return new OutboundRoute({
      pool,
      select: (form, number) => router.selectRoutes(form, number, { user: causer, line: causer === undefined ? line : undefined, trace: false }, (g) => pool.available(g)),
      start: dest.kind === 'ars' ? { form: dest.form, number: dest.number } : { lineGroup: dest.lineGroup, number: dest.number, callerId: dest.callerId },
      allowTrunk: trunkToTrunk ? (t) => t.config.allowTrunkToTrunk : undefined,
    });
  }

  /**
   * The trunks of a line group: this node's, else (central trunks) the node links to the nodes
   * that have trunks in it, which take the call out there.
   */
  #pool(from: Caller): RoutePool {
    const trunks = this.#o.trunks!;
    const sol = this.#o.solution;
    if (!sol) return trunks;
    const hops = (from.link?.hops ?? -1) + 1;
    const origin = from.trunk !== undefined || from.link?.origin === 'trunk' ? 'trunk' as const : 'user' as const;
    const inGroup = (g: number): RouteTrunk[] => {
      const own = trunks.inGroup(g);
      if (own.length > 0 || hops >= MAX_LINK_HOPS) return own;
      return sol.lineGroupNodes(g).flatMap((node) => sol.routes(node, { service: { kind: 'line', lineGroup: g }, origin, hops }));
    };
    return {
      inGroup,
      available: (g) => trunks.available(g) || (trunks.inGroup(g).length === 0 && inGroup(g).length > 0),
    };
  }

  /** A call to a hunt group: its members ring by the group's rules; night service goes to its fallback. */
  #huntGroup(ctx: RouteContext, group: string): Decision {
    const r = this.#o.huntGroups!.route(group, ctx.callId, (u) => this.#h.memberState(u));
    if ('kind' in r) {
      if (r.kind === 'number') return this.decide(ctx, this.dial(r.number, ctx.causer, ctx.from.number, ctx.line));
      if (r.kind === 'voicemail') return this.#h.voicemail(ctx, 'deposit', r.mailbox);
      return refusal(486, `Busy Here (${r.reason})`);
    }
    return { kind: 'ring', strategy: new HuntStrategy(group, r), direction: ctx.from.trunk ? 'incoming' : 'internal' };
  }
}
