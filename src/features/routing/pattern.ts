/**
 * Short-code patterns and telephone-number templates, compiled once so that a decision only
 * compares characters: no regular expression and no allocation unless a code matches.
 */
import { shortCodeProblem } from '../../core/config/dialplan-schema.js';

export interface CompiledCode {
  /** The code as configured (with any ";"), for traces. */
  readonly text: string;
  /** Without ";": our phones dial en bloc, so "complete dialling" means nothing to matching. */
  readonly bare: string;
  /** The "?" default code: matches anything, ranks below every other match. */
  readonly isDefault: boolean;
  /** Leading literal characters: the key under which the code is indexed. */
  readonly prefix: string;
  /** Index of N in bare, or -1. */
  readonly nAt: number;
  /** Characters other than N: the dialled length of a code without N. */
  readonly fixedLen: number;
  /** Literal characters (digits, *, #): the first precedence criterion. */
  readonly literals: number;
}

export function compileCode(text: string, field: string): CompiledCode {
  const problem = shortCodeProblem(text);
  if (problem) throw new TypeError(`${field}: ${problem}`);
  const bare = text.replaceAll(';', '');
  const isDefault = bare === '?';
  let prefixEnd = 0;
  while (prefixEnd < bare.length && isLiteral(bare.charCodeAt(prefixEnd))) prefixEnd++;
  let literals = 0;
  for (let i = 0; i < bare.length; i++) if (isLiteral(bare.charCodeAt(i))) literals++;
  const nAt = bare.indexOf('N');
  return {
    text,
    bare,
    isDefault,
    prefix: isDefault ? '' : bare.slice(0, prefixEnd),
    nAt,
    fixedLen: isDefault ? 0 : bare.length - (nAt >= 0 ? 1 : 0),
    literals,
  };
}

