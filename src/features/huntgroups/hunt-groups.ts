/**
 * Hunt groups at run time: who is logged in, the service state, the rotary position, members'
 * idle times and the queues, and the member choice of each pass. No SIP here: the B2BUA asks
 * hunt() whom to ring, tells offered() whom it rang and memberIdle()/memberBusy() when a user's
 * calls end and start, and runs the timers with the rules in rules.ts.
 *
 * Members start logged in. Log-ins and service states set by feature code are kept in the
 * store; a service state changed in the configuration wins over the kept one at the next start.
 */
import type { Journal } from '../../core/journal.js';
import type { Store } from '../../core/store.js';
import { SERVICE_STATES } from '../../core/config/huntgroup-schema.js';
import { huntRound } from './order.js';
import { HuntGroupPersistence } from './persist.js';
import { HuntQueue } from './queue.js';
import { serviceFallback } from './rules.js';
import type { EnqueueResult, HuntGroupConfig, HuntGroupSnapshot, HuntGroupStatus, HuntRound, HuntTarget, MemberAvailability, ServiceState } from './types.js';

/** Changed groups are journalled together at most this often (a rotary group moves on every call). */
const JOURNAL_EVERY_MS = 200;

export interface HuntGroupsOptions {
  /** The validated hunt groups (config.huntGroups). */
  groups: readonly HuntGroupConfig[];
  /** Keeps log-ins and service states across restarts; none: they last until close(). */
  store?: Store;
  /** Clock, ms since the epoch (default Date.now); idle times and time profiles read it. */
  now?: () => number;
  /** Whether a dial-plan time profile is active at an instant (Router.timeProfileActive fits); required when a group names one. */
  inTimeProfile?: (profile: string, at: Date) => boolean;
  /** Where the groups' state is journalled for the node that takes them over (needs `store`). */
  journal?: Journal;
}

interface GroupState {
  readonly cfg: HuntGroupConfig;
  /** member -> logged in, for every configured member. */
  readonly loggedIn: Map<string, boolean>;
  /** The state set by configuration or feature code, before the time profile. */
  state: ServiceState;
  /** Rotary: the member offered the previous call. */
  lastOffered: string | undefined;
  readonly queue: HuntQueue;
}

function checkExtension(v: unknown, field: string): string {
  if (typeof v !== 'string' || v === '') throw new TypeError(`${field}: must be an extension string`);
  return v;
}

function checkDate(at: unknown, field: string): Date | undefined {
  if (at === undefined) return undefined;
  if (!(at instanceof Date) || Number.isNaN(at.getTime())) throw new TypeError(`${field}: must be a valid Date`);
  return at;
}

export class HuntGroups {
  readonly #groups = new Map<string, GroupState>();
  /** user -> the groups they are a member of, in configuration order. */
  readonly #byUser = new Map<string, string[]>();
  /** member -> when they became idle (ms); absent: idle since startup. */
  readonly #idleSince = new Map<string, number>();
  /** Members whose calls have started and not ended: idle for no time at all. */
  readonly #busy = new Set<string>();
  readonly #startedAt: number;
  readonly #now: () => number;
  readonly #inTimeProfile: ((profile: string, at: Date) => boolean) | undefined;
  readonly #persist: HuntGroupPersistence | undefined;
  /** Groups removed by reconfigure(): no new calls, but the calls still in them can finish. */
  readonly #retired = new Map<string, GroupState>();
  readonly #journal: Journal | undefined;
  /** Groups whose state changed since it was last kept: rotary position and journal entry. */
  readonly #dirty = new Set<string>();
  #flushTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(opts: HuntGroupsOptions) {
    if (typeof opts !== 'object' || opts === null) throw new TypeError('opts: must be an object');
    if (!Array.isArray(opts.groups)) throw new TypeError('opts.groups: must be an array of hunt groups (config.huntGroups)');
    if (opts.now !== undefined && typeof opts.now !== 'function') throw new TypeError('opts.now: must be a function returning ms');
    if (opts.inTimeProfile !== undefined && typeof opts.inTimeProfile !== 'function') throw new TypeError('opts.inTimeProfile: must be a function');
    if (opts.store !== undefined && (typeof opts.store !== 'object' || opts.store === null || typeof opts.store.migrate !== 'function')) {
      throw new TypeError('opts.store: must be a Store');
    }
    this.#now = opts.now ?? Date.now;
    this.#inTimeProfile = opts.inTimeProfile;
    this.#startedAt = this.#now();
    this.#persist = opts.store ? new HuntGroupPersistence(opts.store) : undefined;
    this.#journal = this.#persist ? opts.journal : undefined;
    const built = this.#compile(opts.groups, 'opts.groups', undefined);
    for (const [k, v] of built.groups) this.#groups.set(k, v);
    for (const [k, v] of built.byUser) this.#byUser.set(k, v);
    // what a crash may have kept from the journal is journalled again
    for (const g of this.#groups.keys()) this.#touch(g);
  }

