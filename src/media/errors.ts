/** Error codes of the media layer. */
export type MediaErrorCode = 'ECLOSED' | 'ENOPORT' | 'EBUSY' | 'EIO' | 'EFORMAT' | 'ENOTFOUND' | 'EADDRNOTAVAIL';

export class MediaError extends Error {
  readonly code: MediaErrorCode;
  constructor(code: MediaErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MediaError';
    this.code = code;
  }
}

/** Helpers for input validation at the public boundary: TypeError naming the field. */
export function checkInt(field: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new TypeError(`${field}: integer ${min}..${max} expected, got ${String(v)}`);
  return v;
}

export function checkNumber(field: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max)
    throw new TypeError(`${field}: number ${min}..${max} expected, got ${String(v)}`);
  return v;
}

export function checkString(field: string, v: unknown, re?: RegExp): string {
  if (typeof v !== 'string' || v.length === 0 || (re && !re.test(v)))
    throw new TypeError(`${field}: ${re ? `string matching ${re}` : 'non-empty string'} expected`);
  return v;
}

export const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
