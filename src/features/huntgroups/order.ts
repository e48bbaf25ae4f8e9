/**
 * The member choice of one pass, as a pure function of the group, its run-time state and the
 * members' availability: HuntGroups.hunt() feeds it, tests can drive it without a store.
 */
import type { HuntGroupConfig, HuntRound, MemberAvailability, SkipReason } from './types.js';

export interface OrderState {
  /** Whether the member is logged in to this group. */
  loggedIn(user: string): boolean;
  /** Rotary: the member offered the group's previous call; undefined: start at the top. */
  readonly lastOffered: string | undefined;
  /** longestWaiting: when the member became idle (ms); smaller is longer idle. */
  idleSince(user: string): number;
}

function skipReason(a: MemberAvailability, callWaitingCounts: boolean): SkipReason | undefined {
  if (!a.registered) return 'unregistered';
  if (a.dnd) return 'dnd';
  if (a.forwardAll) return 'forwardAll';
  if (a.onCall && !(callWaitingCounts && a.callWaiting)) return 'onCall';
  return undefined;
}

export function huntRound(cfg: HuntGroupConfig, state: OrderState, availability: (user: string) => MemberAvailability): HuntRound {
  const mode = cfg.ringMode;
  const skipped: { user: string; reason: SkipReason }[] = [];
  const free = new Set<string>();
  for (const m of cfg.members) {
    const user = m.extension;
    let reason: SkipReason | undefined;
    if (!m.enabled) reason = 'disabled';
    else if (!state.loggedIn(user)) reason = 'loggedOut';
    else {
      const a = availability(user);
      if (typeof a !== 'object' || a === null) throw new TypeError(`availability: must return a MemberAvailability object (member ${user})`);
      reason = skipReason(a, mode === 'collectiveCallWaiting');
    }
    if (reason === undefined) free.add(user);
    else skipped.push({ user, reason });
  }

  let order = cfg.members.map((m) => m.extension);
  if (mode === 'rotary') {
    // the member after the one offered last, even when that one is unavailable now
    const last = state.lastOffered === undefined ? -1 : order.indexOf(state.lastOffered);
    if (last >= 0) order = [...order.slice(last + 1), ...order.slice(0, last + 1)];
  }
  let available = order.filter((u) => free.has(u));
  if (mode === 'longestWaiting') {
    // stable: equal idle times keep the configured order
    available = available
      .map((u, i) => ({ u, i, since: state.idleSince(u) }))
      .sort((a, b) => a.since - b.since || a.i - b.i)
      .map((x) => x.u);
  }
  const collective = mode === 'collective' || mode === 'collectiveCallWaiting';
  const offers = collective ? (available.length > 0 ? [available] : []) : available.map((u) => [u]);
  return { group: cfg.extension, ringMode: mode, offers, skipped, noAnswerMs: cfg.noAnswerSeconds * 1000 };
}
