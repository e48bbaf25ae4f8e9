/**
 * Calls to hunt groups, as the B2BUA runs them: for each call a driver (GroupCall) that tells the
 * call which members to ring next, when to wait in the queue hearing music and announcements,
 * when to overflow and when to go to the group's mailbox. The rules are the pure functions of
 * rules.ts; the member choice is HuntGroups.hunt(). Queued callers are served first come, first
 * served: a queued caller rings members only while every caller queued ahead of it is ringing
 * members too; the others wait.
 */
import type { Logger } from '../../core/logger.js';
import type { PlayerSource } from '../../media/index.js';
import type { HuntCallee, HuntDriver, HuntStep } from '../calls/index.js';
import type { HuntGroups } from './hunt-groups.js';
import { mailboxOrBusy, nextAnnouncement, overflowDue, voicemailDue } from './rules.js';
import type { HuntGroupConfig, HuntTarget, MemberAvailability } from './types.js';

export interface HuntCallsOptions {
  groups: HuntGroups;
  logger: Logger;
  /** What queued callers hear between announcements. */
  music: PlayerSource;
  /** Announcements by group (its own WAV files) or the built-in ones. */
  announcement: (group: HuntGroupConfig, which: 'first' | 'second') => Int16Array;
  now?: () => number;
}

export class HuntCalls {
  readonly groups: HuntGroups;
  readonly #o: HuntCallsOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #live = new Set<GroupCall>();
  /** Each group's queued calls in arrival order (the queue in HuntGroups is the count and limit). */
  readonly #queues = new Map<string, GroupCall[]>();
  #wakeQueued = false;
  #closed = false;

  constructor(opts: HuntCallsOptions) {
    if (!opts || typeof opts !== 'object') throw new TypeError('opts: object expected');
    if (!opts.groups) throw new TypeError('opts.groups: HuntGroups expected');
    if (typeof opts.announcement !== 'function') throw new TypeError('opts.announcement: function expected');
    this.#o = opts;
    this.groups = opts.groups;
    this.#log = opts.logger.child({ feature: 'huntgroups' });
    this.#now = opts.now ?? Date.now;
  }

  isGroup(extension: string): boolean {
    return this.groups.isGroup(extension);
  }

