/**
 * What a phone can switch or reach by dialling, apart from calling someone: the built-in feature
 * codes (*21 forwarding, *78 do not disturb...), the dial plan's features (forwarding, the ARS
 * switch, meet-me, voicemail, hunt-group log-in and night service), each confirmed by two beeps
 * or handed to the service that answers it. Each returns the decision; the B2BUA acts on it.
 */
import type { Logger } from '../../core/logger.js';
import type { Destination } from '../routing/index.js';
import type { LinkService } from './link-messages.js';
import type { LocalService } from './local.js';
import { forbidden, type RouteContext } from './routing.js';
import type { FeatureCode, PhoneSettings } from './settings.js';
import { refusal, type CallsOptions, type Decision } from './types.js';

/** What the features need of the B2BUA. */
export interface FeatureHost {
  readonly log: Logger;
  readonly options: CallsOptions;
  decide(ctx: RouteContext, dest: Destination): Decision;
  dial(number: string, causer: string | undefined, callerNumber: string): Destination;
  /** A call for `number`, served by another node of the solution, over the node links. */
  remote(ctx: RouteContext, node: string, number: string, service: LinkService): Decision;
}

export class PhoneFeatures {
  readonly #h: FeatureHost;

  constructor(host: FeatureHost) {
    this.#h = host;
  }

  /** A dial-plan feature: phone settings, the ARS switch, meet-me, voicemail. */
  feature(ctx: RouteContext, feature: string, number: string): Decision {
    const o = this.#h.options;
    const { from, dialled } = ctx;
    const user = from.trunk ? undefined : ctx.causer;
    const setting = (patch: Partial<PhoneSettings>): Decision => (user === undefined ? refusal(403, 'Forbidden (phone features are for users)') : this.#apply(ctx, user, patch));
    switch (feature) {
      case 'meetMe': {
        // a room is one room in the whole solution: it runs on one node
        const node = o.solution?.meetMeNode;
        if (node !== undefined) return this.#h.remote(ctx, node, number, { kind: 'meetme' });
        const svc = o.services?.meetMe;
        if (!svc) return refusal(480, 'Temporarily Unavailable (conferencing is not available on this node)');
        return { kind: 'local', service: svc, info: { caller: from.number, callerName: from.name, dialled, target: number } };
      }
      case 'voicemailCollect':
        return this.voicemail(ctx, 'collect', number);
      case 'voicemailDeposit':
        return this.voicemail(ctx, 'deposit', number);
      case 'busy':
        return refusal(486, 'Busy Here');
      case 'forwardAll': return setting({ forwardAll: number || undefined });
      case 'forwardBusy': return setting({ forwardBusy: number || undefined });
      case 'forwardNoAnswer': return setting({ forwardNoAnswer: number || undefined });
      case 'forwardOff': return setting({ forwardAll: undefined, forwardBusy: undefined, forwardNoAnswer: undefined });
      case 'dndOn': return setting({ doNotDisturb: true });
      case 'dndOff': return setting({ doNotDisturb: false });
      case 'arsOutOfService':
      case 'arsInService': {
        if (user === undefined) return refusal(403, 'Forbidden (the ARS switch is for users)');
        if (!o.router?.setFormInService(number, feature === 'arsInService')) return refusal(404, `Not Found (no ARS form ${number})`);
        this.#h.log.info(`ARS form ${number} switched ${feature === 'arsInService' ? 'in' : 'out of'} service by ${user}`, { callId: ctx.callId });
        return this.confirm(user, dialled);
      }
      case 'huntGroupLogin':
      case 'huntGroupLogout':
      case 'nightServiceOn':
      case 'nightServiceOff':
        return this.#huntFeature(ctx, user, feature, number);
      case 'dialExtn':
        if (!o.users.has(number) && o.solution?.servedElsewhere(number) === undefined) return refusal(404, `Not Found (${number} is not an extension)`);
        return this.#h.decide(ctx, { kind: 'extension', extension: number });
      default:
        return refusal(501, `Not Implemented (feature ${feature})`);
    }
  }

  /**
   * A caller for voicemail: `deposit` leaves a message in `mailbox`, `collect` listens to it
   * ('' asks the caller for the mailbox). With every port busy: the configured fallback, else 486.
   */
  voicemail(ctx: RouteContext, what: 'deposit' | 'collect', mailbox: string): Decision {
    const o = this.#h.options;
    const vm = o.services?.voicemail;
    const { from } = ctx;
    const node = vm ? undefined : o.solution?.voicemailNode;
    if (node !== undefined) {
      if (what === 'deposit' && !o.solution!.hasMailbox(mailbox)) return refusal(404, `Not Found (no mailbox ${mailbox || '(none given)'})`);
      return this.#h.remote(ctx, node, mailbox, { kind: what === 'deposit' ? 'voicemail' : 'collect' });
    }
    if (!vm) return refusal(480, 'Temporarily Unavailable (no voicemail on this node)');
    if (what === 'deposit' && !vm.has(mailbox)) return refusal(404, `Not Found (no mailbox ${mailbox || '(none given)'})`);
    if (!vm.available) {
      const fb = o.voicemailBusyFallback;
      this.#h.log.warn(`voicemail ports all busy${fb ? `: caller goes to ${fb}` : ''}`, { callId: ctx.callId });
      if (fb !== undefined && what === 'deposit') return this.#h.decide({ ...ctx, dialled: fb, causer: undefined, fallback: undefined }, this.#h.dial(fb, undefined, from.number));
      return refusal(486, 'Busy Here (all voicemail ports in use)');
    }
    const info = { caller: from.number, callerName: from.name, dialled: ctx.dialled, target: mailbox };
    return what === 'deposit' ? { kind: 'local', service: vm.deposit, info, mailbox } : { kind: 'local', service: vm.collect, info };
  }

  /** Hunt-group log-in/out (group '' : every group of the user) and night service, from a phone. */
  #huntFeature(ctx: RouteContext, user: string | undefined, feature: string, group: string): Decision {
    const o = this.#h.options;
    const hg = o.huntGroups?.groups;
    if (user === undefined) return refusal(403, 'Forbidden (hunt group features are for users)');
    const node = o.solution?.huntGroupNode;
    if (node !== undefined) return this.#h.remote(ctx, node, group, { kind: 'feature', feature: feature as 'huntGroupLogin' });
    if (!hg) return refusal(404, 'Not Found (no hunt groups)');
    if (feature === 'huntGroupLogin' || feature === 'huntGroupLogout') {
      const groups = group === '' ? hg.groupsOf(user) : [group];
      const ok = groups.length > 0 && groups.every((g) => hg.isGroup(g) && (feature === 'huntGroupLogin' ? hg.login(g, user) : hg.logout(g, user)));
      if (!ok) return refusal(404, `Not Found (${user} is not a member of hunt group ${group || '(any)'})`);
      this.#h.log.info(`${user} logged ${feature === 'huntGroupLogin' ? 'in to' : 'out of'} hunt group ${groups.join(', ')}`, { callId: ctx.callId });
      if (feature === 'huntGroupLogin') queueMicrotask(() => o.huntGroups?.memberIdle(user));
    } else {
      if (!hg.isGroup(group)) return refusal(404, `Not Found (no hunt group ${group || '(none given)'})`);
      hg.setService(group, feature === 'nightServiceOn' ? 'night' : 'in');
      this.#h.log.info(`hunt group ${group} ${feature === 'nightServiceOn' ? 'to night service' : 'back in service'} by ${user}`, { callId: ctx.callId });
    }
    return this.confirm(user, ctx.dialled);
  }

