/**
 * Character classes and small scanners from the RFC 3261 section 25 grammar, written as
 * lookup tables so the hot path tests a character with one array access.
 */

const TOKEN = new Uint8Array(128);
for (const c of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`\'~') {
  TOKEN[c.charCodeAt(0)] = 1;
}

/** True when every character of s is an RFC 3261 token character and s is not empty. */
export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || TOKEN[c] === 0) return false;
  }
  return true;
}

export function isTokenChar(c: number): boolean {
  return c < 128 && TOKEN[c] === 1;
}

/** Whitespace as SIP means it inside header values: space and horizontal tab. */
export function isWsp(c: number): boolean {
  return c === 32 || c === 9;
}

/**
 * Index of the closing quote of the quoted-string that starts at `start` (which holds '"'),
 * honouring backslash escapes; -1 when the quote is not closed.
 */
export function endOfQuoted(s: string, start: number): number {
  for (let i = start + 1; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 92 /* \ */) i++;
    else if (c === 34 /* " */) return i;
  }
  return -1;
}

/**
 * Splits a header value at top-level commas: commas inside quoted strings and angle brackets
 * do not split. Empty elements are reported as '' so callers can refuse `a,,b`.
 */
export function splitList(value: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 34) {
      const end = endOfQuoted(value, i);
      if (end < 0) throw new SyntaxError('unbalanced quotes');
      i = end;
    } else if (c === 60 /* < */) depth++;
    else if (c === 62 /* > */) depth--;
    else if (c === 44 /* , */ && depth === 0) {
      out.push(value.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(value.slice(start).trim());
  return out;
}

/** Removes backslash escapes from the inside of a quoted string. */
export function unquote(s: string): string {
  if (s.indexOf('\\') < 0) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\' && i + 1 < s.length) out += s[++i];
    else out += c;
  }
  return out;
}

/** A quoted-string: the value in double quotes, with `"` and `\` escaped. */
export function quote(s: string): string {
  return `"${s.replace(/(["\\])/g, '\\$1')}"`;
}

/** Quotes a display name if it is not made only of tokens and spaces. */
export function quoteIfNeeded(s: string): string {
  const words = s.split(' ');
  if (words.every((w) => isToken(w))) return s;
  return quote(s);
}

/**
 * Parses `;name=value;flag` parameters from `s` starting at `pos` (which holds ';' or is the
 * end). Names are lowercased; a parameter without '=' maps to null. Quoted values keep their
 * quotes stripped. Throws SyntaxError on an empty name.
 */
export function parseParams(s: string, pos: number, into: Map<string, string | null>): void {
  const n = s.length;
  while (pos < n) {
    while (pos < n && isWsp(s.charCodeAt(pos))) pos++;
    if (pos >= n) return;
    if (s.charCodeAt(pos) !== 59 /* ; */) throw new SyntaxError(`unexpected '${s[pos]}' in parameters`);
    pos++;
    while (pos < n && isWsp(s.charCodeAt(pos))) pos++;
    let nameEnd = pos;
    while (nameEnd < n) {
      const c = s.charCodeAt(nameEnd);
      if (c === 61 || c === 59 || isWsp(c)) break;
      nameEnd++;
    }
    const name = s.slice(pos, nameEnd).toLowerCase();
    if (name.length === 0) throw new SyntaxError('empty parameter name');
    pos = nameEnd;
    while (pos < n && isWsp(s.charCodeAt(pos))) pos++;
    if (pos < n && s.charCodeAt(pos) === 61 /* = */) {
      pos++;
      while (pos < n && isWsp(s.charCodeAt(pos))) pos++;
      if (pos < n && s.charCodeAt(pos) === 34) {
        const end = endOfQuoted(s, pos);
        if (end < 0) throw new SyntaxError('unbalanced quotes in parameter');
        into.set(name, unquote(s.slice(pos + 1, end)));
        pos = end + 1;
      } else {
        let end = pos;
        while (end < n && s.charCodeAt(end) !== 59 && !isWsp(s.charCodeAt(end))) end++;
        const value = s.slice(pos, end);
        if (value.length === 0) throw new SyntaxError(`empty value for parameter ${name}`);
        into.set(name, value);
        pos = end;
      }
    } else {
      into.set(name, null);
    }
  }
}

/** Serializes parameters back to `;a=b;c` form. */
export function formatParams(params: Map<string, string | null>): string {
  let out = '';
  for (const [k, v] of params) {
    out += v === null ? `;${k}` : `;${k}=${needsQuotes(v) ? quote(v) : v}`;
  }
  return out;
}

function needsQuotes(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    // token plus the characters host names and IPv6 references use
    if (!(isTokenChar(c) || c === 58 || c === 91 || c === 93)) return true;
  }
  return false;
}

/** Decodes %HH escapes; leaves a '%' that is not followed by two hex digits as it is. */
export function unescapePercent(s: string): string {
  if (s.indexOf('%') < 0) return s;
  const bytes: number[] = [];
  const raw = Buffer.from(s, 'utf8');
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c === 37 && i + 2 < raw.length + 0 && isHex(raw[i + 1]) && isHex(raw[i + 2])) {
      bytes.push(parseInt(String.fromCharCode(raw[i + 1], raw[i + 2]), 16));
      i += 2;
    } else bytes.push(c);
  }
  return Buffer.from(bytes).toString('latin1');
}

function isHex(c: number | undefined): boolean {
  return c !== undefined && ((c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102));
}