  /**
   * Where a call to `group` goes: a driver that rings its members (and queues, overflows, goes
   * to voicemail by the group's rules), or, in night service or out of service, the fallback.
   */
  route(group: string, callId: string, availability: (user: string) => MemberAvailability): HuntDriver | HuntTarget {
    const cfg = this.groups.group(group);
    if (!cfg) throw new TypeError(`group: ${group} is not a hunt group`);
    const target = this.groups.serviceTarget(group);
    if (target) {
      this.#log.info(`hunt group ${group} is ${this.groups.serviceState(group) === 'night' ? 'in night service' : 'out of service'}: call goes to ${describe(target)}`, { call: callId });
      return target;
    }
    if (this.#closed) return { kind: 'busy', reason: 'hunt groups are shutting down' };
    const gc = new GroupCall(this, cfg, callId, availability);
    this.#live.add(gc);
    return gc;
  }

  /** A user's call ended: longest waiting counts from now, and a queued caller may ring them. */
  memberIdle(user: string): void {
    this.groups.memberIdle(user, this.#now());
    this.wake();
  }

  /**
   * Lets queued callers try the members again (one freed up, or a caller ahead left or is
   * ringing someone): once per turn however often it is asked, each group's queue in order,
   * stopping at the first caller that still finds nobody (those behind it would too). Cost: the
   * callers at the front that are ringing, not the length of the queue.
   */
  wake(): void {
    if (this.#wakeQueued || this.#closed) return;
    this.#wakeQueued = true;
    queueMicrotask(() => {
      this.#wakeQueued = false;
      for (const queue of this.#queues.values()) {
        for (const gc of [...queue]) {
          if (!gc.waiting) continue;
          gc.retry();
          if (gc.waiting) break;
        }
      }
    });
  }

  /** True when a caller queued ahead of `gc` in its group is waiting: it goes first. */
  blocked(gc: GroupCall): boolean {
    for (const other of this.#queues.get(gc.group) ?? []) {
      if (other === gc) return false;
      if (other.waiting) return true;
    }
    return false;
  }

  /** `gc` joined its group's queue (at the back). */
  queued(gc: GroupCall): void {
    let q = this.#queues.get(gc.group);
    if (!q) this.#queues.set(gc.group, (q = []));
    q.push(gc);
  }

  /** `gc` left its group's queue. */
  unqueued(gc: GroupCall): void {
    const q = this.#queues.get(gc.group);
    const i = q ? q.indexOf(gc) : -1;
    if (i >= 0) q!.splice(i, 1);
  }

  status(): ReturnType<HuntGroups['status']> {
    return this.groups.status();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const gc of [...this.#live]) gc.ended();
    this.#queues.clear();
    this.groups.close();
  }

  // for GroupCall
  get now(): number {
    return this.#now();
  }

  get log(): Logger {
    return this.#log;
  }

  get options(): HuntCallsOptions {
    return this.#o;
  }

  done(gc: GroupCall): void {
    this.#live.delete(gc);
  }
}

interface Offer {
  group: string;
  members: readonly string[];
  ms: number;
}

/** One call to a hunt group: its passes over the members, its place in the queue, its timers. */
class GroupCall implements HuntDriver {
  readonly #m: HuntCalls;
  readonly #cfg: HuntGroupConfig;
  readonly #id: string;
  readonly #availability: (user: string) => MemberAvailability;
  readonly #start: number;
  #call: HuntCallee | undefined;
  /** The groups whose members are hunted: the group, then its overflow groups once it overflows. */
  #hunted: string[];
  #offers: Offer[] = [];
  #inPass = false;
  #passes = 0;
  #overflowed = false;
  #overflowTime = false;
  #voicemailTime = false;
  #queued = false;
  #waiting = false;
  #announcements = 0;
  #timers: NodeJS.Timeout[] = [];
  #announceTimer: NodeJS.Timeout | undefined;
  #pause: NodeJS.Timeout | undefined;
  #passStart = 0;
  #ended = false;

  constructor(m: HuntCalls, cfg: HuntGroupConfig, id: string, availability: (user: string) => MemberAvailability) {
    this.#m = m;
    this.#cfg = cfg;
    this.#id = id;
    this.#availability = availability;
    this.#start = m.now;
    this.#hunted = [cfg.extension];
  }

  get group(): string {
    return this.#cfg.extension;
  }

  /** Queued and waiting (not ringing anyone). */
  get waiting(): boolean {
    return this.#waiting && !this.#ended;
  }

  retry(): void {
    this.#call?.rehunt();
  }

  attach(call: HuntCallee): void {
    this.#call = call;
    const cfg = this.#cfg;
    const later = (ms: number, fn: () => void) => {
      const t = setTimeout(fn, Math.max(0, ms));
      t.unref();
      this.#timers.push(t);
    };
    if (cfg.voicemailAnswerSeconds !== null && cfg.voicemail.enabled) {
      later(cfg.voicemailAnswerSeconds * 1000, () => {
        this.#voicemailTime = true;
        call.rehunt();
      });
    }
    if (cfg.overflow && cfg.overflow.seconds > 0) {
      later(cfg.overflow.seconds * 1000, () => {
        this.#overflowTime = true;
        call.rehunt();
      });
    }
  }

  next(): HuntStep {
    const cfg = this.#cfg;
    const groups = this.#m.groups;
    this.#waiting = false;
    clearTimeout(this.#pause);
    if (this.#voicemailTime || voicemailDue(cfg, this.#elapsed)) {
      this.#m.log.info(`hunt group ${cfg.extension}: voicemail answer time reached, call goes to its mailbox`, { call: this.#id });
      this.#leaveQueue();
      return { kind: 'voicemail', mailbox: cfg.extension };
    }
    // bounded: each turn either returns or completes a pass (at most a few per call to next())
    for (let turn = 0; turn < 4; turn++) {
      this.#maybeOverflow();
      if (this.#queued && this.#m.blocked(this)) return this.#wait();
      const offer = this.#offers.shift();
      if (offer) {
        for (const u of offer.members) groups.offered(offer.group, u);
        // the next queued caller may ring another free member meanwhile
        if (this.#queued) this.#m.wake();
        this.#m.log.debug(`hunt group ${offer.group}: offering the call to ${offer.members.join(', ')}`, { call: this.#id });
        return { kind: 'ring', members: [...offer.members], ms: offer.ms };
      }
      if (this.#inPass) {
        this.#inPass = false;
        this.#passes++;
        const overflowed = this.#overflowed;
        this.#maybeOverflow();
        if (this.#overflowed !== overflowed) continue;
        // members that refused at once (486) would be rung again at network speed: a pass
        // lasts at least the no-answer time, the caller hearing ringback meanwhile
        const rest = this.#passStart + cfg.noAnswerSeconds * 1000 - this.#m.now;
        if (rest > 50) {
          this.#pause = setTimeout(() => this.#call?.rehunt(), rest);
          this.#pause.unref();
          return { kind: 'wait' };
        }
        continue;
      }
      for (const g of this.#hunted) {
        const round = groups.hunt(g, this.#availability);
        for (const members of round.offers) this.#offers.push({ group: g, members, ms: round.noAnswerMs });
      }
      if (this.#offers.length) {
        this.#inPass = true;
        this.#passStart = this.#m.now;
        continue;
      }
      // nobody available: a pass with nobody in it counts at once
      this.#passes++;
      this.#maybeOverflow();
      if (this.#offers.length) continue;
      if (cfg.queue.enabled) {
        if (!this.#queued) {
          const r = groups.enqueue(cfg.extension, this.#id);
          if ('refused' in r) {
            this.#m.log.info(`hunt group ${cfg.extension}: queue full`, { call: this.#id });
            return step(mailboxOrBusy(cfg, `hunt group ${cfg.extension}: queue full`));
          }
          this.#queued = true;
          this.#m.queued(this);
          this.#m.log.info(`hunt group ${cfg.extension}: call queued at position ${r.position}`, { call: this.#id });
        }
        return this.#wait();
      }
      if (!cfg.overflow || this.#overflowed) return step(mailboxOrBusy(cfg, `no member of hunt group ${cfg.extension} is available`));
    }
    return this.#wait();
  }

  answered(member: string): void {
    this.#m.log.info(`hunt group ${this.#cfg.extension}: answered by ${member}`, { call: this.#id });
    this.#m.groups.memberBusy(member);
    this.ended();
  }

  ended(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#waiting = false;
    for (const t of this.#timers) clearTimeout(t);
    clearTimeout(this.#announceTimer);
    clearTimeout(this.#pause);
    const wasQueued = this.#queued;
    this.#leaveQueue();
    this.#m.done(this);
    // the next caller in the queue may take a member now
    if (wasQueued) this.#m.wake();
  }

  get #elapsed(): number {
    return this.#m.now - this.#start;
  }

  #maybeOverflow(): void {
    const cfg = this.#cfg;
    if (this.#overflowed || !cfg.overflow?.groups.length) return;
    const due = this.#overflowTime || overflowDue(cfg, { elapsedMs: this.#elapsed, passesDone: this.#passes });
    if (!due) return;
    this.#overflowed = true;
    this.#hunted = [cfg.extension, ...cfg.overflow.groups];
    this.#offers = [];
    this.#inPass = false;
    this.#leaveQueue();
    this.#m.log.info(`hunt group ${cfg.extension}: overflow to ${cfg.overflow.groups.join(', ')}`, { call: this.#id });
    // the overflow groups' members are hunted at once
    for (const g of cfg.overflow.groups) {
      const round = this.#m.groups.hunt(g, this.#availability);
      for (const members of round.offers) this.#offers.push({ group: g, members, ms: round.noAnswerMs });
    }
    if (this.#offers.length) {
      this.#inPass = true;
      this.#passStart = this.#m.now;
    }
  }

  #leaveQueue(): void {
    if (!this.#queued) return;
    this.#queued = false;
    this.#m.unqueued(this);
    this.#m.groups.dequeue(this.#cfg.extension, this.#id);
  }

  /** Queued: music, with the announcements at their times (counted from the call's arrival). */
  #wait(): HuntStep {
    const first = !this.#waiting && this.#announceTimer === undefined && this.#announcements === 0;
    this.#waiting = true;
    if (first) {
      this.#call?.hold(this.#m.options.music);
      this.#schedule(this.#start);
    }
    return { kind: 'wait' };
  }

  #schedule(from: number): void {
    const next = nextAnnouncement(this.#cfg.queue, this.#announcements);
    if (!next) return;
    this.#announceTimer = setTimeout(() => {
      if (this.#ended) return;
      const call = this.#call;
      const music = this.#m.options.music;
      this.#m.log.debug(`hunt group ${this.#cfg.extension}: ${next.prompt} announcement`, { call: this.#id });
      call?.hold({ pcm: this.#m.options.announcement(this.#cfg, next.prompt) }, () => {
        this.#announcements++;
        if (this.#ended) return;
        call.hold(music);
        this.#schedule(this.#m.now);
      });
    }, Math.max(0, from + next.afterMs - this.#m.now));
    this.#announceTimer.unref();
  }
}

function step(t: HuntTarget): HuntStep {
  if (t.kind === 'voicemail') return { kind: 'voicemail', mailbox: t.mailbox };
  if (t.kind === 'busy') return { kind: 'busy', reason: t.reason };
  // a number is only a service fallback, decided before the call starts
  return { kind: 'busy', reason: `hunt group fallback ${t.number}` };
}

function describe(t: HuntTarget): string {
  return t.kind === 'number' ? t.number : t.kind === 'voicemail' ? `mailbox ${t.mailbox}` : `busy (${t.reason})`;
}
