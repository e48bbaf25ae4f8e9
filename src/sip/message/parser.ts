import { isToken, isWsp } from './grammar.js';
import { checkedHeaderKey, SINGLE_VALUED } from './headers.js';
import { SipRequest, SipResponse, type SipMessageAny } from './message.js';

/**
 * Why a message was refused. `status` is the response a server should send (400, 505...) when
 * the message is a request whose Via, From, To, Call-ID and CSeq lines are usable; otherwise
 * the message is to be dropped. `message` is whatever could be built, for that reply.
 */
export class SipParseError extends Error {
  readonly status: number | undefined;
  readonly partial: SipMessageAny | undefined;
  constructor(reason: string, status?: number, partial?: SipMessageAny) {
    super(reason);
    this.name = 'SipParseError';
    this.status = status;
    this.partial = partial;
  }
}

const CRLFCRLF = Buffer.from('\r\n\r\n');
const MAX_UINT32 = 4294967295;

/**
 * Parses one SIP message from `buf`. For a datagram, the body is bounded by Content-Length
 * (trailing octets are ignored) and a Content-Length beyond the datagram is an error; without
 * Content-Length the body is the rest of the datagram. Throws SipParseError.
 */
export function parseMessage(buf: Buffer, datagram = true): SipMessageAny {
  let start = 0;
  while (start + 1 < buf.length && buf[start] === 13 && buf[start + 1] === 10) start += 2;
  let headEnd = buf.indexOf(CRLFCRLF, start);
  let bodyStart: number;
  if (headEnd < 0) {
    // A datagram whose header section ends at the end of the packet without the blank line.
    if (!datagram) throw new SipParseError('no end of header section');
    headEnd = buf.length;
    while (headEnd > start && (buf[headEnd - 1] === 10 || buf[headEnd - 1] === 13)) headEnd--;
    bodyStart = buf.length;
  } else bodyStart = headEnd + 4;
  const text = buf.toString('utf8', start, headEnd);
  const firstEnd = text.indexOf('\r\n');
  const startLine = firstEnd < 0 ? text : text.slice(0, firstEnd);
  let versionError: SipParseError | undefined;
  let msg: SipMessageAny;
  try {
    msg = parseStartLine(startLine);
  } catch (e) {
    // A request in another SIP version is answered 505, which needs its headers parsed too.
    if (!(e instanceof SipParseError) || e.status !== 505 || !e.partial) throw e;
    versionError = e;
    msg = e.partial;
  }

  // headers
  let pos = firstEnd < 0 ? text.length : firstEnd + 2;
  let bad: string | undefined;
  while (pos < text.length) {
    let eol = text.indexOf('\r\n', pos);
    if (eol < 0) eol = text.length;
    // a line starting with whitespace continues the header above (folding, RFC 3261 7.3.1)
    let folded = false;
    while (eol < text.length && isWsp(text.charCodeAt(eol + 2))) {
      folded = true;
      eol = text.indexOf('\r\n', eol + 2);
      if (eol < 0) eol = text.length;
    }
    const colon = text.indexOf(':', pos);
    if (colon < 0 || colon > eol) {
      bad ??= `header line without colon: '${text.slice(pos, Math.min(eol, pos + 40))}'`;
    } else {
      let nameEnd = colon;
      while (nameEnd > pos && isWsp(text.charCodeAt(nameEnd - 1))) nameEnd--;
      const name = text.slice(pos, nameEnd);
      const key = checkedHeaderKey(name);
      if (key === undefined) bad ??= `bad header name '${name}'`;
      else {
        const raw = text.slice(colon + 1, eol);
        const value = (folded ? raw.replace(/\r\n[ \t]+/g, ' ') : raw).trim();
        const lines = msg.headers.get(key);
        if (lines) {
          // a second line of a single-valued header (multi01, mcl01) is checked here, where
          // repeats are seen, rather than by looking every such header up afterwards
          if (SINGLE_VALUED.has(key)) bad ??= key === 'content-length' ? 'more than one Content-Length' : `more than one ${key} header`;
          lines.push(value);
        }
        else msg.headers.set(key, [value]);
      }
    }
    pos = eol + 2;
  }

  // body, bounded by Content-Length
  const clLines = msg.headers.get('content-length');
  let contentLength: number | undefined;
  if (clLines) {
    if (clLines.length > 1) bad ??= 'more than one Content-Length';
    else {
      contentLength = digits(clLines[0]);
      if (contentLength < 0) bad ??= `bad Content-Length '${clLines[0]}'`;
    }
  }
  const available = buf.length - bodyStart;
  if (contentLength !== undefined) {
    if (contentLength > available) {
      bad ??= `Content-Length ${contentLength} beyond the ${available} octets received`;
      msg.body = buf.subarray(bodyStart);
    } else msg.body = buf.subarray(bodyStart, bodyStart + contentLength);
  } else if (datagram) msg.body = buf.subarray(bodyStart);
  else bad ??= 'no Content-Length on a stream transport';

  if (versionError) throw new SipParseError(versionError.message, canReply(msg) ? 505 : undefined, msg);
  if (bad === undefined) bad = validate(msg);
  if (bad !== undefined) {
    // Responses are never answered; requests get 400 when a reply can be built at all.
    const status = msg.isRequest && canReply(msg) ? 400 : undefined;
    throw new SipParseError(bad, status, msg);
  }
  return msg;
}

