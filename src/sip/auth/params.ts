/**
 * Parser for HTTP/SIP Digest credentials and challenges (RFC 3261 25.1, RFC 7616 3.3-3.4):
 * `Digest name=token, name="quoted \" string", ...`. A character scan, never throws.
 */

/** Lower-cased parameter names to unquoted values; undefined when malformed. */
export type DigestParams = Partial<Record<string, string>>;

const SCHEME = 'digest';

function isWs(c: number): boolean {
  return c === 32 || c === 9 || c === 13 || c === 10;
}

/** RFC 7230 tchar. */
function isTchar(c: number): boolean {
  if (c >= 0x61 && c <= 0x7a) return true; // a-z
  if (c >= 0x41 && c <= 0x5a) return true; // A-Z
  if (c >= 0x30 && c <= 0x39) return true; // 0-9
  // ! # $ % & ' * + - . ^ _ ` | ~
  return c === 33 || (c >= 35 && c <= 39) || c === 42 || c === 43 || c === 45 || c === 46 ||
    c === 94 || c === 95 || c === 96 || c === 124 || c === 126;
}

/** Also accepts unquoted values with '/' ':' '=' etc. (seen in the wild in uri and nonce). */
function isLooseValueChar(c: number): boolean {
  return c > 32 && c < 127 && c !== 44 && c !== 34;
}

export function parseDigestParams(value: string | undefined): DigestParams | undefined {
  if (typeof value !== 'string') return undefined;
  const s = value;
  const n = s.length;
  let i = 0;
  while (i < n && isWs(s.charCodeAt(i))) i++;
  if (n - i < SCHEME.length + 2) return undefined;
  for (let k = 0; k < SCHEME.length; k++, i++) {
    if ((s.charCodeAt(i) | 0x20) !== SCHEME.charCodeAt(k)) return undefined;
  }
  if (!isWs(s.charCodeAt(i))) return undefined;
  const out: DigestParams = Object.create(null) as DigestParams;
  let count = 0;
  for (;;) {
    while (i < n && (isWs(s.charCodeAt(i)) || s.charCodeAt(i) === 44)) i++;
    if (i >= n) break;
    const nameStart = i;
    while (i < n && isTchar(s.charCodeAt(i))) i++;
    if (i === nameStart) return undefined;
    const name = s.slice(nameStart, i).toLowerCase();
    while (i < n && isWs(s.charCodeAt(i))) i++;
    if (s.charCodeAt(i) !== 61 /* = */) return undefined;
    i++;
    while (i < n && isWs(s.charCodeAt(i))) i++;
    let val: string;
    if (s.charCodeAt(i) === 34 /* " */) {
      i++;
      let start = i;
      let parts: string[] | undefined;
      for (;;) {
        if (i >= n) return undefined; // unterminated
        const c = s.charCodeAt(i);
        if (c === 34) break;
        if (c === 92 /* \ */) {
          if (i + 1 >= n) return undefined;
          (parts ??= []).push(s.slice(start, i));
          start = i + 1; // keep the escaped character
          i += 2;
          continue;
        }
        i++;
      }
      val = parts ? parts.join('') + s.slice(start, i) : s.slice(start, i);
      i++;
    } else {
      const start = i;
      while (i < n && isLooseValueChar(s.charCodeAt(i))) i++;
      if (i === start) return undefined;
      val = s.slice(start, i);
    }
    if (name in out) return undefined; // a duplicated parameter is ambiguous
    out[name] = val;
    count++;
    while (i < n && isWs(s.charCodeAt(i))) i++;
    if (i < n && s.charCodeAt(i) !== 44) return undefined;
  }
  return count > 0 ? out : undefined;
}
