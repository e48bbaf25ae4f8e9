/**
 * What a phone can switch or reach by dialling, apart from calling someone: the built-in feature
 * codes (*21 forwarding, *78 do not disturb...), the dial plan's features (forwarding, the ARS
 * switch, meet-me, voicemail, hunt-group log-in and night service), each confirmed by two beeps
 * or handed to the service that answers it. The B2BUA (calls.ts) does the routing and answering.
 */
import type { Logger } from '../../core/logger.js';
import type { SipRequest } from '../../sip/message/message.js';
import type { InviteServerTransaction } from '../../sip/transaction/server.js';
import type { Destination } from '../routing/index.js';
import type { LocalCall, LocalCallInfo, LocalService } from './local.js';
import type { FeatureCode, PhoneSettings } from './settings.js';
import type { Caller, CallsOptions, Ended } from './types.js';

/** What the features need of the B2BUA. */
export interface FeatureHost {
  readonly log: Logger;
  readonly options: CallsOptions;
  answerLocally(req: SipRequest, tx: InviteServerTransaction, info: Omit<LocalCallInfo, 'id'>, service: LocalService): LocalCall | undefined;
  routeTo(req: SipRequest, tx: InviteServerTransaction, from: Caller, dialled: string, dest: Destination, causer: string | undefined, fallback: string | undefined): Ended | undefined;
  dial(number: string, causer: string | undefined, callerNumber: string): Destination;
}

export class PhoneFeatures {
  readonly #h: FeatureHost;

  constructor(host: FeatureHost) {
    this.#h = host;
  }

  /** A dial-plan feature: phone settings, the ARS switch, meet-me, voicemail. */
  feature(req: SipRequest, tx: InviteServerTransaction, from: Caller, dialled: string, feature: string, number: string, causer: string | undefined): Ended | undefined {
    const o = this.#h.options;
    const refuse = (status: number, reason: string): undefined => void o.stack.respond(tx, o.stack.createResponse(req, status, reason));
    const user = from.trunk ? undefined : causer;
    const setting = (patch: Partial<PhoneSettings>): undefined => (user === undefined ? refuse(403, 'Forbidden (phone features are for users)') : void this.#applySetting(req, tx, user, patch));
    switch (feature) {
      case 'meetMe': {
        const svc = o.services?.meetMe;
        if (!svc) return refuse(480, 'Temporarily Unavailable (conferencing is not available on this node)');
        return this.#h.answerLocally(req, tx, { caller: from.number, callerName: from.name, dialled, target: number }, svc);
      }
      case 'voicemailCollect':
        return this.voicemail(req, tx, from, dialled, 'collect', number);
      case 'voicemailDeposit':
        return this.voicemail(req, tx, from, dialled, 'deposit', number);
      case 'busy':
        return refuse(486, 'Busy Here');
      case 'forwardAll': return setting({ forwardAll: number || undefined });
      case 'forwardBusy': return setting({ forwardBusy: number || undefined });
      case 'forwardNoAnswer': return setting({ forwardNoAnswer: number || undefined });
      case 'forwardOff': return setting({ forwardAll: undefined, forwardBusy: undefined, forwardNoAnswer: undefined });
      case 'dndOn': return setting({ doNotDisturb: true });
      case 'dndOff': return setting({ doNotDisturb: false });
      case 'arsOutOfService':
      case 'arsInService': {
        if (user === undefined) return refuse(403, 'Forbidden (the ARS switch is for users)');
        if (!o.router?.setFormInService(number, feature === 'arsInService')) return refuse(404, `Not Found (no ARS form ${number})`);
        this.#h.log.info(`ARS form ${number} switched ${feature === 'arsInService' ? 'in' : 'out of'} service by ${user}`, { callId: req.callId });
        return void this.confirm(req, tx, user);
      }
      case 'huntGroupLogin':
      case 'huntGroupLogout':
      case 'nightServiceOn':
      case 'nightServiceOff':
        return this.#huntFeature(req, tx, user, feature, number);
      case 'dialExtn': {
        if (!o.users.has(number)) return refuse(404, `Not Found (${number} is not an extension)`);
        return this.#h.routeTo(req, tx, from, dialled, { kind: 'extension', extension: number }, causer, undefined);
      }
      default:
        return refuse(501, `Not Implemented (feature ${feature})`);
    }
  }

  /**
   * A caller for voicemail: `deposit` leaves a message in `mailbox`, `collect` listens to it
   * ('' asks the caller for the mailbox). With every port busy: the configured fallback, else 486.
   */
  voicemail(req: SipRequest, tx: InviteServerTransaction, from: Caller, dialled: string, what: 'deposit' | 'collect', mailbox: string): Ended | undefined {
    const o = this.#h.options;
    const vm = o.services?.voicemail;
    const refuse = (status: number, reason: string): undefined => void o.stack.respond(tx, o.stack.createResponse(req, status, reason));
    if (!vm) return refuse(480, 'Temporarily Unavailable (no voicemail on this node)');
    if (what === 'deposit' && !vm.has(mailbox)) return refuse(404, `Not Found (no mailbox ${mailbox || '(none given)'})`);
    if (!vm.available) {
      const fb = o.voicemailBusyFallback;
      this.#h.log.warn(`voicemail ports all busy${fb ? `: caller goes to ${fb}` : ''}`, { callId: req.callId });
      if (fb !== undefined && what === 'deposit') return this.#h.routeTo(req, tx, from, fb, this.#h.dial(fb, undefined, from.number), undefined, undefined);
      return refuse(486, 'Busy Here (all voicemail ports in use)');
    }
    return this.#h.answerLocally(req, tx, { caller: from.number, callerName: from.name, dialled, target: mailbox }, what === 'deposit' ? vm.deposit : vm.collect);
  }

  /** Hunt-group log-in/out (group '' : every group of the user) and night service, from a phone. */
  #huntFeature(req: SipRequest, tx: InviteServerTransaction, user: string | undefined, feature: string, group: string): undefined {
    const o = this.#h.options;
    const refuse = (status: number, reason: string): undefined => void o.stack.respond(tx, o.stack.createResponse(req, status, reason));
    const hg = o.huntGroups?.groups;
    if (user === undefined) return refuse(403, 'Forbidden (hunt group features are for users)');
    if (!hg) return refuse(404, 'Not Found (no hunt groups)');
    let ok: boolean;
    if (feature === 'huntGroupLogin' || feature === 'huntGroupLogout') {
      const groups = group === '' ? hg.groupsOf(user) : [group];
      ok = groups.length > 0 && groups.every((g) => hg.isGroup(g) && (feature === 'huntGroupLogin' ? hg.login(g, user) : hg.logout(g, user)));
      if (!ok) return refuse(404, `Not Found (${user} is not a member of hunt group ${group || '(any)'})`);
      this.#h.log.info(`${user} logged ${feature === 'huntGroupLogin' ? 'in to' : 'out of'} hunt group ${groups.join(', ')}`, { callId: req.callId });
      if (feature === 'huntGroupLogin') queueMicrotask(() => o.huntGroups?.memberIdle(user));
    } else {
      if (!hg.isGroup(group)) return refuse(404, `Not Found (no hunt group ${group || '(none given)'})`);
      hg.setService(group, feature === 'nightServiceOn' ? 'night' : 'in');
      this.#h.log.info(`hunt group ${group} ${feature === 'nightServiceOn' ? 'to night service' : 'back in service'} by ${user}`, { callId: req.callId });
    }
    this.confirm(req, tx, user);
    return undefined;
  }

