/**
 * Ringing an extension: every registered phone at once (the first to answer wins), forwarding
 * on busy and on no answer (once per call; to another extension or out through the dial plan
 * with the forwarding user's rights), and the user's mailbox for what forwarding does not take.
 */
import type { Fork } from '../session.js';
import type { Ringer, RingOutcome, RingStrategy } from './strategy.js';

/** A refusal decided when forwarding is followed (a barred number, nothing routed). */
export interface Refusal {
  status: number;
  reason: string;
}

/** Where forwarding sends the call: built when it happens, so it sees the state of that moment. */
export interface Forward {
  /** The number forwarded to (logs). */
  to: string;
  make(): RingStrategy | Refusal;
}

export interface ContactsPlan {
  extension: string;
  /** Every phone busy (486, 600, 603). */
  busy?: Forward;
  /** Not answered within `ms`, or refused otherwise, or no phone registered. */
  noAnswer?: { ms: number; forward: Forward };
  /**
   * Unanswered after `afterMs`, refused, or no phone: the caller leaves a message here; `remote`:
   * the mailbox is on another node (the voicemail node of a solution), reached this way.
   */
  voicemail?: { mailbox: string; afterMs: number; remote?: () => RingStrategy | Refusal };
}

/** RFC 3261 16.7: 6xx beats all, then busy, then the lowest class. */
export function bestFailure(statuses: number[]): number {
  return statuses.find((s) => s >= 600) ?? statuses.find((s) => s === 486) ?? Math.min(...statuses);
}

export function dispositionOf(status: number): RingOutcome['disposition'] {
  return status === 486 || status === 600 ? 'busy' : status === 408 || status === 480 ? 'no-answer' : 'rejected';
}

export class ContactsStrategy implements RingStrategy {
  readonly #plan: ContactsPlan;
  readonly ringTimeout = true;
  #r: Ringer | undefined;
  #failures: number[] = [];

  constructor(plan: ContactsPlan) {
    this.#plan = plan;
  }

  get target(): string {
    return this.#plan.extension;
  }

  start(r: Ringer): void {
    this.#r = r;
    const plan = this.#plan;
    if (r.ringExtensions([plan.extension]) === 0) {
      if (this.#forward(plan.noAnswer?.forward, 'not registered') || this.#voicemail('no phone registered')) return;
      return r.fail({ status: 480, reason: 'Temporarily Unavailable (no registered contact)', disposition: 'failed', cause: '480', why: 'no registered contact' });
    }
    const na = plan.noAnswer;
    const vm = plan.voicemail;
    if (na) r.timers.set('no-answer', na.ms, () => this.#forward(na.forward, 'no answer'));
    else if (vm) r.timers.set('no-answer', vm.afterMs, () => this.#voicemail('no answer'));
  }

  forkFailed(_f: Fork, status: number, pending: number): void {
    const r = this.#r!;
    this.#failures.push(status);
    if (pending > 0) return;
    const all = this.#failures;
    if (all.every((s) => s === 486 || s === 600 || s === 603) && this.#forward(this.#plan.busy, 'busy')) return;
    if (this.#forward(this.#plan.noAnswer?.forward, `answered ${status}`)) return;
    if (this.#voicemail(`answered ${status}`)) return;
    const best = bestFailure(all);
    r.fail({ status: best === 408 ? 480 : best, disposition: dispositionOf(best), cause: String(best), why: `callee answered ${best}` });
  }

  answered(): void {
    this.#r?.timers.clear('no-answer');
  }

  stop(): void {
    this.#r?.timers.clear('no-answer');
  }

  /** The caller goes on to the user's mailbox (here, or over a node link); false when there is none. */
  #voicemail(why: string): boolean {
    const r = this.#r!;
    const vm = this.#plan.voicemail;
    if (!vm) return false;
    if (!vm.remote) return r.divert(vm.mailbox, why);
    r.timers.clear('no-answer');
    const next = vm.remote();
    if ('status' in next) return false;
    r.log.info(`call to ${vm.mailbox} goes to its mailbox on another node (${why})`, { call: r.info.id });
    r.switchTo(next);
    return true;
  }

  #forward(fw: Forward | undefined, why: string): boolean {
    const r = this.#r!;
    if (!fw) return false;
    r.timers.clear('no-answer');
    r.forwarded(fw.to, why);
    const next = fw.make();
    if ('status' in next) {
      r.fail({ status: next.status, reason: next.reason, disposition: next.status === 486 ? 'busy' : 'failed', cause: String(next.status), why: `forwarding to ${fw.to} refused: ${next.reason}` });
      return true;
    }
    r.switchTo(next);
    return true;
  }
}
