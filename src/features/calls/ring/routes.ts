/**
 * Ringing out through trunks: the routes of an ARS form (or one line group) in turn. A route
 * that fails (5xx, no answer within its trunk's setup time, unreachable) hands the call to the
 * next at once; when every route is busy the caller camps on, hearing the camp-on tone, until a
 * channel frees or the alternate route's wait runs out.
 */
import type { OutboundRoute } from '../outbound.js';
import type { Fork } from '../session.js';
import { CAMP_ON } from '../tones.js';
import { dispositionOf } from './contacts.js';
import type { Ringer, RingStrategy } from './strategy.js';

export class RoutesStrategy implements RingStrategy {
  readonly #route: OutboundRoute;
  readonly #number: string;
  readonly ringTimeout = true;
  #r: Ringer | undefined;
  #unwatch: (() => void) | undefined;
  #lastFailure: number | undefined;
  #stopped = false;

  /** `number`: the number dialled (the record's connected number). */
  constructor(number: string, route: OutboundRoute) {
    this.#number = number;
    this.#route = route;
  }

  get target(): string {
    return this.#number;
  }

  start(r: Ringer): void {
    this.#r = r;
    this.#next();
  }

  progress(): void {
    this.#r?.timers.clear('setup');
  }

  forkFailed(_f: Fork, status: number): void {
    const r = this.#r!;
    r.timers.clear('setup');
    if ((status >= 500 && status < 600) || status === 408) {
      this.#lastFailure = status;
      r.log.info(`route failed with ${status}: trying the next`, { call: r.info.id });
      return this.#next();
    }
    r.fail({ status, disposition: dispositionOf(status), cause: String(status), why: `far end answered ${status}` });
  }

  answered(): void {
    this.#r?.timers.clear('setup');
  }

  stop(): void {
    this.#stopped = true;
    this.#stopCampOn();
    this.#r?.timers.clear('setup');
  }

  #next(): void {
    const r = this.#r!;
    if (this.#stopped) return;
    const next = this.#route.next();
    if (next.kind === 'refused') {
      this.#stopCampOn();
      const status = next.status === 503 && this.#lastFailure !== undefined ? this.#lastFailure : next.status;
      return r.fail({ status, reason: status === next.status ? next.reason : undefined, disposition: status === 486 ? 'busy' : 'failed', cause: String(status), why: next.reason });
    }
    if (next.kind === 'wait') return this.#campOn(next.ms);
    this.#stopCampOn();
    const trunk = next.trunk;
    void r.ringTrunk(next).then((f) => r.guard('route', () => {
      if (this.#stopped) return;
      if (!f) return this.#next();
      r.timers.set('setup', trunk.config.setupTimeoutSeconds * 1000, () => {
        if (f.leg.heard) return;
        r.log.warn(`trunk ${trunk.name} gave no answer within its setup time: next route`, { callId: f.leg.callId, call: r.info.id });
        r.giveUp(f, 408);
      });
    }), (e: unknown) => r.guard('route', () => {
      throw e;
    }));
  }

  #campOn(ms: number): void {
    const r = this.#r!;
    if (this.#unwatch) return;
    r.log.info(`every route busy: camping on for ${ms} ms`, { call: r.info.id });
    r.hold(CAMP_ON);
    this.#unwatch = r.watchRoutes(() => {
      if (this.#unwatch) this.#next();
    });
    r.timers.set('camp-on', ms, () => {
      this.#stopCampOn();
      this.#route.waitExpired();
      this.#next();
    });
    r.waiting();
  }

  #stopCampOn(): void {
    if (!this.#unwatch) return;
    const r = this.#r!;
    this.#unwatch();
    this.#unwatch = undefined;
    r.timers.clear('camp-on');
    r.hold(undefined);
  }
}
