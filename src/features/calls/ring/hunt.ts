/**
 * Ringing a hunt group: its driver (the hunt group feature) says, step by step, which members
 * ring, when the caller waits in the queue hearing music, and when it goes to the group's
 * mailbox or gets busy. The call's ring timeout does not apply: the group's rules decide.
 */
import type { PlayerSource } from '../../../media/index.js';
import type { Fork } from '../session.js';
import type { HuntDriver, Ringer, RingStrategy } from './strategy.js';

/** Steps taken at once (members without phones) before giving up: bounded, never a loop. */
const MAX_STEPS = 1000;

export class HuntStrategy implements RingStrategy {
  readonly #driver: HuntDriver;
  readonly ringTimeout = false;
  #target: string;
  #r: Ringer | undefined;
  #stopped = false;

  constructor(group: string, driver: HuntDriver) {
    this.#target = group;
    this.#driver = driver;
  }

  get target(): string {
    return this.#target;
  }

  start(r: Ringer): void {
    this.#r = r;
    const self = this;
    this.#driver.attach({
      get ended() {
        return self.#stopped;
      },
      rehunt: () => this.#step(),
      hold: (source: PlayerSource | undefined, onEnd?: () => void) => {
        if (!this.#stopped) r.hold(source, onEnd);
      },
    });
    this.#step();
  }

  forkFailed(_f: Fork, _status: number, pending: number): void {
    if (pending === 0) this.#step();
  }

  answered(f: Fork): void {
    this.#target = f.leg.party;
    this.#driver.answered(f.leg.party);
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#r?.timers.clear('hunt-step');
    this.#driver.ended();
  }

  /** Stops what rings, asks the driver for the next step and does it. */
  #step(): void {
    const r = this.#r!;
    if (this.#stopped) return;
    r.timers.clear('hunt-step');
    r.stopForks();
    for (let n = 0; n < MAX_STEPS && !this.#stopped; n++) {
      const step = this.#driver.next();
      switch (step.kind) {
        case 'wait':
          return r.waiting();
        case 'busy':
          return r.fail({ status: 486, reason: `Busy Here (${step.reason})`, disposition: 'busy', cause: '486', why: step.reason });
        case 'voicemail':
          if (!r.divert(step.mailbox, 'hunt group')) r.fail({ status: 486, reason: 'Busy Here (no voicemail)', disposition: 'failed', cause: '486', why: 'no voicemail' });
          return;
        case 'ring':
          if (r.ringExtensions(step.members) === 0) continue;
          if (step.ms !== undefined) r.timers.set('hunt-step', step.ms, () => this.#step());
          return;
      }
    }
    if (!this.#stopped) r.fail({ status: 480, reason: 'Temporarily Unavailable (no member answers)', disposition: 'failed', cause: '480', why: 'no member answers' });
  }
}
