/**
 * Answering digest challenges as a UAC (RFC 3261 22.2-22.3, RFC 8760): a 401/407 may carry
 * several challenges (one per proxy realm, or one per algorithm in a realm), and the retried
 * request answers each realm once, keeping the credentials it already holds for the others.
 */
import { parseDigestParams } from '../auth/params.js';
import type { SipRequest, SipResponse } from '../message/message.js';

/** A user's account for answering challenges (the DigestClient in ../auth/digest.ts fits). */
export interface ClientCredentials {
  /** The Authorization value answering `challenge` for `method` on `uri`; undefined when it cannot. */
  authorize(challenge: string, method: string, uri: string): string | undefined;
}

/** Why a challenged request was not sent again. */
export type AuthFailure =
  /** No credentials were given for this request. */
  | 'no-credentials'
  /** The server challenged again a realm we had just answered, without stale=true. */
  | 'refused'
  /** No challenge of the response is one we can answer (scheme, algorithm, qop). */
  | 'unanswerable'
  /** The limit of challenges for one request was reached. */
  | 'too-many';

export interface ChallengeAnswer {
  /** 'authorization' (401) or 'proxy-authorization' (407). */
  header: 'authorization' | 'proxy-authorization';
  /** Every value the retried request carries in that header: new answers and kept ones. */
  values: string[];
}

const realmOf = (value: string): string | undefined => parseDigestParams(value)?.realm;

/**
 * The credentials headers answering the challenges of `res` to `req`, or why not. Per realm the
 * first challenge we can answer wins (RFC 8760: servers list their preferred algorithm first).
 */
export function answerChallenges(req: SipRequest, res: SipResponse, credentials: ClientCredentials | undefined): ChallengeAnswer | AuthFailure {
  if (!credentials) return 'no-credentials';
  const proxy = res.status === 407;
  const header = proxy ? 'proxy-authorization' : 'authorization';
  const previous = req.getAll(header);
  const answeredRealms = new Set(previous.map(realmOf).filter((r): r is string => r !== undefined));
  const answers = new Map<string, string>();
  let refused = false;
  for (const challenge of res.getAll(proxy ? 'proxy-authenticate' : 'www-authenticate')) {
    const p = parseDigestParams(challenge);
    if (!p || p.realm === undefined || answers.has(p.realm)) continue;
    // the same realm challenged again without stale=true: our answer was wrong, not old
    if (answeredRealms.has(p.realm) && p.stale?.toLowerCase() !== 'true') {
      refused = true;
      continue;
    }
    const value = credentials.authorize(challenge, req.method, req.uriText);
    if (value !== undefined) answers.set(p.realm, value);
  }
  if (answers.size === 0) return refused ? 'refused' : 'unanswerable';
  const kept = previous.filter((v) => {
    const realm = realmOf(v);
    return realm === undefined || !answers.has(realm);
  });
  return { header, values: [...kept, ...answers.values()] };
}

/** True for a response that asks for credentials. */
export function isChallenge(res: SipResponse): boolean {
  return res.status === 401 || res.status === 407;
}
