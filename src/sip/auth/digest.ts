/**
 * SIP Digest authentication (RFC 3261 22, RFC 7616; RFC 2617/2069 clients): server with
 * stateless HMAC nonces and nonce-count replay protection, and a client for trunks.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { parseDigestParams, type DigestParams } from './params.js';
import { quote } from '../message/grammar.js';
import { parseUri } from '../message/uri.js';

export { parseDigestParams, type DigestParams } from './params.js';

export type DigestAlgorithm = 'MD5' | 'SHA-256';

/**
 * The digest-uri should be the Request-URI (RFC 7616 3.4.6). Some clients put the address they
 * sent to instead (sipp writes `sip:host:port` for `sip:202@host:port`): accept the same
 * scheme and host (and port where both name one), the user part aside. The nonce's MAC and the
 * nonce-count already stop replays; this keeps the check from refusing such clients.
 */
function sameTarget(a: string, b: string): boolean {
  try {
    const x = parseUri(a);
    const y = parseUri(b);
    return x.scheme === y.scheme && x.host.toLowerCase() === y.host.toLowerCase() &&
      (x.user === undefined || y.user === undefined || x.userDecoded === y.userDecoded) &&
      (x.port === y.port || x.port === undefined || y.port === undefined);
  } catch {
    return false;
  }
}

export interface DigestServerOptions {
  realm: string;
  /** HMAC key for nonces; at least 16 bytes. All nodes that share nonces share the secret. */
  secret: Buffer;
  /** A nonce older than this gets a new challenge with stale=true. */
  nonceLifetimeMs: number;
  /** Offered in this order (RFC 7616 3.7: preferred first). */
  algorithms: DigestAlgorithm[];
  /** Clock in ms since the epoch (tests). */
  now?: () => number;
  /** Cap on nonces tracked for nc replay protection (default 100 000). */
  maxTrackedNonces?: number;
  /**
   * 'required' (default, RFC 7616): credentials without qop=auth are answered with a new
   * challenge, never verified, since nothing stops their replay. 'optional' accepts RFC 2069
   * clients, each nonce once only and from the Call-ID and address it was issued to.
   */
  qop?: 'required' | 'optional';
}

/** What a nonce is issued to: a qop-less response is accepted only from there. */
export interface NonceBinding {
  callId: string;
  address: string;
}

export type VerifyResult =
  | { ok: true; username: string; algorithm: DigestAlgorithm }
  | {
    ok: false;
    reason: 'missing' | 'malformed' | 'realm' | 'algorithm' | 'uri' | 'unknown-user' | 'bad-response' | 'stale' | 'replay' | 'qop-required';
    username?: string;
  };

const HASH: Record<DigestAlgorithm, string> = { 'MD5': 'md5', 'SHA-256': 'sha256' };
/**
 * The 8-byte stamp is the issue time in ms (upper 48 bits) and a wrapping counter (lower 16),
 * so challenges minted in the same millisecond still get distinct nonces: two clients sharing
 * one nonce would each start at nc=1 and the second would look like a replay.
 */
const TS_LEN = 8;
const COUNTER_SPACE = 0x10000;
const MAC_LEN = 16;
/** A second, short MAC over the stamp, the Call-ID and the address the challenge went to. */
const BIND_LEN = 6;
const NONCE_LEN = TS_LEN + MAC_LEN + BIND_LEN;
const NONCE_CHARS = Math.ceil((NONCE_LEN * 4) / 3);
/** nc recorded for a qop-less nonce once used: it can never be accepted again. */
const USED = Number.MAX_SAFE_INTEGER;
/** Nonces stamped further in the future than this are forged or from a broken clock. */
const FUTURE_SKEW_MS = 60_000;
const HA1_CACHE_MAX = 50_000;

export function hashHex(algorithm: DigestAlgorithm, data: string): string {
  return createHash(HASH[algorithm]).update(data).digest('hex');
}

/** The request-digest of RFC 7616 3.4.1 (qop=auth) or RFC 2069 (no qop), from HA1. */
export function digestResponse(algorithm: DigestAlgorithm, ha1: string, nonce: string, method: string,
  uri: string, qop?: { nc: string; cnonce: string }): string {
  const ha2 = hashHex(algorithm, `${method}:${uri}`);
  return qop
    ? hashHex(algorithm, `${ha1}:${nonce}:${qop.nc}:${qop.cnonce}:auth:${ha2}`)
    : hashHex(algorithm, `${ha1}:${nonce}:${ha2}`);
}