function parseStartLine(line: string): SipMessageAny {
  if (line.startsWith('SIP/')) {
    // SIP-Version SP Status-Code SP Reason-Phrase (the phrase may be empty)
    const sp1 = line.indexOf(' ');
    if (sp1 < 0 || line.slice(0, sp1) !== 'SIP/2.0') throw new SipParseError(`bad status line '${line}'`);
    const codeText = line.slice(sp1 + 1, sp1 + 4);
    if (!/^[1-6][0-9][0-9]$/.test(codeText) || (line.length > sp1 + 4 && line[sp1 + 4] !== ' ')) {
      throw new SipParseError(`bad status code in '${line}'`);
    }
    return new SipResponse(Number(codeText), line.slice(sp1 + 5));
  }
  const sp1 = line.indexOf(' ');
  const sp2 = sp1 < 0 ? -1 : line.indexOf(' ', sp1 + 1);
  if (sp1 <= 0 || sp2 < 0 || line.indexOf(' ', sp2 + 1) >= 0 || line.indexOf('\t') >= 0) {
    throw new SipParseError(`bad request line '${line}'`);
  }
  const method = line.slice(0, sp1);
  const uri = line.slice(sp1 + 1, sp2);
  const version = line.slice(sp2 + 1);
  if (!isToken(method)) throw new SipParseError(`bad method '${method}'`);
  if (!uri.length) throw new SipParseError('empty Request-URI');
  const req = new SipRequest(method, uri);
  if (version !== 'SIP/2.0') {
    if (/^SIP\/[0-9]+\.[0-9]+$/i.test(version)) {
      throw new SipParseError(`SIP version ${version} not supported`, 505, req);
    }
    throw new SipParseError(`bad request line '${line}'`);
  }
  return req;
}

/** A reply can be routed when the Via is usable; missing From/To/Call-ID are left out of it. */
function canReply(msg: SipMessageAny): boolean {
  try {
    return msg.has('via') && msg.vias.length > 0;
  } catch {
    return false;
  }
}

const REQUIRED = ['via', 'from', 'to', 'call-id', 'cseq'];

/** Structural checks; returns the first problem or undefined. */
function validate(msg: SipMessageAny): string | undefined {
  const h = msg.headers;
  const missing = h.has('via') && h.has('from') && h.has('to') && h.has('call-id') && h.has('cseq') ? [] : REQUIRED.filter((k) => !h.has(k));
  if (missing.length) return `missing headers: ${missing.map((h) => (h === 'cseq' ? 'CSeq' : h === 'call-id' ? 'Call-ID' : h[0].toUpperCase() + h.slice(1))).join(', ')}`;
  // RFC 3261 25.1: callid = word ["@" word]; an empty one cannot key a dialog or a record
  const callId = h.get('call-id')![0];
  if (callId === '' || /\s/.test(callId)) return callId === '' ? 'empty Call-ID' : 'bad Call-ID (whitespace)';
  try {
    // a second value (`a, b`) fails the name-addr grammar, so parsing is the check
    msg.from;
    msg.to;
  } catch (e) {
    return `bad From/To: ${(e as Error).message}`;
  }
  try {
    if (msg.vias.length === 0) return 'empty Via';
  } catch (e) {
    return `bad Via: ${(e as Error).message}`;
  }
  let cseq;
  try {
    cseq = msg.cseq;
  } catch (e) {
    return `bad CSeq: ${(e as Error).message}`;
  }
  const mf = msg.headers.get('max-forwards')?.[0];
  if (mf !== undefined && !/^[0-9]{1,10}$/.test(mf)) return `bad Max-Forwards '${mf}'`;
  if (mf !== undefined && Number(mf) > 255) return `Max-Forwards ${mf} above 255`;
  const expires = msg.headers.get('expires')?.[0];
  if (expires !== undefined && (!/^[0-9]{1,10}$/.test(expires) || Number(expires) > MAX_UINT32)) {
    // RFC 3261 allows an HTTP date in old Expires; only a number is valid in SIP 2.0 requests we take
    return `bad Expires '${expires.slice(0, 40)}'`;
  }
  if (msg.isRequest) {
    const req = msg as SipRequest;
    if (cseq.method !== req.method) return `CSeq method ${cseq.method} does not match ${req.method}`;
    try {
      // parseUri checks the scheme and the characters; other schemes are refused later (416)
      if (req.uri.headers !== undefined) return 'Request-URI must not carry headers';
    } catch (e) {
      return `bad Request-URI: ${(e as Error).message}`;
    }
    try {
      msg.contacts;
    } catch (e) {
      return `bad Contact: ${(e as Error).message}`;
    }
  }
  return undefined;
}

/** The value of 1 to 10 decimal digits, or -1. */
function digits(s: string): number {
  if (s.length === 0 || s.length > 10) return -1;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}
