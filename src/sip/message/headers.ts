/** Header names: compact forms, canonical lowercase keys and the spelling used on the wire. */

const COMPACT: Record<string, string> = {
  i: 'call-id', m: 'contact', e: 'content-encoding', l: 'content-length', c: 'content-type',
  f: 'from', s: 'subject', k: 'supported', t: 'to', v: 'via', o: 'event', u: 'allow-events',
  r: 'refer-to', b: 'referred-by', x: 'session-expires', a: 'accept-contact', j: 'reject-contact',
  d: 'request-disposition', y: 'identity', n: 'identity-info',
};

const SPELLING: Record<string, string> = {
  'call-id': 'Call-ID', cseq: 'CSeq', 'www-authenticate': 'WWW-Authenticate', 'mime-version': 'MIME-Version',
  'p-asserted-identity': 'P-Asserted-Identity', 'p-preferred-identity': 'P-Preferred-Identity',
  'rseq': 'RSeq', 'rack': 'RAck', 'sip-etag': 'SIP-ETag', 'sip-if-match': 'SIP-If-Match',
  'content-id': 'Content-ID', 'smdr': 'SMDR',
};

import { isToken } from './grammar.js';

const keyCache = new Map<string, string>();

/**
 * The header names seen in nearly every message, found by length and first character and then
 * compared, without hashing the freshly sliced name (a Map lookup showed in profiles).
 */
const COMMON = new Map<number, [string, string][]>();
for (const name of ['Via', 'v', 'From', 'f', 'To', 't', 'Call-ID', 'i', 'CSeq', 'Max-Forwards', 'Contact', 'm',
  'Content-Length', 'l', 'Content-Type', 'c', 'Allow', 'Supported', 'k', 'User-Agent', 'Expires', 'Route',
  'Record-Route', 'Authorization', 'WWW-Authenticate', 'Proxy-Authorization', 'Proxy-Authenticate', 'Allow-Events',
  'Event', 'Accept', 'Server', 'Require', 'Path', 'Min-Expires', 'P-Asserted-Identity', 'Date', 'Subject',
  'Call-Id', 'Cseq', 'Content-length', 'Content-type', 'Max-forwards', 'User-agent', 'Record-route', 'Allow-events']) {
  const slot = name.length * 128 + name.charCodeAt(0);
  const list = COMMON.get(slot) ?? [];
  list.push([name, headerKey(name)]);
  COMMON.set(slot, list);
}
const COMMON_SLOTS: ([string, string][] | undefined)[] = [];
for (const [slot, list] of COMMON) COMMON_SLOTS[slot] = list;

/** Like headerKey, but undefined when the name is not a token (cached names were checked). */
export function checkedHeaderKey(name: string): string | undefined {
  const slot = name.length < 32 ? COMMON_SLOTS[name.length * 128 + name.charCodeAt(0)] : undefined;
  if (slot) for (let i = 0; i < slot.length; i++) if (slot[i][0] === name) return slot[i][1];
  const k = keyCache.get(name);
  if (k !== undefined) return k;
  return isToken(name) ? headerKey(name) : undefined;
}

/** Canonical key of a header name: lowercase, compact forms expanded. */
export function headerKey(name: string): string {
  let k = keyCache.get(name);
  if (k === undefined) {
    const lower = name.toLowerCase();
    k = COMPACT[lower] ?? lower;
    if (keyCache.size < 4096) keyCache.set(name, k);
  }
  return k;
}

const spellCache = new Map<string, string>();

/** How a header is spelled when we write it. */
export function headerSpelling(key: string): string {
  let s = spellCache.get(key);
  if (s === undefined) {
    s = SPELLING[key] ?? key.replace(/(^|-)([a-z])/g, (_m, d: string, c: string) => d + c.toUpperCase());
    spellCache.set(key, s);
  }
  return s;
}

/**
 * Headers whose value is a comma-separated list that may also be spread over several lines;
 * the stack splits them. Others (From, To, Call-ID, CSeq...) are single-valued and several
 * lines of them make a message invalid.
 */
export const SINGLE_VALUED = new Set([
  'from', 'to', 'call-id', 'cseq', 'max-forwards', 'content-length', 'content-type', 'expires',
  'min-expires', 'retry-after',
]);

/**
 * Headers whose values contain commas that do not separate list elements (credentials,
 * challenges, dates, free text): getAll returns their lines whole.
 */
export const NOT_LISTS = new Set([
  'www-authenticate', 'proxy-authenticate', 'authorization', 'proxy-authorization', 'authentication-info',
  'date', 'subject', 'user-agent', 'server', 'organization', 'call-info', 'warning', 'identity',
]);