/** Algorithm parameter value to ours; undefined for anything we do not verify (including -sess). */
function algorithmOf(param: string | undefined): DigestAlgorithm | undefined {
  if (param === undefined) return 'MD5'; // RFC 7616 3.3: absent means MD5
  const a = param.toUpperCase();
  return a === 'MD5' ? 'MD5' : a === 'SHA-256' ? 'SHA-256' : undefined;
}

export class DigestServer {
  readonly #realm: string;
  readonly #quotedRealm: string;
  readonly #secret: Buffer;
  readonly #lifetime: number;
  readonly #algorithms: DigestAlgorithm[];
  readonly #now: () => number;
  readonly #maxTracked: number;
  readonly #qopRequired: boolean;
  /** Random password for unknown users, so they cost the same hash as known ones (no timing oracle). */
  readonly #decoy = randomBytes(12).toString('hex');
  /** nonce -> [issue time, highest nc accepted]; insertion order is first use. */
  readonly #nc = new Map<string, { ts: number; nc: number }>();
  /** Nonces issued at or before this and no longer tracked must be refreshed (stale). */
  #evictedUpTo = -1;
  #counter = 0;
  /** `${algorithm}:${username}` -> password seen and the HA1 derived from it. */
  readonly #ha1 = new Map<string, { password: string; ha1: string }>();

  constructor(opts: DigestServerOptions) {
    if (opts === null || typeof opts !== 'object') throw new TypeError('opts: object');
    if (typeof opts.realm !== 'string' || opts.realm === '') throw new TypeError('realm: non-empty string');
    if (!Buffer.isBuffer(opts.secret) || opts.secret.length < 16) throw new TypeError('secret: Buffer of at least 16 bytes');
    if (!(Number.isFinite(opts.nonceLifetimeMs) && opts.nonceLifetimeMs > 0)) throw new TypeError('nonceLifetimeMs: positive number');
    if (!Array.isArray(opts.algorithms) || opts.algorithms.length === 0 || opts.algorithms.some((a) => !(a in HASH))) {
      throw new TypeError("algorithms: non-empty array of 'MD5' | 'SHA-256'");
    }
    if (opts.now !== undefined && typeof opts.now !== 'function') throw new TypeError('now: function');
    const max = opts.maxTrackedNonces ?? 100_000;
    if (!Number.isInteger(max) || max < 1) throw new TypeError('maxTrackedNonces: positive integer');
    this.#realm = opts.realm;
    this.#quotedRealm = quote(opts.realm);
    this.#secret = Buffer.from(opts.secret);
    this.#lifetime = opts.nonceLifetimeMs;
    this.#algorithms = [...new Set(opts.algorithms)];
    this.#now = opts.now ?? Date.now;
    this.#maxTracked = max;
    if (opts.qop !== undefined && opts.qop !== 'required' && opts.qop !== 'optional') throw new TypeError("qop: 'required' | 'optional'");
    this.#qopRequired = opts.qop !== 'optional';
  }

  /**
   * WWW-Authenticate / Proxy-Authenticate values, one per algorithm, sharing one nonce. `bind`
   * names the request's Call-ID and source: a qop-less answer is taken only from there.
   */
  challenge(stale = false, bind?: NonceBinding): string[] {
    const nonce = this.#makeNonce(this.#now(), bind);
    const tail = stale ? ', qop="auth", stale=true' : ', qop="auth"';
    return this.#algorithms.map((a) => `Digest realm=${this.#quotedRealm}, nonce="${nonce}", algorithm=${a}${tail}`);
  }

  verify(method: string, requestUri: string, authorization: string | undefined,
    password: (username: string) => string | undefined, bind?: NonceBinding): VerifyResult {
    if (authorization === undefined || authorization === '') return { ok: false, reason: 'missing' };
    const p = parseDigestParams(authorization);
    if (p === undefined) return { ok: false, reason: 'malformed' };
    return this.verifyParams(method, requestUri, p, password, bind);
  }

