import type { DigestServer } from '../../sip/auth/digest.js';
import type { SipRequest, SipResponse } from '../../sip/message/message.js';
import type { SipStack } from '../../sip/stack.js';
import type { Source } from '../../sip/transport/types.js';
import type { Logger } from '../logger.js';
import type { Lockout } from './lockout.js';

export type AuthResult = { ok: true; user: string } | { ok: false; response: SipResponse };

export interface AuthenticatorOptions {
  stack: SipStack;
  digest: DigestServer;
  lockout: Lockout;
  logger: Logger;
  /** The user's password, or undefined when there is no such user. */
  password: (user: string) => string | undefined;
}

/**
 * Digest authentication of requests from users (REGISTER with 401, INVITE and others with
 * 407), with lockout of a (user, source address) pair after repeated failures. The refusal
 * to send is built here so every feature answers the same way.
 */
export class Authenticator {
  readonly #o: AuthenticatorOptions;
  readonly stats = { challenged: 0, failures: 0, lockouts: 0 };

  constructor(opts: AuthenticatorOptions) {
    this.#o = opts;
  }

  authenticate(req: SipRequest, source: Source, claimedUser: string): AuthResult {
    const o = this.#o;
    const proxy = req.method !== 'REGISTER';
    const header = proxy ? 'proxy-authorization' : 'authorization';
    const authz = req.get(header);
    const claimed = usernameOf(authz) ?? claimedUser;
    const locked = o.lockout.lockedFor(claimed, source.address);
    if (locked > 0) {
      const res = o.stack.createResponse(req, 403, 'Forbidden (locked out after repeated authentication failures)');
      res.set('retry-after', String(Math.ceil(locked / 1000)));
      return { ok: false, response: res };
    }
    const result = o.digest.verify(req.method, req.uriText, authz, o.password);
    if (result.ok) {
      o.lockout.succeed(result.username, source.address);
      return { ok: true, user: result.username };
    }
    if (result.reason === 'bad-response' || result.reason === 'unknown-user' || result.reason === 'realm' || result.reason === 'uri') {
      this.stats.failures++;
      const user = result.username ?? claimed;
      o.logger.info('authentication failed', { callId: req.callId, method: req.method, user, address: source.address, reason: result.reason });
      if (o.lockout.fail(user, source.address)) {
        this.stats.lockouts++;
        o.logger.warn('security: user locked out after repeated authentication failures', {
          event: 'lockout', callId: req.callId, user, address: source.address,
        });
        return { ok: false, response: o.stack.createResponse(req, 403, 'Forbidden (locked out after repeated authentication failures)') };
      }
    }
    if (result.reason !== 'missing') o.logger.debug(`challenging again: ${result.reason}`, { callId: req.callId, user: result.username ?? claimed });
    this.stats.challenged++;
    const res = o.stack.createResponse(req, proxy ? 407 : 401);
    res.set(proxy ? 'proxy-authenticate' : 'www-authenticate', o.digest.challenge(result.reason === 'stale'));
    return { ok: false, response: res };
  }
}

/** The username parameter of a Digest credentials value, without a full parse. */
function usernameOf(authz: string | undefined): string | undefined {
  if (!authz) return undefined;
  const m = /username\s*=\s*"([^"]*)"/i.exec(authz);
  return m?.[1];
}
