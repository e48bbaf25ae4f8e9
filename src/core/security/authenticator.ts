import { parseDigestParams, type DigestServer, type VerifyResult } from '../../sip/auth/digest.js';
import { LogLimit } from '../../sip/log-limit.js';
import type { SipRequest, SipResponse } from '../../sip/message/message.js';
import type { SipStack } from '../../sip/stack.js';
import type { Source } from '../../sip/transport/types.js';
import type { Alarms } from '../alarms.js';
import type { Logger } from '../logger.js';
import { Lockout } from './lockout.js';
import { TtlMap } from '../../sip/ttl-map.js';

export type AuthResult = { ok: true; user: string } | { ok: false; response: SipResponse };

export interface AuthenticatorOptions {
  stack: SipStack;
  digest: DigestServer;
  /** Failures of one user from one address: that pair is locked out. */
  lockout: Lockout;
  /** Failures from one address (an IPv6 /64) for any users: the address is blocked (SIPVicious svcrack, svwar). */
  sourceLimit?: Lockout;
  /** Failures of one user from any addresses: only the addresses it logged in from before are let in (a botnet guessing one password). */
  userLimit?: Lockout;
  alarms?: Alarms;
  logger: Logger;
  /** The user's password, or undefined when there is no such user. */
  password: (user: string) => string | undefined;
  /** How long a successful login keeps its (user, address) pair known (default 7 days). */
  knownPairMs?: number;
  now?: () => number;
}

/** Failure reasons that are guesses (counted); the others are re-challenged without counting. */
const GUESSES: ReadonlySet<string> = new Set(['bad-response', 'unknown-user', 'realm', 'uri']);
const LOCKED = 'Forbidden (locked out after repeated authentication failures)';

/**
 * Digest authentication of requests from users (REGISTER with 401, INVITE and others with 407),
 * with three limits on guessing: per (user, address), per address across users and per user
 * across addresses. The credentials are parsed once, and that one parse names the user for the
 * limits and for verification, so no spelling of a username gets past the count. Until
 * credentials check out, every user, existing or not, gets the same answers. Challenges and
 * refusals go out statelessly (one packet, no transaction kept): see SipStack.stateless().
 */
export class Authenticator {
  readonly #o: AuthenticatorOptions;
  readonly #now: () => number;
  /** (user, address) pairs that logged in: the user's own phones, let in while the user is under attack. */
  readonly #known: TtlMap<true>;
  readonly #failLog = new LogLimit(20, 10_000);
  readonly stats = { challenged: 0, failures: 0, lockouts: 0, refused: 0 };

  constructor(opts: AuthenticatorOptions) {
    if (opts === null || typeof opts !== 'object') throw new TypeError('opts: object');
    if (!(opts.lockout instanceof Lockout)) throw new TypeError('lockout: Lockout');
    for (const k of ['sourceLimit', 'userLimit'] as const) {
      if (opts[k] !== undefined && !(opts[k] instanceof Lockout)) throw new TypeError(`${k}: Lockout`);
    }
    if (typeof opts.password !== 'function') throw new TypeError('password: function');
    if (typeof opts.digest?.verifyParams !== 'function') throw new TypeError('digest: DigestServer');
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
    this.#known = new TtlMap({ ttlMs: opts.knownPairMs ?? 7 * 86_400_000, max: 100_000, now: this.#now });
  }

  authenticate(req: SipRequest, source: Source, claimedUser: string): AuthResult {
    const o = this.#o;
    const proxy = req.method !== 'REGISTER';
    const authz = req.get(proxy ? 'proxy-authorization' : 'authorization');
    const params = authz ? parseDigestParams(authz) : undefined;
    const user = params?.username || claimedUser;
    const address = source.address;
    const pair = Lockout.key(user, address);
    const refused = this.#refusal(req, user, address, pair);
    if (refused) return refused;
    const bind = { callId: req.callId, address };
    if (!authz) return this.#challenge(req, proxy, false, bind);
    const result: VerifyResult = params === undefined
      ? { ok: false, reason: 'malformed' }
      : o.digest.verifyParams(req.method, req.uriText, params, o.password, bind);
    if (result.ok) {
      o.lockout.succeed(pair);
      this.#known.set(pair, true);
      return { ok: true, user: result.username };
    }
    if (GUESSES.has(result.reason)) {
      const locked = this.#fail(req, user, address, pair, result.reason);
      if (locked) return locked;
    } else {
      o.logger.debug(`challenging again: ${result.reason}`, { callId: req.callId, user });
    }
    return this.#challenge(req, proxy, result.reason === 'stale', bind);
  }

  /** Lifts every limit on a user (an operator's unlock); true when one was in force. */
  unlock(user: string, address?: string): boolean {
    const o = this.#o;
    let any = address !== undefined && o.lockout.unlock(Lockout.key(user, address));
    if (o.userLimit?.unlock(user)) any = true;
    if (any) o.alarms?.clear('auth.user-attacked', user.slice(0, 200));
    return any;
  }