  /**
   * Verifies credentials already parsed (parseDigestParams): whoever counts failures must key
   * them on this same parse, or a differently spelled username slips past the count.
   */
  verifyParams(method: string, requestUri: string, p: DigestParams,
    password: (username: string) => string | undefined, bind?: NonceBinding): VerifyResult {
    const { username, realm, nonce, uri, response } = p;
    if (!username || realm === undefined || !nonce || uri === undefined || !response) {
      return { ok: false, reason: 'malformed', ...(username ? { username } : {}) };
    }
    if (realm !== this.#realm) return { ok: false, reason: 'realm', username };
    const algorithm = algorithmOf(p.algorithm);
    if (algorithm === undefined || !this.#algorithms.includes(algorithm)) return { ok: false, reason: 'algorithm', username };
    if (uri !== requestUri && !sameTarget(uri, requestUri)) return { ok: false, reason: 'uri', username };
    let qop: { nc: string; cnonce: string } | undefined;
    let nc = USED;
    if (p.qop !== undefined) {
      if (p.qop.toLowerCase() !== 'auth' || !p.cnonce || p.nc === undefined || !isHex8(p.nc)) {
        return { ok: false, reason: 'malformed', username };
      }
      nc = parseInt(p.nc, 16);
      if (nc === 0) return { ok: false, reason: 'malformed', username };
      qop = { nc: p.nc, cnonce: p.cnonce };
    } else if (this.#qopRequired) {
      // never verified, so never a password guess either: the client gets a challenge again
      return { ok: false, reason: 'qop-required', username };
    }
    const now = this.#now();
    const ts = this.#checkNonce(nonce, now);
    const pw = password(username);
    const known = typeof pw === 'string';
    const expected = digestResponse(algorithm, this.#ha1For(algorithm, username, known ? pw : this.#decoy, known), nonce, method, uri, qop);
    if (!known) return { ok: false, reason: 'unknown-user', username };
    const got = response.toLowerCase();
    if (got.length !== expected.length || !timingSafeEqual(Buffer.from(got, 'latin1'), Buffer.from(expected, 'latin1'))) {
      return { ok: false, reason: 'bad-response', username };
    }
    // A nonce we did not mint (another node's: a phone that moved to this one after a failover,
    // or ours before a restart) with a digest right for it: the credentials are good, only the
    // nonce is not ours, so the client retries with a fresh one without asking anyone for a
    // password (RFC 2617 section 3.2.1, stale). A wrong digest on it is a guess like any other.
    if (ts < 0) return { ok: false, reason: 'stale', username };
    if (now - ts > this.#lifetime) return { ok: false, reason: 'stale', username };
    // RFC 2069: no nonce count, so the nonce serves one request, from where it was sent
    if (qop === undefined && !this.#boundTo(nonce, bind)) return { ok: false, reason: 'stale', username };
    if (!this.#acceptNc(nonce, ts, nc, now)) {
      // Untracked (evicted) nonces cannot prove freshness of nc: refresh them like stale ones.
      return { ok: false, reason: this.#nc.has(nonce) ? 'replay' : 'stale', username };
    }
    return { ok: true, username, algorithm };
  }

  /** Issue time of a nonce we minted, or -1. */
  #checkNonce(nonce: string, now: number): number {
    if (nonce.length !== NONCE_CHARS) return -1;
    const raw = Buffer.from(nonce, 'base64url');
    if (raw.length !== NONCE_LEN) return -1;
    const mac = this.#mac(raw.subarray(0, TS_LEN));
    if (!timingSafeEqual(mac, raw.subarray(TS_LEN, TS_LEN + MAC_LEN))) return -1;
    const ts = raw.readUIntBE(0, 6);
    return ts > now + FUTURE_SKEW_MS ? -1 : ts;
  }

  #makeNonce(now: number, bind: NonceBinding | undefined): string {
    const raw = Buffer.allocUnsafe(NONCE_LEN);
    raw.writeUIntBE(Math.max(0, Math.floor(now)), 0, 6);
    this.#counter = (this.#counter + 1) % COUNTER_SPACE;
    raw.writeUInt16BE(this.#counter, 6);
    const stamp = raw.subarray(0, TS_LEN);
    this.#mac(stamp).copy(raw, TS_LEN);
    this.#bindMac(stamp, bind).copy(raw, TS_LEN + MAC_LEN);
    return raw.toString('base64url');
  }

  #mac(ts: Buffer): Buffer {
    return createHmac('sha256', this.#secret).update(ts).update(this.#realm).digest().subarray(0, MAC_LEN);
  }

  #bindMac(ts: Buffer, bind: NonceBinding | undefined): Buffer {
    const h = createHmac('sha256', this.#secret).update('bind\u0000').update(ts);
    if (bind) h.update(`\u0000${bind.callId}\u0000${bind.address}`);
    return h.digest().subarray(0, BIND_LEN);
  }

  /** Whether a (valid) nonce was issued to this Call-ID and address. */
  #boundTo(nonce: string, bind: NonceBinding | undefined): boolean {
    if (bind === undefined) return false;
    const raw = Buffer.from(nonce, 'base64url');
    return timingSafeEqual(this.#bindMac(raw.subarray(0, TS_LEN), bind), raw.subarray(TS_LEN + MAC_LEN));
  }

  #acceptNc(nonce: string, ts: number, nc: number, now: number): boolean {
    const entry = this.#nc.get(nonce);
    if (entry !== undefined) {
      if (nc <= entry.nc) return false;
      entry.nc = nc;
      return true;
    }
    if (ts <= this.#evictedUpTo) return false;
    this.#prune(now);
    this.#nc.set(nonce, { ts, nc });
    return true;
  }

  /** Drops expired entries from the head, then the oldest ones beyond the cap. */
  #prune(now: number): void {
    for (const [nonce, e] of this.#nc) {
      if (now - e.ts > this.#lifetime) this.#nc.delete(nonce);
      else break;
    }
    while (this.#nc.size >= this.#maxTracked) {
      const first = this.#nc.entries().next().value as [string, { ts: number }];
      this.#nc.delete(first[0]);
      if (first[1].ts > this.#evictedUpTo) this.#evictedUpTo = first[1].ts;
    }
  }

  #ha1For(algorithm: DigestAlgorithm, username: string, password: string, cache = true): string {
    // made-up user names are not cached: a flood of them must not evict the real users' entries
    if (!cache) return hashHex(algorithm, `${username}:${this.#realm}:${password}`);
    const key = `${algorithm}:${username}`;
    const hit = this.#ha1.get(key);
    if (hit !== undefined && hit.password === password) return hit.ha1;
    const ha1 = hashHex(algorithm, `${username}:${this.#realm}:${password}`);
    if (this.#ha1.size >= HA1_CACHE_MAX) this.#ha1.clear();
    this.#ha1.set(key, { password, ha1 });
    return ha1;
  }
}

function isHex8(s: string): boolean {
  if (s.length !== 8) return false;
  for (let i = 0; i < 8; i++) {
    const c = s.charCodeAt(i) | 0x20;
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

export interface DigestClientOptions {
  /** Client nonce generator (tests); default 16 random bytes, hex. */
  cnonce?: () => string;
}

const CLIENT_NONCES_MAX = 32;

export class DigestClient {
  readonly #username: string;
  readonly #password: string;
  readonly #cnonce: () => string;
  /** Last nc used per server nonce; small, since a client talks to few servers. */
  readonly #nc = new Map<string, number>();

  constructor(username: string, password: string, opts: DigestClientOptions = {}) {
    if (typeof username !== 'string' || username === '') throw new TypeError('username: non-empty string');
    if (typeof password !== 'string') throw new TypeError('password: string');
    this.#username = username;
    this.#password = password;
    this.#cnonce = opts.cnonce ?? (() => randomBytes(16).toString('hex'));
  }

  authorize(challenge: string, method: string, uri: string): string | undefined {
    const p = parseDigestParams(challenge);
    if (p === undefined || p.realm === undefined || !p.nonce) return undefined;
    let algParam = p.algorithm;
    let sess = false;
    if (algParam !== undefined && algParam.toUpperCase().endsWith('-SESS')) {
      sess = true;
      algParam = algParam.slice(0, -5);
    }
    const algorithm = algorithmOf(algParam);
    if (algorithm === undefined) return undefined;
    const { realm, nonce } = p;
    let qop: { nc: string; cnonce: string } | undefined;
    if (p.qop !== undefined) {
      const offered = p.qop.split(',').map((q) => q.trim().toLowerCase());
      if (!offered.includes('auth')) return undefined; // auth-int only
      qop = { nc: this.#nextNc(nonce), cnonce: this.#cnonce() };
    }
    if (sess && qop === undefined) return undefined;
    let ha1 = hashHex(algorithm, `${this.#username}:${realm}:${this.#password}`);
    if (sess) ha1 = hashHex(algorithm, `${ha1}:${nonce}:${qop!.cnonce}`);
    const response = digestResponse(algorithm, ha1, nonce, method, uri, qop);
    let out = `Digest username=${quote(this.#username)}, realm=${quote(realm)}, nonce=${quote(nonce)}, ` +
      `uri=${quote(uri)}, response="${response}", algorithm=${p.algorithm ?? 'MD5'}`;
    if (qop) out += `, cnonce=${quote(qop.cnonce)}, qop=auth, nc=${qop.nc}`;
    if (p.opaque !== undefined) out += `, opaque=${quote(p.opaque)}`;
    return out;
  }

  #nextNc(nonce: string): string {
    const n = (this.#nc.get(nonce) ?? 0) + 1;
    if (!this.#nc.has(nonce) && this.#nc.size >= CLIENT_NONCES_MAX) {
      this.#nc.delete(this.#nc.keys().next().value as string);
    }
    this.#nc.set(nonce, n);
    return n.toString(16).padStart(8, '0');
  }
}
