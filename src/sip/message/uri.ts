import { formatParams, parseParams, unescapePercent } from './grammar.js';

/**
 * A SIP or SIPS URI (RFC 3261 section 19.1), or an opaque URI of another scheme (tel:, or an
 * unknown scheme kept as text so that To/From/Contact with foreign schemes still parse).
 */
export class SipUri {
  scheme: string;
  /** User part as written (escapes kept), or undefined. */
  user: string | undefined;
  password: string | undefined;
  host: string;
  port: number | undefined;
  params: Map<string, string | null>;
  /** The `?h=v&...` part as written, without the '?'; undefined when absent. */
  headers: string | undefined;
  /** For schemes other than sip/sips: everything after the colon. */
  opaque: string | undefined;

  constructor(init: {
    scheme?: string;
    user?: string;
    password?: string;
    host: string;
    port?: number;
    params?: Map<string, string | null>;
    headers?: string;
    opaque?: string;
  }) {
    this.scheme = init.scheme ?? 'sip';
    this.user = init.user;
    this.password = init.password;
    this.host = init.host;
    this.port = init.port;
    this.params = init.params ?? new Map();
    this.headers = init.headers;
    this.opaque = init.opaque;
  }

  get isSip(): boolean {
    return this.scheme === 'sip' || this.scheme === 'sips';
  }

  /** User part with %-escapes decoded: what comparisons use (RFC 3261 19.1.4). */
  get userDecoded(): string | undefined {
    return this.user === undefined ? undefined : unescapePercent(this.user);
  }

  param(name: string): string | null | undefined {
    return this.params.get(name);
  }

  clone(): SipUri {
    return new SipUri({ ...this, params: new Map(this.params) });
  }

  toString(): string {
    if (!this.isSip) return `${this.scheme}:${this.opaque ?? ''}`;
    let s = `${this.scheme}:`;
    if (this.user !== undefined) {
      s += this.user;
      if (this.password !== undefined) s += `:${this.password}`;
      s += '@';
    }
    s += this.host;
    if (this.port !== undefined) s += `:${this.port}`;
    if (this.params.size) s += formatParams(this.params);
    if (this.headers !== undefined) s += `?${this.headers}`;
    return s;
  }

  /** URI equality per RFC 3261 19.1.4 (the parts the stack relies on). */
  equals(other: SipUri): boolean {
    if (this.scheme !== other.scheme) return false;
    if (!this.isSip) return this.opaque === other.opaque;
    if (this.userDecoded !== other.userDecoded) return false;
    if (this.password !== other.password) return false;
    if (this.host.toLowerCase() !== other.host.toLowerCase()) return false;
    if (this.port !== other.port) return false;
    for (const k of ['transport', 'user', 'ttl', 'method', 'maddr']) {
      const a = this.params.get(k);
      const b = other.params.get(k);
      if ((a !== undefined || b !== undefined) && a?.toLowerCase() !== b?.toLowerCase()) return false;
    }
    for (const [k, v] of this.params) {
      if (other.params.has(k) && other.params.get(k)?.toLowerCase() !== v?.toLowerCase()) return false;
    }
    return true;
  }
}

const HOST = new Uint8Array(128);
for (const c of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.') HOST[c.charCodeAt(0)] = 1;

/** hostname / IPv4address (RFC 3261 25.1): labels of alphanumerics and inner hyphens. */
function isHostname(h: string): boolean {
  const n = h.length;
  if (n === 0) return false;
  let labelStart = 0;
  for (let i = 0; i < n; i++) {
    const c = h.charCodeAt(i);
    if (c >= 128 || HOST[c] === 0) return false;
    if (c === 46 /* . */) {
      if (i === labelStart || h.charCodeAt(i - 1) === 45) return false;
      labelStart = i + 1;
    } else if (c === 45 && i === labelStart) return false;
  }
  return h.charCodeAt(n - 1) !== 45;
}
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*$/;
/** Never inside a URI: controls, space, quote and angle brackets (one native regex scan). */
const BAD_CHARS = /[\x00-\x20"<>\x7f]/;

/** Parses a URI; throws SyntaxError with a short reason when it is malformed. */
export function parseUri(text: string): SipUri {
  const colon = text.indexOf(':');
  if (colon <= 0) throw new SyntaxError(`no scheme in URI '${text}'`);
  let scheme: string;
  if (colon === 3 && text.startsWith('sip')) scheme = 'sip';
  else {
    scheme = text.slice(0, colon).toLowerCase();
    if (!SCHEME.test(scheme)) throw new SyntaxError(`bad URI scheme '${scheme}'`);
  }
  if (BAD_CHARS.test(text)) throw new SyntaxError(`bad character in URI '${text}'`);
  if (scheme !== 'sip' && scheme !== 'sips') {
    return new SipUri({ scheme, host: '', opaque: text.slice(colon + 1) });
  }
  // Index arithmetic on `text` rather than slices: this runs four times per message.
  // '@' cannot appear unescaped in parameters or headers, while '?' and ';' can appear in the
  // user part (RFC 4475 intmeth, semiuri): so split the userinfo off first.
  let p = colon + 1;
  let user: string | undefined;
  let password: string | undefined;
  const at = text.indexOf('@', p);
  if (at >= 0) {
    const pc = text.indexOf(':', p);
    if (pc >= 0 && pc < at) {
      user = text.slice(p, pc);
      password = text.slice(pc + 1, at);
    } else user = text.slice(p, at);
    if (user.length === 0) throw new SyntaxError('empty user part');
    p = at + 1;
  }
  let headers: string | undefined;
  let end = text.length;
  const q = text.indexOf('?', p);
  if (q >= 0) {
    headers = text.slice(q + 1);
    end = q;
  }
  let semi = text.indexOf(';', p);
  if (semi >= end) semi = -1;
  const hpEnd = semi >= 0 ? semi : end;
  let host: string;
  let port: number | undefined;
  if (text.charCodeAt(p) === 91 /* [ */) {
    const close = text.indexOf(']', p);
    if (close < 0 || close >= hpEnd) throw new SyntaxError('unclosed IPv6 reference');
    host = text.slice(p, close + 1);
    if (close + 1 < hpEnd) {
      if (text.charCodeAt(close + 1) !== 58) throw new SyntaxError('junk after IPv6 reference');
      port = parsePort(text, close + 2, hpEnd);
    }
  } else {
    const pc = text.lastIndexOf(':', hpEnd - 1);
    if (pc >= p) {
      host = text.slice(p, pc);
      port = parsePort(text, pc + 1, hpEnd);
    } else host = text.slice(p, hpEnd);
    if (!isHostname(host)) throw new SyntaxError(`bad host '${host}'`);
  }
  const params = new Map<string, string | null>();
  if (semi >= 0) parseParams(end === text.length ? text : text.slice(0, end), semi, params);
  return new SipUri({ scheme, user, password, host, port, params, headers });
}

function parsePort(s: string, from: number, to: number): number {
  let p = 0;
  if (to <= from || to - from > 5) throw new SyntaxError(`bad port '${s.slice(from, to)}'`);
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) throw new SyntaxError(`bad port '${s.slice(from, to)}'`);
    p = p * 10 + c;
  }
  if (p > 65535) throw new SyntaxError(`port out of range '${s.slice(from, to)}'`);
  return p;
}
