/**
 * Ringing a number that another node of the solution serves: one INVITE over a node link (the
 * node's own link, else through a core), and the next link when one fails (5xx, no response
 * within the link's setup time, unreachable). Whatever the far node answers (busy, no answer,
 * its forwarding or mailbox) is this call's answer: the user's features run where the user is.
 * A link that goes down while the call rings over it (the far node died with the call waiting
 * there: in a hunt group's queue, hearing early media) ends the call with 503: no final answer
 * would ever come, and nothing else times out a call that had a provisional one.
 */
import type { LinkRoute } from '../types.js';
import type { Fork } from '../session.js';
import { dispositionOf } from './contacts.js';
import type { Ringer, RingStrategy } from './strategy.js';

/** How often a call ringing over a link looks whether the link is still up (ms). */
const LINK_CHECK_MS = 500;

export interface RemoteTarget {
  /** The number asked of the far node (the Request-URI's user). */
  number: string;
  /** The node that serves it. */
  node: string;
  /** The routes to try, best first; asked when ringing starts (links come and go). */
  routes: () => LinkRoute[];
  /** The call's ring timeout applies (a person is rung; not voicemail or a room). */
  ringTimeout: boolean;
}

export class RemoteStrategy implements RingStrategy {
  readonly #t: RemoteTarget;
  readonly ringTimeout: boolean;
  #routes: LinkRoute[] = [];
  #r: Ringer | undefined;
  #lastFailure: number | undefined;
  /** The far node's reason for it (a capacity refusal names the limit): the caller gets it. */
  #lastReason: string | undefined;
  #stopped = false;

  constructor(t: RemoteTarget) {
    this.#t = t;
    this.ringTimeout = t.ringTimeout;
  }

  get target(): string {
    return this.#t.number;
  }

  /** The node the call goes to (explain, logs). */
  get node(): string {
    return this.#t.node;
  }

  start(r: Ringer): void {
    this.#r = r;
    this.#routes = this.#t.routes();
    this.#next();
  }

  progress(): void {
    this.#r?.timers.clear('setup');
  }

  forkFailed(_f: Fork, status: number, _pending: number, reason?: string): void {
    const r = this.#r!;
    r.timers.clear('setup');
    r.timers.clear('link');
    if ((status >= 500 && status < 600) || status === 408) {
      this.#lastFailure = status;
      this.#lastReason = reason;
      r.log.info(`node link failed with ${status}: trying the next`, { call: r.info.id, node: this.#t.node });
      return this.#next();
    }
    r.fail({ status, reason, disposition: dispositionOf(status), cause: String(status), why: `node ${this.#t.node} answered ${status}${reason ? ` ${reason}` : ''}` });
  }

  answered(): void {
    this.#r?.timers.clear('setup');
    this.#r?.timers.clear('link');
  }

  stop(): void {
    this.#stopped = true;
    this.#r?.timers.clear('setup');
    this.#r?.timers.clear('link');
  }

  /** Until the fork is answered or fails: a link found down gives it up (503, the caller told). */
  #watch(f: Fork, link: LinkRoute): void {
    const r = this.#r!;
    r.timers.set('link', LINK_CHECK_MS, () => {
      if (this.#stopped) return;
      if (link.up()) return this.#watch(f, link);
      r.log.warn(`node ${link.peer}: its link went down while the call rang there; the call ends`, { callId: f.leg.callId, call: r.info.id });
      r.giveUp(f, 503, `Service Unavailable (the link to node ${link.peer} went down)`);
    });
  }

  #next(): void {
    const r = this.#r!;
    if (this.#stopped) return;
    let route = this.#routes.shift();
    while (route !== undefined && !route.acquire()) route = this.#routes.shift();
    if (!route) {
      const status = this.#lastFailure ?? 503;
      const reason = this.#lastFailure === undefined ? `Service Unavailable (no link to node ${this.#t.node} is up)` : this.#lastReason;
      const why = this.#lastFailure === undefined ? reason! : `every link to node ${this.#t.node} failed${reason ? `: ${reason}` : ''}`;
      return r.fail({ status, reason, disposition: 'failed', cause: String(status), why });
    }
    const link = route;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      link.release();
    };
    void r.ringTrunk({ kind: 'trunk', trunk: link, number: this.#t.number, callerId: {}, release }).then((f) => r.guard('link', () => {
      if (this.#stopped) return;
      if (!f) return this.#next();
      this.#watch(f, link);
      r.timers.set('setup', link.config.setupTimeoutSeconds * 1000, () => {
        if (f.leg.heard) return;
        r.log.warn(`node ${link.peer} gave no answer within the link's setup time: next link`, { callId: f.leg.callId, call: r.info.id });
        r.giveUp(f, 408);
      });
    }), (e: unknown) => r.guard('link', () => {
      throw e;
    }));
  }
}