  /** A built-in feature code: change the setting, confirm with two beeps, hang up. */
  featureCode(req: SipRequest, tx: InviteServerTransaction, user: string, code: Extract<FeatureCode, { kind: 'set' }>): void {
    const o = this.#h.options;
    if (code.target !== undefined && !o.users.has(code.target)) {
      // forwarding outside: only to a number the dial plan routes and this user may call
      const d = this.#h.dial(code.target, user, user);
      const routed = d.kind === 'ars' || d.kind === 'lineGroup';
      if (!routed || !d.barring.allowed) {
        const res = routed
          ? o.stack.createResponse(req, 403, forbidden(d.barring.reason))
          : o.stack.createResponse(req, 404, `Not Found (${code.target} is not an extension or a number the dial plan routes)`);
        o.stack.respond(tx, res);
        return;
      }
    }
    this.#applySetting(req, tx, user, code.patch);
  }

  #applySetting(req: SipRequest, tx: InviteServerTransaction, user: string, patch: Partial<PhoneSettings>): void {
    this.#h.options.settings.update(user, patch);
    this.#h.log.info(`phone feature changed by ${user}: ${JSON.stringify(patch, (_k, v) => (v === undefined ? null : v))}`, { callId: req.callId });
    this.confirm(req, tx, user);
  }

  /** Answers, plays two beeps (the change is made), hangs up. */
  confirm(req: SipRequest, tx: InviteServerTransaction, user: string): void {
    const o = this.#h.options;
    if (!o.engine) {
      o.stack.respond(tx, o.stack.createResponse(req, 480, 'Temporarily Unavailable (feature set; no media to confirm it)'));
      return;
    }
    this.#h.answerLocally(req, tx, { caller: user, callerName: user, dialled: req.uri.isSip ? req.uri.userDecoded ?? '' : '', target: 'feature confirmation' }, CONFIRM);
  }
}

/** Two beeps, then the call ends: a phone feature was changed. */
const CONFIRM: LocalService = {
  accept(call) {
    call.answer();
    call.endpoint.play({ tones: [{ freqs: [1400], ms: 150 }, { freqs: [], ms: 100 }, { freqs: [1400], ms: 150 }, { freqs: [], ms: 300 }] }).on('end', () => call.hangup());
  },
};

/** The reason phrase of a 403 for a barred number (the router's reason may carry its own status). */
export function forbidden(reason: string): string {
  const text = reason.replace(/^403\s+/, '');
  return text.startsWith('Forbidden') ? text : `Forbidden (${text})`;
}
