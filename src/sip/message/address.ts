import { endOfQuoted, formatParams, isToken, isWsp, parseParams, quoteIfNeeded, unquote } from './grammar.js';
import { parseUri, SipUri } from './uri.js';

/**
 * A name-addr or addr-spec with header parameters: the value of From, To, Contact, Route,
 * Record-Route, Refer-To and friends. In the addr-spec form (no angle brackets) parameters
 * after the URI belong to the header, not to the URI (RFC 3261 section 20).
 */
export class Address {
  displayName: string | undefined;
  uri: SipUri;
  params: Map<string, string | null>;
  /** True for the Contact `*` wildcard. */
  wildcard: boolean;

  constructor(uri: SipUri, displayName?: string, params?: Map<string, string | null>, wildcard = false) {
    this.uri = uri;
    this.displayName = displayName;
    this.params = params ?? new Map();
    this.wildcard = wildcard;
  }

  get tag(): string | undefined {
    return this.params.get('tag') ?? undefined;
  }

  set tag(value: string | undefined) {
    if (value === undefined) this.params.delete('tag');
    else this.params.set('tag', value);
  }

  clone(): Address {
    return new Address(this.uri.clone(), this.displayName, new Map(this.params), this.wildcard);
  }

  toString(): string {
    if (this.wildcard) return '*';
    const dn = this.displayName !== undefined && this.displayName !== '' ? `${quoteIfNeeded(this.displayName)} ` : '';
    return `${dn}<${this.uri.toString()}>${formatParams(this.params)}`;
  }
}

/** Parses one name-addr / addr-spec with parameters. Throws SyntaxError when malformed. */
export function parseAddress(value: string): Address {
  const s = value.trim();
  if (s === '*') return new Address(new SipUri({ host: '' }), undefined, undefined, true);
  let pos = 0;
  let displayName: string | undefined;
  let uriText: string;
  if (s.charCodeAt(0) === 34 /* " */) {
    const end = endOfQuoted(s, 0);
    if (end < 0) throw new SyntaxError('unbalanced quotes in display name');
    displayName = unquote(s.slice(1, end));
    pos = end + 1;
    while (pos < s.length && isWsp(s.charCodeAt(pos))) pos++;
    if (s[pos] !== '<') throw new SyntaxError('quoted display name without <URI>');
  }
  const lt = s.indexOf('<', pos);
  if (lt >= 0) {
    if (displayName === undefined) {
      const dn = s.slice(0, lt).trim();
      if (dn.length) {
        for (const word of dn.split(/[ \t]+/)) {
          if (!isToken(word)) throw new SyntaxError(`display name '${dn}' must be quoted`);
        }
        displayName = dn;
      }
    }
    const gt = s.indexOf('>', lt);
    if (gt < 0) throw new SyntaxError('unclosed <');
    uriText = s.slice(lt + 1, gt);
    if (uriText.trim() !== uriText) throw new SyntaxError('whitespace inside <URI>');
    pos = gt + 1;
  } else {
    if (displayName !== undefined) throw new SyntaxError('display name without <URI>');
    // addr-spec: the URI runs to the first ';' (a URI here cannot carry parameters) or space
    let end = 0;
    while (end < s.length && s.charCodeAt(end) !== 59 && !isWsp(s.charCodeAt(end))) end++;
    uriText = s.slice(0, end);
    if (uriText.includes('?') || uriText.includes(',')) throw new SyntaxError('addr-spec with headers must use <URI>');
    pos = end;
  }
  const uri = parseUri(uriText);
  const params = new Map<string, string | null>();
  parseParams(s, pos, params);
  return new Address(uri, displayName, params);
}

/** The top-level parts of a Via value: protocol, transport, sent-by and parameters. */
export class Via {
  protocol: string;
  transport: string;
  host: string;
  port: number | undefined;
  params: Map<string, string | null>;

  constructor(transport: string, host: string, port: number | undefined, params?: Map<string, string | null>, protocol = 'SIP/2.0') {
    this.protocol = protocol;
    this.transport = transport;
    this.host = host;
    this.port = port;
    this.params = params ?? new Map();
  }

  get branch(): string | undefined {
    return this.params.get('branch') ?? undefined;
  }

  toString(): string {
    const port = this.port === undefined ? '' : `:${this.port}`;
    return `${this.protocol}/${this.transport} ${this.host}${port}${formatParams(this.params)}`;
  }
}

/** Parses one Via value (`SIP/2.0/UDP host:port;branch=...`). Throws SyntaxError. */
export function parseVia(value: string): Via {
  const s = value.trim();
  // sent-protocol may contain LWS around the slashes (RFC 4475 wsinv)
  let pos = 0;
  const parts: string[] = [];
  for (let k = 0; k < 3; k++) {
    while (pos < s.length && isWsp(s.charCodeAt(pos))) pos++;
    let end = pos;
    while (end < s.length && s[end] !== '/' && !isWsp(s.charCodeAt(end))) end++;
    const token = s.slice(pos, end);
    if (!isToken(token)) throw new SyntaxError('bad Via sent-protocol');
    parts.push(token);
    pos = end;
    while (pos < s.length && isWsp(s.charCodeAt(pos))) pos++;
    if (k < 2) {
      if (s[pos] !== '/') throw new SyntaxError('bad Via sent-protocol');
      pos++;
    }
  }
  while (pos < s.length && isWsp(s.charCodeAt(pos))) pos++;
  let end = pos;
  if (s[pos] === '[') {
    end = s.indexOf(']', pos);
    if (end < 0) throw new SyntaxError('unclosed IPv6 reference in Via');
    end++;
  }
  while (end < s.length && s[end] !== ';' && s[end] !== ':' && !isWsp(s.charCodeAt(end))) end++;
  const host = s.slice(pos, end);
  if (!host.length) throw new SyntaxError('Via without sent-by');
  let port: number | undefined;
  pos = end;
  while (pos < s.length && isWsp(s.charCodeAt(pos))) pos++;
  if (s[pos] === ':') {
    pos++;
    while (pos < s.length && isWsp(s.charCodeAt(pos))) pos++;
    let pe = pos;
    while (pe < s.length && s.charCodeAt(pe) >= 48 && s.charCodeAt(pe) <= 57) pe++;
    port = Number(s.slice(pos, pe));
    if (pe === pos || port > 65535) throw new SyntaxError('bad Via port');
    pos = pe;
  }
  const params = new Map<string, string | null>();
  parseParams(s, pos, params);
  return new Via(parts[2].toUpperCase(), host, port, params, `${parts[0]}/${parts[1]}`);
}
