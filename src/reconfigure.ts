/**
 * Live reconfiguration of a node (Server.reconfigure): which changes between two validated
 * documents apply at once, which wait for a restart, and applying the first kind by swapping what
 * the features were built on (the users, the dial plan, the hunt groups, the rooms, the mailboxes)
 * without touching calls in progress. The admin API and the solution bus both come through here.
 *
 * The mapping from configuration to what features take (a CallUser, a phone-settings base, a
 * mailbox) lives here too, so a node's start and a reconfiguration build them the same way.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Config, UserConfig } from './core/config/index.js';
import type { CallUser, PhoneSettings } from './features/calls/index.js';
import type { Conferences } from './features/conference/conferences.js';
import { loadAnnouncements, type HuntCalls } from './features/huntgroups/index.js';
import type { LocationStore } from './features/registrar/location.js';
import { routerOptions, Router } from './features/routing/index.js';
import type { MailboxDef, Voicemail } from './features/voicemail/voicemail.js';
import { callLimitsOf, callTimersOf, type CallLimits, type SecurityParts } from './core/security/index.js';

/** What Server.reconfigure() did. */
export interface ReconfigureResult {
  /**
   * applied: the document is now in force (`applied` and `pending` say how); unchanged: it equals
   * the one in force (nothing done, no new revision); stale: its revision is not above the one in
   * force (refused, nothing done).
   */
  status: 'applied' | 'unchanged' | 'stale';
  /** The revision in force after the call. */
  revision: number;
  /** Paths whose changes took effect at once (e.g. 'users', 'conference.rooms'). */
  applied: string[];
  /**
   * Paths whose new values wait for a restart (e.g. 'sip.listen'); the node keeps running on the
   * values it started with. Relative to the start, so changing a value back clears it.
   */
  pending: string[];
}

/** Paths that apply live: a changed path applies when it or its section is listed here. */
export const LIVE_PATHS: readonly string[] = [
  'users',
  'huntGroups',
  'dialPlan',
  'conference.rooms',
  'conference.openRooms',
  'conference.pinAttempts',
  'conference.pinTimeoutSeconds',
  'conference.entryExitTones',
  'conference.aloneRepeatSeconds',
  'calls.maxChannels',
  // issue 15's limits that new calls read: the lockouts, connection limits and voicemail PIN
  // guard keep the tables they were built with until a restart (reported pending)
  'calls.maxCallsPerUser',
  'calls.sessionExpiresSeconds',
  'media.rtpTimeoutSeconds',
];

const isLive = (path: string) => LIVE_PATHS.some((p) => path === p || path.startsWith(`${p}.`));
const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The paths (a section, or a key one level into a section) whose values differ. */
export function changedPaths(prev: Config, next: Config): string[] {
  const out: string[] = [];
  const keys = new Set([...Object.keys(prev), ...Object.keys(next)]);
  for (const k of keys) {
    const a = (prev as Record<string, unknown>)[k];
    const b = (next as Record<string, unknown>)[k];
    if (isDeepStrictEqual(a, b)) continue;
    if (LIVE_PATHS.includes(k) || !isPlainObject(a) || !isPlainObject(b)) {
      out.push(k);
      continue;
    }
    for (const sub of new Set([...Object.keys(a), ...Object.keys(b)])) if (!isDeepStrictEqual(a[sub], b[sub])) out.push(`${k}.${sub}`);
  }
  return out;
}

/** Splits changes into what applies now (against the document in force) and what waits (against the start). */
export function planChanges(started: Config, current: Config, next: Config): { applied: string[]; pending: string[] } {
  return {
    applied: changedPaths(current, next).filter(isLive),
    pending: changedPaths(started, next).filter((p) => !isLive(p)),
  };
}

export function callUserOf(u: UserConfig): CallUser {
  return { extension: u.extension, name: u.name, media: u.media, voicemail: u.voicemail.enabled, nat: u.nat };
}

export function settingsOf(u: UserConfig): PhoneSettings {
  return {
    forwardAll: u.forward.all, forwardBusy: u.forward.busy, forwardNoAnswer: u.forward.noAnswer,
    noAnswerSeconds: u.forward.noAnswerSeconds, doNotDisturb: u.doNotDisturb, callWaiting: u.callWaiting,
    withholdCallerId: u.withholdCallerId,
  };
}

/** A mailbox for every user and every hunt group. */
export function mailboxesOf(c: Pick<Config, 'users' | 'huntGroups'>): MailboxDef[] {
  return [
    ...c.users.map((u): MailboxDef => ({
      id: u.extension, kind: 'user', name: u.name, pin: u.voicemail.pin, email: u.voicemail.email, quotaMinutes: u.voicemail.quotaMinutes,
    })),
    ...c.huntGroups.map((g): MailboxDef => ({
      id: g.extension, kind: 'group', name: g.name, pin: g.voicemail.pin, email: g.voicemail.email, quotaMinutes: g.voicemail.quotaMinutes,
    })),
  ];
}