  /** A 403 before any verification: the address is blocked, the pair locked out, or the user under attack. */
  #refusal(req: SipRequest, user: string, address: string, pair: string): AuthResult | undefined {
    const o = this.#o;
    const known = this.#known.has(pair);
    let ms = o.lockout.lockedFor(pair);
    let reason = LOCKED;
    if (ms === 0 && !known) {
      ms = o.sourceLimit?.lockedFor(sourceKey(address)) ?? 0;
      if (ms > 0) reason = 'Forbidden (too many failed authentications from this address)';
    }
    if (ms === 0 && !known) {
      ms = o.userLimit?.lockedFor(user) ?? 0;
      if (ms > 0) reason = 'Forbidden (this user accepts logins only from known addresses for now)';
    }
    if (ms === 0) return undefined;
    this.stats.refused++;
    const res = o.stack.stateless(o.stack.createResponse(req, 403, reason));
    res.set('retry-after', String(Math.ceil(ms / 1000)));
    return { ok: false, response: res };
  }

  /** Counts a failed guess in each limit; the refusal when one of them trips now. */
  #fail(req: SipRequest, user: string, address: string, pair: string, reason: string): AuthResult | undefined {
    const o = this.#o;
    this.stats.failures++;
    const dropped = this.#failLog.take();
    if (dropped !== undefined) {
      o.logger.info('authentication failed', {
        callId: req.callId, method: req.method, user, address, reason, ...(dropped ? { suppressed: dropped } : {}),
      });
    }
    const src = sourceKey(address);
    const pairLocked = o.lockout.fail(pair);
    const sourceBlocked = o.sourceLimit?.fail(src) ?? false;
    const userAttacked = o.userLimit?.fail(user) ?? false;
    if (pairLocked) {
      this.stats.lockouts++;
      o.logger.warn('security: user locked out after repeated authentication failures', { event: 'lockout', callId: req.callId, user, address });
      o.alarms?.raise('auth.lockout', {
        // an alarm key is bounded (200): a made-up user name of any length must not throw here
        key: pair.slice(0, 200), severity: 'warning', ttlMs: o.lockout.lockoutMs,
        message: `user ${user} locked out at ${address} after ${o.lockout.maxFailures} failed logins`, details: { user, address },
      });
    }
    if (sourceBlocked) {
      const l = o.sourceLimit!;
      o.logger.warn('security: address blocked after repeated authentication failures', { event: 'source-blocked', address: src });
      o.alarms?.raise('auth.source-blocked', {
        key: src, severity: 'minor', ttlMs: l.lockoutMs,
        message: `${src} blocked for ${Math.round(l.lockoutMs / 1000)} s after ${l.maxFailures} failed logins for any users`, details: { address: src },
      });
    }
    if (userAttacked) {
      const l = o.userLimit!;
      o.logger.warn('security: user under attack: logins only from known addresses', { event: 'user-attacked', user });
      o.alarms?.raise('auth.user-attacked', {
        key: user.slice(0, 200), severity: 'major', ttlMs: l.lockoutMs,
        message: `user ${user}: ${l.maxFailures} failed logins from many addresses; only its known addresses are let in for ${Math.round(l.lockoutMs / 1000)} s`,
        details: { user },
      });
    }
    // the pair that just failed is refused whichever limit tripped (a known pair only by its own lockout)
    return pairLocked || sourceBlocked || userAttacked ? this.#refusal(req, user, address, pair) : undefined;
  }

  #challenge(req: SipRequest, proxy: boolean, stale: boolean, bind: { callId: string; address: string }): AuthResult {
    const o = this.#o;
    this.stats.challenged++;
    const res = o.stack.stateless(o.stack.createResponse(req, proxy ? 407 : 401));
    res.set(proxy ? 'proxy-authenticate' : 'www-authenticate', o.digest.challenge(stale, bind));
    return { ok: false, response: res };
  }
}

/** Where failures are counted for a source: its IPv4 address, or its IPv6 /64 (one subscriber's prefix). */
export function sourceKey(address: string): string {
  if (!address.includes(':')) return address;
  const full = expandIpv6(address);
  return full === undefined ? address : `${full.slice(0, 4).join(':')}::/64`;
}

function expandIpv6(a: string): string[] | undefined {
  const s = a.startsWith('[') ? a.slice(1, -1) : a;
  const [head, tail] = s.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const fill = tail === undefined ? 0 : 8 - h.length - t.length;
  if (fill < 0) return undefined;
  return [...h, ...Array<string>(fill).fill('0'), ...t].map((x) => (x.includes('.') ? x : (parseInt(x, 16) || 0).toString(16)));
}
