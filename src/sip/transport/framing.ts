/**
 * SIP message framing on a byte stream (RFC 3261 section 18.3) with RFC 5626 CRLF keepalives.
 * Content-Length is found by a byte scan of the header section: no string conversion, no regex.
 */

const CR = 13;
const LF = 10;
const SP = 32;
const HT = 9;
const COLON = 58;
const HEADER_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = Buffer.from('content-length');

/** Yielded for each RFC 5626 double-CRLF ping received between messages; compare by identity. */
export const PING: Buffer = Buffer.from('\r\n\r\n');

export class FramingError extends Error {
  /** 'framing' for a malformed stream, 'oversize' when maxMessageSize is exceeded. */
  readonly code: 'framing' | 'oversize';
  constructor(code: 'framing' | 'oversize', message: string) {
    super(message);
    this.name = 'FramingError';
    this.code = code;
  }
}

/**
 * Returns the Content-Length of the header section in buf[start, end) (end just past the last
 * header line's CRLF), -1 when absent, -2 when malformed or duplicated with another value.
 */
export function scanContentLength(buf: Buffer, start: number, end: number): number {
  let found = -1;
  // The start line never carries a header: begin at the second line.
  let line = buf.indexOf(LF, start) + 1;
  while (line > 0 && line < end) {
    const c = buf[line];
    if (c !== SP && c !== HT) {
      const value = headerValueStart(buf, line, end);
      if (value >= 0) {
        const n = parseDigits(buf, value, end);
        if (n < 0 || (found >= 0 && found !== n)) return -2;
        found = n;
      }
    }
    const next = buf.indexOf(LF, line);
    if (next < 0 || next >= end) break;
    line = next + 1;
  }
  return found;
}

/** If the line at `pos` is Content-Length or `l`, the offset just after its colon, else -1. */
function headerValueStart(buf: Buffer, pos: number, end: number): number {
  let p = pos;
  const c0 = buf[p] | 0x20;
  if (c0 !== 0x63 /* c */ && c0 !== 0x6c /* l */) return -1;
  if (c0 === 0x63) {
    if (end - p < CONTENT_LENGTH.length) return -1;
    for (let i = 0; i < CONTENT_LENGTH.length; i++) {
      if ((buf[p + i] | 0x20) !== CONTENT_LENGTH[i]) return -1;
    }
    p += CONTENT_LENGTH.length;
  } else {
    p += 1;
  }
  while (p < end && (buf[p] === SP || buf[p] === HT)) p++;
  return buf[p] === COLON ? p + 1 : -1;
}

/** Decimal value after optional whitespace, up to CRLF; -1 if anything else is there. */
function parseDigits(buf: Buffer, pos: number, end: number): number {
  let p = pos;
  while (p < end && (buf[p] === SP || buf[p] === HT)) p++;
  let n = 0;
  let digits = 0;
  while (p < end) {
    const c = buf[p];
    if (c >= 48 && c <= 57) {
      if (digits >= 10) return -1;
      n = n * 10 + (c - 48);
      digits++;
      p++;
    } else break;
  }
  while (p < end && (buf[p] === SP || buf[p] === HT)) p++;
  if (digits === 0 || buf[p] !== CR) return -1;
  return n;
}

/**
 * Accumulates stream chunks and yields complete messages (headers + Content-Length body), or
 * PING for each keepalive. After a FramingError is thrown the framer must be discarded.
 */
export class StreamFramer {
  readonly #max: number;
  /** Bytes received but not yet yielded; starts at a message or between messages. */
  #pending: Buffer | null = null;
  /** Progress through "\r\n\r\n" while between messages (0..3). */
  #sep = 0;
  /** Total length of the message at the head of #pending once its headers are known, else 0. */
  #need = 0;
  /** Where to resume searching for the end of headers within #pending. */
  #scanFrom = 0;

  constructor(maxMessageSize: number) {
    if (!Number.isInteger(maxMessageSize) || maxMessageSize <= 0) {
      throw new TypeError('maxMessageSize: positive integer');
    }
    this.#max = maxMessageSize;
  }

  /** Bytes buffered for an incomplete message. */
  get buffered(): number {
    return this.#pending === null ? 0 : this.#pending.length;
  }

  *push(chunk: Buffer): Generator<Buffer, void, void> {
    let data: Buffer;
    if (this.#pending === null) {
      data = chunk;
    } else {
      const total = this.#pending.length + chunk.length;
      data = Buffer.concat([this.#pending, chunk], total);
      this.#pending = null;
      // Body still incomplete: nothing to scan, keep the joined buffer.
      if (this.#need > 0 && total < this.#need) {
        this.#pending = data;
        return;
      }
    }
    let pos = 0;
    const len = data.length;
    while (pos < len) {
      if (this.#need === 0 && this.#scanFrom === 0) {
        // Between messages: consume CRLFs, answering each complete double CRLF as a ping.
        while (pos < len) {
          const c = data[pos];
          if (c !== CR && c !== LF) break;
          pos++;
          const expected = (this.#sep & 1) === 0 ? CR : LF;
          if (c === expected) {
            if (++this.#sep === 4) {
              this.#sep = 0;
              yield PING;
            }
          } else {
            this.#sep = c === CR ? 1 : 0;
          }
        }
        if (pos >= len) return;
        this.#sep = 0;
      }
      if (this.#need === 0) {
        const from = pos + this.#scanFrom;
        const idx = data.indexOf(HEADER_END, from);
        if (idx < 0) {
          if (len - pos > this.#max) {
            throw new FramingError('oversize', `header section exceeds ${this.#max} bytes`);
          }
          this.#scanFrom = Math.max(0, len - pos - 3);
          this.#pending = data.subarray(pos);
          return;
        }
        this.#scanFrom = 0;
        const cl = scanContentLength(data, pos, idx + 2);
        if (cl === -1) throw new FramingError('framing', 'missing Content-Length on a stream');
        if (cl < 0) throw new FramingError('framing', 'malformed Content-Length');
        const total = idx + 4 - pos + cl;
        if (total > this.#max) {
          throw new FramingError('oversize', `message of ${total} bytes exceeds ${this.#max}`);
        }
        this.#need = total;
      }
      if (len - pos < this.#need) {
        this.#pending = data.subarray(pos);
        return;
      }
      const end = pos + this.#need;
      this.#need = 0;
      const msg = data.subarray(pos, end);
      pos = end;
      yield msg;
    }
  }
}