function isLiteral(c: number): boolean {
  return (c >= 48 && c <= 57) || c === 42 /* * */ || c === 35 /* # */;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** Whether pattern characters bare[from, from+len) accept dialled d[at, at+len). */
function sameRun(bare: string, from: number, d: string, at: number, len: number): boolean {
  for (let i = 0; i < len; i++) {
    const p = bare.charCodeAt(from + i);
    const c = d.charCodeAt(at + i);
    if (p === 88 /* X */ ? !isDigit(c) : p !== c) return false;
  }
  return true;
}

/** X digits of bare[from, from+len) as matched at d[at...]. */
function xDigits(bare: string, from: number, d: string, at: number, len: number): string {
  let out = '';
  for (let i = 0; i < len; i++) if (bare.charCodeAt(from + i) === 88) out += d[at + i];
  return out;
}

/**
 * The digits the code's N and X matched, in order (the "N" of the telephone number), or
 * undefined when the code does not match the whole of `d`. "?" captures the whole number.
 */
export function matchCode(c: CompiledCode, d: string): string | undefined {
  if (c.isDefault) return d;
  const bare = c.bare;
  if (c.nAt < 0) {
    if (d.length !== c.fixedLen || !sameRun(bare, 0, d, 0, d.length)) return undefined;
    return c.literals === bare.length ? '' : xDigits(bare, 0, d, 0, d.length);
  }
  if (d.length < c.fixedLen) return undefined;
  const pre = c.nAt;
  const post = bare.length - pre - 1;
  const midEnd = d.length - post;
  if (!sameRun(bare, 0, d, 0, pre) || !sameRun(bare, pre + 1, d, midEnd, post)) return undefined;
  for (let i = pre; i < midEnd; i++) if (!isDigit(d.charCodeAt(i))) return undefined;
  return xDigits(bare, 0, d, 0, pre) + d.slice(pre, midEnd) + xDigits(bare, pre + 1, d, midEnd, post);
}

/** Whether more dialled digits could make `d` match (call it only when matchCode failed). */
export function couldMatch(c: CompiledCode, d: string): boolean {
  if (c.isDefault) return false;
  const bare = c.bare;
  if (c.nAt < 0) return d.length < c.fixedLen && sameRun(bare, 0, d, 0, d.length);
  const pre = c.nAt;
  if (d.length <= pre) return sameRun(bare, 0, d, 0, d.length);
  if (!sameRun(bare, 0, d, 0, pre)) return false;
  // The rest is some digits for N followed by the start of what comes after N.
  const post = bare.length - pre - 1;
  const rest = d.length - pre;
  let digitsUpTo = pre; // d[pre, digitsUpTo) are all digits
  while (digitsUpTo < d.length && isDigit(d.charCodeAt(digitsUpTo))) digitsUpTo++;
  for (let k = Math.max(0, rest - post + 1); k <= rest; k++) {
    const split = pre + k;
    if (split > digitsUpTo) break;
    if (sameRun(bare, pre + 1, d, split, d.length - split)) return true;
  }
  return false;
}

/**
 * Precedence of a full match within one tier, smaller is better: literal characters first,
 * then a fixed-length code (X) before one with N, N codes closer to the dialled length first,
 * "?" last. Config order breaks ties (the caller compares order separately).
 */
export function rankOf(c: CompiledCode, dialledLength: number): number {
  if (c.isDefault) return Number.MAX_SAFE_INTEGER;
  const lengthScore = c.nAt < 0 ? 0 : (dialledLength - c.fixedLen) * 2 + 1;
  return (64 - c.literals) * 1024 + Math.min(lengthScore, 1023);
}

export type CallerIdOut = { set?: string; pass?: boolean; withhold?: boolean };

/** Who the caller is, for E and U. */
export interface Caller {
  extension: string;
  name: string;
}

const N = 0;
const E = 1;
const U = 2;
type Part = string | typeof N | typeof E | typeof U;

export interface CompiledNumber {
  readonly parts: readonly Part[];
  /** Without E or U and with no N: the number is the same for every call. */
  readonly constant: string | undefined;
  readonly setCallerId: string | undefined;
  readonly passCallerId: boolean;
  readonly withhold: boolean;
}

/**
 * Compiles a telephone number: digits, * and # literal; N, E, U substituted; S<digits> presents
 * those digits; SS passes on the incoming calling number; W withholds. `literal` keeps the
 * whole text as it is (features whose number is a name, such as an ARS form).
 */
export function compileNumber(text: string, literal = false): CompiledNumber {
  if (literal) return { parts: [text], constant: text, setCallerId: undefined, passCallerId: false, withhold: false };
  const parts: Part[] = [];
  let lit = '';
  let setCallerId: string | undefined;
  let passCallerId = false;
  let withhold = false;
  const flush = () => {
    if (lit !== '') parts.push(lit);
    lit = '';
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === 'N' || ch === 'E' || ch === 'U') {
      flush();
      parts.push(ch === 'N' ? N : ch === 'E' ? E : U);
    } else if (ch === 'S') {
      if (text[i + 1] === 'S') {
        passCallerId = true;
        i++;
      } else {
        let j = i + 1;
        while (j < text.length && isDigit(text.charCodeAt(j))) j++;
        setCallerId = text.slice(i + 1, j);
        i = j - 1;
      }
    } else if (ch === 'W') withhold = true;
    else if (ch !== ';') lit += ch;
  }
  flush();
  const constant = parts.every((p) => typeof p === 'string') ? parts.join('') : undefined;
  return { parts, constant, setCallerId, passCallerId, withhold };
}

export function renderNumber(n: CompiledNumber, captured: string, caller: Caller | undefined): string {
  if (n.constant !== undefined) return n.constant;
  let out = '';
  for (const p of n.parts) {
    if (typeof p === 'string') out += p;
    else if (p === N) out += captured;
    else if (p === E) out += caller?.extension ?? '';
    else out += caller?.name ?? '';
  }
  return out;
}

/** SS carries `callerNumber` (the incoming calling number) when the caller knows it. */
export function renderCallerId(n: CompiledNumber, callerNumber: string | undefined): CallerIdOut {
  const out: CallerIdOut = {};
  if (n.setCallerId !== undefined) out.set = n.setCallerId;
  if (n.passCallerId) {
    out.pass = true;
    if (callerNumber !== undefined) out.set = callerNumber;
  }
  if (n.withhold) out.withhold = true;
  return out;
}