/** What a node was built on that a reconfiguration swaps: the maps are shared with the features and changed in place. */
export interface LiveState {
  /** extension -> SIP digest password (the authenticator and registrar read it). */
  readonly passwords: Map<string, string>;
  /** The B2BUA's users. */
  readonly callUsers: Map<string, CallUser>;
  /** The configured phone settings under what users changed from their phones. */
  readonly settings: Map<string, PhoneSettings>;
  /** Hunt group numbers (dialled like extensions). */
  readonly groupNumbers: Set<string>;
  readonly router: Router;
  readonly hunt: HuntCalls;
  readonly conferences: Conferences;
  readonly voicemail: Voicemail | undefined;
  readonly location: LocationStore;
  /** In a solution: users this node backs up (extension -> password); their phones stay registered when they leave the users. */
  readonly standby?: ReadonlyMap<string, string>;
  /** Swaps the hunt groups' queue announcements. */
  setAnnouncer(a: ReturnType<typeof loadAnnouncements>): void;
  /** Swaps the node's channel limit. */
  setMaxCalls(n: number): void;
  /** Numbers of other nodes of the solution (dialled like extensions); none on a node on its own. */
  readonly otherNumbers?: (n: string) => boolean;
  /** Mailboxes this node keeps for users of other nodes (the voicemail node of a solution). */
  readonly otherMailboxes?: () => MailboxDef[];
  /** Calls at once per user (default and by user rights). */
  readonly callLimits: CallLimits;
  /** Swaps the session timer policy and RTP inactivity timeout new calls get. */
  setCallTimers(t: Pick<SecurityParts, 'sessionTimer' | 'rtpTimeoutMs'>): void;
}

/**
 * Applies the live part of `next` (the `applied` paths of planChanges). Everything that can
 * fail (compiling the dial plan, reading announcement files, checking the hunt groups) runs
 * before anything is swapped, so a failure throws with the node unchanged.
 */
export function applyLive(live: LiveState, next: Config, applied: readonly string[], maxCallsDefault: number): void {
  const touched = (section: string) => applied.some((p) => p === section || p.startsWith(`${section}.`));
  const users = touched('users');
  const groups = touched('huntGroups');
  const routerOpts = routerOptions(next, (n) => live.callUsers.has(n) || live.groupNumbers.has(n) || (live.otherNumbers?.(n) ?? false));
  if (users || groups || touched('dialPlan')) new Router(routerOpts); // throws before any swap
  const announcer = groups ? loadAnnouncements(next.huntGroups) : undefined;
  if (groups) live.hunt.groups.reconfigure(next.huntGroups);
  if (announcer) live.setAnnouncer(announcer);
  if (users) {
    const gone = [...live.callUsers.keys()].filter((ext) => !next.users.some((u) => u.extension === ext));
    replace(live.passwords, next.users.map((u) => [u.extension, u.password]));
    replace(live.callUsers, next.users.map((u) => [u.extension, callUserOf(u)]));
    replace(live.settings, next.users.map((u) => [u.extension, settingsOf(u)]));
    // a removed user's phones can no longer reach anyone: forget them now, not at their expiry
    // (a user handed back to its home node stays registered here in standby)
    for (const ext of gone) if (!live.standby?.has(ext)) for (const b of live.location.lookup(ext)) live.location.remove(ext, b.key);
  }
  if (groups) {
    live.groupNumbers.clear();
    for (const g of next.huntGroups) live.groupNumbers.add(g.extension);
  }
  if (users || groups || touched('dialPlan')) live.router.reload(routerOpts);
  if (users || groups) live.voicemail?.store.setMailboxes([...mailboxesOf(next), ...(live.otherMailboxes?.() ?? [])]);
  if (touched('conference')) live.conferences.reconfigure(next.conference);
  if (touched('calls.maxChannels')) live.setMaxCalls(next.calls.maxChannels ?? maxCallsDefault);
  // a user's limit comes from its rights (users, dialPlan.userRights) or calls.maxCallsPerUser
  if (users || touched('dialPlan') || touched('calls.maxCallsPerUser')) live.callLimits.reconfigure(callLimitsOf(next));
  if (touched('calls.sessionExpiresSeconds') || touched('media.rtpTimeoutSeconds')) live.setCallTimers(callTimersOf(next));
}

function replace<K, V>(map: Map<K, V>, entries: [K, V][]): void {
  map.clear();
  for (const [k, v] of entries) map.set(k, v);
}