  /**
   * The hunt groups after a configuration change. A group that stays keeps its members' log-ins,
   * its rotary position and its queued callers (the queue's new limits apply to callers who join
   * later); its service state set by feature code stays unless the configured state changed. A
   * new member starts logged in. A removed group takes no new calls, while the calls already in
   * it finish by its last rules. Checked like the constructor's: a bad list throws and changes nothing.
   */
  reconfigure(groups: readonly HuntGroupConfig[]): void {
    this.#open();
    if (!Array.isArray(groups)) throw new TypeError('groups: must be an array of hunt groups (config.huntGroups)');
    this.#flush();
    const built = this.#compile(groups, 'groups', this.#groups);
    for (const [ext, g] of this.#groups) {
      if (built.groups.has(ext)) continue;
      if (this.#retired.size >= 1000) this.#retired.delete(this.#retired.keys().next().value!);
      this.#retired.set(ext, g);
    }
    for (const ext of built.groups.keys()) this.#retired.delete(ext);
    this.#groups.clear();
    for (const [k, v] of built.groups) this.#groups.set(k, v);
    this.#byUser.clear();
    for (const [k, v] of built.byUser) this.#byUser.set(k, v);
  }

  #compile(list: readonly HuntGroupConfig[], field: string, previous: Map<string, GroupState> | undefined): { groups: Map<string, GroupState>; byUser: Map<string, string[]> } {
    const logins = this.#persist?.logins() ?? new Map<string, Map<string, boolean>>();
    const services = this.#persist?.services() ?? new Map();
    const rotary = this.#persist?.rotary() ?? new Map<string, string>();
    const groups = new Map<string, GroupState>();
    const byUser = new Map<string, string[]>();
    list.forEach((cfg, i) => {
      const at = `${field}[${i}]`;
      if (typeof cfg !== 'object' || cfg === null) throw new TypeError(`${at}: must be a hunt group configuration`);
      const ext = checkExtension(cfg.extension, `${at}.extension`);
      if (groups.has(ext)) throw new TypeError(`${at}.extension: duplicate hunt group ${ext}`);
      if (!Array.isArray(cfg.members)) throw new TypeError(`${at}.members: must be an array`);
      if (cfg.service.timeProfile !== undefined && this.#inTimeProfile === undefined) {
        throw new TypeError(`opts.inTimeProfile: required, ${at} names time profile ${JSON.stringify(cfg.service.timeProfile)}`);
      }
      const was = previous?.get(ext);
      const kept = logins.get(ext);
      const loggedIn = new Map<string, boolean>();
      cfg.members.forEach((m: HuntGroupConfig['members'][number] | undefined, j: number) => {
        const user = checkExtension(m?.extension, `${at}.members[${j}].extension`);
        if (loggedIn.has(user)) throw new TypeError(`${at}.members[${j}]: ${user} is already a member`);
        loggedIn.set(user, was?.loggedIn.get(user) ?? kept?.get(user) ?? true);
        const of = byUser.get(user);
        if (of) of.push(ext);
        else byUser.set(user, [ext]);
      });
      let state: ServiceState;
      if (was !== undefined) {
        state = was.cfg.service.state === cfg.service.state ? was.state : cfg.service.state;
      } else {
        const stored = services.get(ext);
        state = stored !== undefined && stored.configured === cfg.service.state ? stored.state : cfg.service.state;
      }
      const queue = was?.queue ?? new HuntQueue(cfg.queue);
      if (was) queue.setLimits(cfg.queue);
      const last = was ? was.lastOffered : rotary.get(ext);
      const lastOffered = last !== undefined && loggedIn.has(last) ? last : undefined;
      groups.set(ext, { cfg, loggedIn, state, lastOffered, queue });
    });
    return { groups, byUser };
  }

  /** The group's configuration; undefined when `extension` is not a hunt group. */
  group(extension: string): HuntGroupConfig | undefined {
    return typeof extension === 'string' ? this.#groups.get(extension)?.cfg : undefined;
  }

  isGroup(extension: string): boolean {
    return typeof extension === 'string' && this.#groups.has(extension);
  }