  /** A built-in feature code: change the setting, confirm with two beeps, hang up. */
  featureCode(ctx: RouteContext, user: string, code: Extract<FeatureCode, { kind: 'set' }>): Decision {
    const o = this.#h.options;
    if (code.target !== undefined && !o.users.has(code.target)) {
      // forwarding outside: only to a number the dial plan routes and this user may call
      const d = this.#h.dial(code.target, user, user);
      if (d.kind === 'extension' && o.solution?.servedElsewhere(d.extension) !== undefined) return this.#apply(ctx, user, code.patch);
      const routed = d.kind === 'ars' || d.kind === 'lineGroup';
      if (!routed) return refusal(404, `Not Found (${code.target} is not an extension or a number the dial plan routes)`);
      if (!d.barring.allowed) return refusal(403, forbidden(d.barring.reason));
    }
    return this.#apply(ctx, user, code.patch);
  }

  #apply(ctx: RouteContext, user: string, patch: Partial<PhoneSettings>): Decision {
    this.#h.options.settings.update(user, patch);
    this.#h.log.info(`phone feature changed by ${user}: ${JSON.stringify(patch, (_k, v) => (v === undefined ? null : v))}`, { callId: ctx.callId });
    return this.confirm(user, ctx.dialled);
  }

  /** Answers, plays two beeps (the change is made), hangs up. */
  confirm(user: string, dialled: string): Decision {
    if (!this.#h.options.engine) return refusal(480, 'Temporarily Unavailable (feature set; no media to confirm it)');
    return { kind: 'local', service: CONFIRM, info: { caller: user, callerName: user, dialled, target: 'feature confirmation' } };
  }
}

/** Two beeps, then the call ends: a phone feature was changed. */
const CONFIRM: LocalService = {
  accept(call) {
    call.answer();
    call.endpoint.play({ tones: [{ freqs: [1400], ms: 150 }, { freqs: [], ms: 100 }, { freqs: [1400], ms: 150 }, { freqs: [], ms: 300 }] }).on('end', () => call.hangup());
  },
};
