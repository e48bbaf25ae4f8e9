/**
 * RFC 4028 session timers, UAS side: an INVITE dialog is refreshed (re-INVITE or UPDATE) at
 * least once per session interval, and a dialog nobody refreshes is ended. Without it a party
 * that vanished without a BYE (a phone unplugged, a client that never hangs up) holds its call
 * and channels for ever.
 *
 * The interval is the smaller of ours and the one the caller asked for, never below Min-SE. A
 * caller that supports timers refreshes (unless it asked us to); we refresh the others ourselves
 * (refresher=uas, RFC 4028 section 9) with UPDATE where they allow it, else re-INVITE.
 */
import type { SipRequest } from '../message/message.js';
import type { TimerClock } from '../transaction/timers.js';

/** The process clock; a timer is owned by its SessionTimer and cleared by close(). */
const processClock: TimerClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface SessionTimerPolicy {
  /** Our session interval (seconds, >= minSE). */
  sessionExpires: number;
  /** The smallest interval we accept (seconds; RFC 4028: at least 90). */
  minSE: number;
}

export interface Negotiated {
  /** Seconds. */
  interval: number;
  refresher: 'uac' | 'uas';
  /** The caller said Supported: timer (so our 2xx may Require it). */
  peerSupports: boolean;
  /** For our 2xx to the INVITE and to each refresh. */
  headers: Record<string, string>;
}

function hasTag(req: SipRequest, header: string, tag: string): boolean {
  return req.getAll(header).some((v) => v.split(',').some((t) => t.trim().toLowerCase() === tag));
}

/** What we answer an INVITE (or a refresh) with; undefined when timers are off. */
export function negotiateUas(req: SipRequest, policy: SessionTimerPolicy | undefined): Negotiated | undefined {
  if (!policy || policy.sessionExpires <= 0) return undefined;
  const peerSupports = hasTag(req, 'supported', 'timer') || hasTag(req, 'require', 'timer');
  let interval = policy.sessionExpires;
  let asked: string | undefined;
  const se = req.get('session-expires') ?? req.get('x');
  if (se !== undefined) {
    const [value, ...params] = se.split(';');
    const n = Number(value!.trim());
    if (Number.isInteger(n) && n > 0) interval = Math.min(interval, n);
    asked = params.map((p) => p.trim().toLowerCase()).find((p) => p.startsWith('refresher='))?.slice(10);
  }
  interval = Math.max(interval, policy.minSE);
  // a caller without timer support cannot refresh: we do (RFC 4028 section 9)
  const refresher: 'uac' | 'uas' = peerSupports && asked !== 'uas' ? 'uac' : 'uas';
  const headers: Record<string, string> = { 'session-expires': `${interval};refresher=${refresher}` };
  if (peerSupports) headers.require = 'timer';
  return { interval, refresher, peerSupports, headers };
}

export interface SessionTimerOptions {
  /** Session interval (ms). */
  intervalMs: number;
  /** We refresh (true), or we watch the peer refresh (false). */
  weRefresh: boolean;
  /** Sends a refresh; resolves with the final status (408 on a timeout, 503 on a transport failure). */
  refresh: () => Promise<number>;
  /** The session is over: hang up. */
  expire: (why: string) => void;
  /** Time (default the process clock; the B2BUA passes its own, tests a manual one). */
  clock?: TimerClock;
}

export enum SessionTimerState {
  Idle = 'Idle',
  Running = 'Running',
  Expired = 'Expired',
  Closed = 'Closed',
}

export class SessionTimer {
  readonly #o: SessionTimerOptions;
  readonly #clock: TimerClock;
  #state = SessionTimerState.Idle;
  #timer: unknown;
  /** When the session runs out unless refreshed (ms since the epoch). */
  #expiresAt = 0;

  constructor(opts: SessionTimerOptions) {
    if (opts === null || typeof opts !== 'object') throw new TypeError('opts: object');
    if (!(Number.isFinite(opts.intervalMs) && opts.intervalMs > 0)) throw new TypeError('intervalMs: positive number');
    if (typeof opts.refresh !== 'function') throw new TypeError('refresh: function');
    if (typeof opts.expire !== 'function') throw new TypeError('expire: function');
    if (opts.clock !== undefined && typeof opts.clock?.setTimeout !== 'function') throw new TypeError('clock: TimerClock');
    this.#o = opts;
    this.#clock = opts.clock ?? processClock;
  }

  get state(): SessionTimerState {
    return this.#state;
  }

  start(): void {
    if (this.#state !== SessionTimerState.Idle) return;
    this.#state = SessionTimerState.Running;
    this.refreshed();
  }

  /** A refresh went through (ours answered 2xx, or the peer's re-INVITE/UPDATE arrived). */
  refreshed(): void {
    if (this.#state !== SessionTimerState.Running) return;
    const ms = this.#o.intervalMs;
    this.#expiresAt = this.#clock.now() + ms;
    // RFC 4028 10: the refresher sends at half the interval; the other side gives up at
    // interval - min(32 s, interval / 3) without a refresh
    this.#arm(this.#o.weRefresh ? ms / 2 : ms - Math.min(32_000, ms / 3));
  }

  close(): void {
    if (this.#state === SessionTimerState.Closed) return;
    this.#state = SessionTimerState.Closed;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(ms: number): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      void this.#fire();
    }, Math.max(0, ms));
  }

  async #fire(): Promise<void> {
    if (this.#state !== SessionTimerState.Running) return;
    if (!this.#o.weRefresh) return this.#expire('the peer did not refresh the session');
    const status = await this.#o.refresh();
    if (this.#state !== SessionTimerState.Running) return;
    if (status >= 200 && status < 300) return this.refreshed();
    // RFC 4028 10: 408 or 481 (or no answer) end the session; other refusals leave it to run out
    if (status === 408 || status === 481 || status === 503) return this.#expire(`session refresh answered ${status}`);
    const left = this.#expiresAt - this.#clock.now();
    if (left <= 0) return this.#expire(`session refresh answered ${status} until the session ran out`);
    this.#arm(Math.min(left, Math.max(1000, left / 2)));
  }

  #expire(why: string): void {
    this.close();
    this.#state = SessionTimerState.Expired;
    this.#o.expire(why);
  }
}
