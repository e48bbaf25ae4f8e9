/**
 * Simultaneous calls per user: one account must not take every channel (140 meet-me calls that
 * never hang up). The limit is the user's rights' maxCalls, else calls.maxCallsPerUser; the B2BUA
 * counts the user's calls and asks before each new one.
 */
import type { Alarms } from '../alarms.js';
import type { Logger } from '../logger.js';
import { LogLimit } from '../../sip/log-limit.js';

export interface CallLimitsOptions {
  /** Calls at once for a user without a limit of its own. */
  defaultMax: number;
  /** Users with a limit of their own (from their rights). */
  perUser?: ReadonlyMap<string, number>;
  logger: Logger;
  alarms?: Alarms;
}

export class CallLimits {
  #o: CallLimitsOptions;
  readonly #log = new LogLimit(10, 60_000);
  readonly stats = { refused: 0 };

  constructor(opts: CallLimitsOptions) {
    if (opts === null || typeof opts !== 'object') throw new TypeError('opts: object');
    if (!Number.isInteger(opts.defaultMax) || opts.defaultMax < 1) throw new TypeError('defaultMax: positive integer');
    this.#o = opts;
  }

  /** New limits for the calls that follow (a live reconfiguration); calls up now are not touched. */
  reconfigure(limits: Pick<CallLimitsOptions, 'defaultMax' | 'perUser'>): void {
    if (limits === null || typeof limits !== 'object') throw new TypeError('limits: object');
    if (!Number.isInteger(limits.defaultMax) || limits.defaultMax < 1) throw new TypeError('limits.defaultMax: positive integer');
    this.#o = { ...this.#o, defaultMax: limits.defaultMax, perUser: limits.perUser };
  }

  limitOf(user: string): number {
    return this.#o.perUser?.get(user) ?? this.#o.defaultMax;
  }

  /** The reason phrase of a 403 when `user`, with `active` calls now, may not start another; else undefined. */
  refusal(user: string, active: number): string | undefined {
    const max = this.limitOf(user);
    if (active < max) return undefined;
    this.stats.refused++;
    if (this.#log.take() !== undefined) this.#o.logger.warn(`security: call refused: ${user} has ${active} calls (the limit)`, { event: 'call-limit', user, limit: max });
    this.#o.alarms?.raise('calls.user-limit', {
      key: user, severity: 'warning', ttlMs: 300_000,
      message: `user ${user} reached its limit of ${max} calls at once`, details: { user, limit: max },
    });
    return `Forbidden (at most ${max} calls at once for ${user})`;
  }
}