  /** Extensions of the groups `user` is a member of (disabled memberships too), in configuration order. */
  groupsOf(user: string): string[] {
    checkExtension(user, 'user');
    return [...(this.#byUser.get(user) ?? [])];
  }

  /** Logs a member in to the group (kept in the store); false when not an enabled member of that group. */
  login(group: string, user: string): boolean {
    return this.#setLogin(group, user, true);
  }

  /** Logs a member out of the group (kept in the store); false when not an enabled member of that group. */
  logout(group: string, user: string): boolean {
    return this.#setLogin(group, user, false);
  }

  #setLogin(group: string, user: string, on: boolean): boolean {
    this.#open();
    checkExtension(group, 'group');
    checkExtension(user, 'user');
    const g = this.#groups.get(group);
    // a disabled membership stays out of every hunt whatever the log-in says
    if (!g || !g.loggedIn.has(user) || !g.cfg.members.find((m) => m.extension === user)!.enabled) return false;
    // stored first: a change the store refuses (a full disk) is not made at all, and the error tells the caller
    this.#persist?.saveLogin(group, user, on);
    g.loggedIn.set(user, on);
    this.#touch(group);
    return true;
  }

  /** Whether `user` is logged in to `group` (false for a non-member). */
  isLoggedIn(group: string, user: string): boolean {
    const g = this.#get(group);
    return g.loggedIn.get(checkExtension(user, 'user')) ?? false;
  }

  /** Sets the service state (night service feature codes, admin); kept in the store. false for an unknown group. */
  setService(group: string, state: ServiceState): boolean {
    this.#open();
    if (!SERVICE_STATES.includes(state)) throw new TypeError(`state: must be one of ${SERVICE_STATES.join(', ')}`);
    checkExtension(group, 'group');
    const g = this.#groups.get(group);
    if (!g) return false;
    this.#persist?.saveService(group, { state, configured: g.cfg.service.state });
    g.state = state;
    this.#touch(group);
    return true;
  }

  /** The state now (or at `at`): the set state, except that outside the group's time profile 'in' reads 'night'. */
  serviceState(group: string, at?: Date): ServiceState {
    const g = this.#get(group);
    const when = checkDate(at, 'at');
    if (g.state !== 'in') return g.state;
    const profile = g.cfg.service.timeProfile;
    if (profile !== undefined && !this.#inTimeProfile!(profile, when ?? new Date(this.#now()))) return 'night';
    return 'in';
  }

  /** undefined while in service; else where the call goes (the state's fallback, the mailbox, or busy). */
  serviceTarget(group: string, at?: Date): HuntTarget | undefined {
    const state = this.serviceState(group, at);
    return state === 'in' ? undefined : serviceFallback(this.#get(group).cfg, state);
  }

  /** One pass over the group's members in its ring mode, leaving out those who cannot take a call. */
  hunt(group: string, availability: (user: string) => MemberAvailability): HuntRound {
    const g = this.#get(group);
    if (typeof availability !== 'function') throw new TypeError('availability: must be a function (user) => MemberAvailability');
    return huntRound(
      g.cfg,
      {
        loggedIn: (u) => g.loggedIn.get(u) === true,
        lastOffered: g.lastOffered,
        idleSince: (u) => (this.#busy.has(u) ? Infinity : (this.#idleSince.get(u) ?? this.#startedAt)),
      },
      availability,
    );
  }

  /** The B2BUA rang `user` for a call to `group`: a rotary group's next call starts after them. false for a non-member. */
  offered(group: string, user: string): boolean {
    const g = this.#get(group);
    checkExtension(user, 'user');
    if (!g.loggedIn.has(user)) return false;
    g.lastOffered = user;
    this.#touch(group);
    return true;
  }

  /** A user's last call ended at `at` (ms since the epoch, default now): longestWaiting counts idle time from here. */
  memberIdle(user: string, at?: number): void {
    checkExtension(user, 'user');
    if (at !== undefined && (typeof at !== 'number' || !Number.isFinite(at))) throw new TypeError('at: must be ms since the epoch');
    if (!this.#byUser.has(user)) return; // only members are ever ranked
    this.#busy.delete(user);
    this.#idleSince.set(user, at ?? this.#now());
  }

  /** A user's call started: no idle time until memberIdle(). */
  memberBusy(user: string): void {
    checkExtension(user, 'user');
    if (this.#byUser.has(user)) this.#busy.add(user);
  }

  /** Queues a caller: its position (1 is next), or refused when the queue is full or queueing is off. */
  enqueue(group: string, callId: string): EnqueueResult {
    this.#open();
    return this.#get(group).queue.enqueue(callId);
  }

  /** Takes a caller out of the queue (answered, hung up, overflowed, sent to voicemail); false when not queued. */
  dequeue(group: string, callId: string): boolean {
    return this.#get(group).queue.dequeue(callId);
  }

  /** The caller's place in the queue (1 is next); undefined when not queued. */
  position(group: string, callId: string): number | undefined {
    return this.#get(group).queue.position(callId);
  }

  /** Removes and returns the caller who waited longest. */
  next(group: string): string | undefined {
    return this.#get(group).queue.next();
  }

  queueLength(group: string): number {
    return this.#get(group).queue.length;
  }

  /** Every group: members and their log-in, queue length and service state now. */
  status(at?: Date): HuntGroupStatus[] {
    const when = checkDate(at, 'at') ?? new Date(this.#now());
    return [...this.#groups.values()].map((g) => {
      const members = g.cfg.members.map((m) => ({ user: m.extension, enabled: m.enabled, loggedIn: g.loggedIn.get(m.extension) === true }));
      return {
        extension: g.cfg.extension,
        name: g.cfg.name,
        ringMode: g.cfg.ringMode,
        service: this.serviceState(g.cfg.extension, when),
        setState: g.state,
        members,
        loggedIn: members.filter((m) => m.enabled && m.loggedIn).map((m) => m.user),
        queued: g.queue.length,
      };
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The group's state as it moves to another node (undefined for an unknown group). */
  snapshot(group: string): HuntGroupSnapshot | undefined {
    const g = this.#groups.get(group);
    if (!g) return undefined;
    return { group, loggedIn: Object.fromEntries(g.loggedIn), state: g.state, configured: g.cfg.service.state, lastOffered: g.lastOffered ?? null };
  }

  /**
   * A group's state as another node has it now (it ran the group): kept in the store, and in
   * force at once if the group runs here too. Journals nothing (no echo).
   */
  applyCopy(s: HuntGroupSnapshot): void {
    if (typeof s?.group !== 'string' || typeof s.loggedIn !== 'object' || s.loggedIn === null) throw new TypeError('snapshot: a hunt group snapshot expected');
    if (!SERVICE_STATES.includes(s.state) || !SERVICE_STATES.includes(s.configured)) throw new TypeError('snapshot.state: not a service state');
    const persist = this.#persist;
    const members = Object.entries(s.loggedIn).filter(([, v]) => typeof v === 'boolean');
    persist?.atomically(() => {
      for (const [m, on] of members) persist.saveLogin(s.group, m, on);
      persist.saveService(s.group, { state: s.state, configured: s.configured });
      persist.saveRotary(s.group, typeof s.lastOffered === 'string' ? s.lastOffered : undefined);
    });
    const g = this.#groups.get(s.group);
    if (!g) return;
    for (const [m, on] of members) if (g.loggedIn.has(m)) g.loggedIn.set(m, on);
    if (s.configured === g.cfg.service.state) g.state = s.state;
    g.lastOffered = typeof s.lastOffered === 'string' && g.loggedIn.has(s.lastOffered) ? s.lastOffered : undefined;
  }

  /** Notes a group's change: its rotary position and journal entry are kept shortly, together with others. */
  #touch(group: string): void {
    if (!this.#persist || this.#closed) return;
    this.#dirty.add(group);
    this.#flushTimer ??= setTimeout(() => this.#flush(), JOURNAL_EVERY_MS);
  }

  #flush(): void {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    const persist = this.#persist;
    if (!persist || this.#dirty.size === 0) return;
    const groups = [...this.#dirty];
    this.#dirty.clear();
    persist.atomically(() => {
      for (const group of groups) {
        const snap = this.snapshot(group);
        if (!snap) continue;
        persist.saveRotary(group, snap.lastOffered ?? undefined);
        this.#journal?.append('hunt', snap);
      }
    });
  }

  /** Empties the queues (their callers belong to the B2BUA, which ends them); the store stays open (it is not ours). */
  close(): void {
    if (this.#closed) return;
    this.#flush();
    this.#closed = true;
    for (const g of this.#groups.values()) g.queue.clear();
    for (const g of this.#retired.values()) g.queue.clear();
  }

  #get(group: string): GroupState {
    checkExtension(group, 'group');
    const g = this.#groups.get(group) ?? this.#retired.get(group);
    if (!g) throw new TypeError(`group: unknown hunt group ${JSON.stringify(group)}`);
    return g;
  }

  #open(): void {
    if (this.#closed) throw new Error('hunt groups: closed');
  }
}
