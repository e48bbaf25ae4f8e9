import { Address, parseAddress, parseVia, Via } from './address.js';
import { splitList } from './grammar.js';
import { headerKey, headerSpelling, NOT_LISTS } from './headers.js';
import { parseUri, SipUri } from './uri.js';

const EMPTY = Buffer.alloc(0);

export interface CSeq {
  seq: number;
  method: string;
}

/**
 * A SIP message. The header map (canonical key -> the values of each header line, in order)
 * is the truth; typed views (from, to, vias...) are parsed on first use and cached until that
 * header is changed.
 */
export abstract class SipMessage {
  readonly headers = new Map<string, string[]>();
  body: Buffer = EMPTY;
  // Parsed views, undefined until first use; #invalidate drops the one of a changed header.
  #from: Address | undefined;
  #to: Address | undefined;
  #vias: Via[] | undefined;
  #cseq: CSeq | undefined;
  #contacts: Address[] | undefined;
  #routes: Address[] | undefined;
  #recordRoutes: Address[] | undefined;

  abstract readonly isRequest: boolean;

  /** First value of a header, or undefined. */
  get(name: string): string | undefined {
    return this.headers.get(headerKey(name))?.[0];
  }

  has(name: string): boolean {
    return this.headers.has(headerKey(name));
  }

  /** Every element of a list header, across all its lines, split at top-level commas. */
  getAll(name: string): string[] {
    const key = headerKey(name);
    const lines = this.headers.get(key);
    if (!lines) return [];
    if (NOT_LISTS.has(key)) return lines.slice();
    if (lines.length === 1 && lines[0].indexOf(',') < 0) return lines[0] === '' ? [] : [lines[0]];
    const out: string[] = [];
    for (const line of lines) for (const v of splitList(line)) out.push(v);
    return out;
  }

  set(name: string, value: string | string[]): this {
    const key = headerKey(name);
    this.headers.set(key, Array.isArray(value) ? value : [value]);
    this.#invalidate(key);
    return this;
  }

  /** Adds a header line after the existing ones (or before them with `first`). */
  append(name: string, value: string, first = false): this {
    const key = headerKey(name);
    const lines = this.headers.get(key);
    if (!lines) this.headers.set(key, [value]);
    else if (first) lines.unshift(value);
    else lines.push(value);
    this.#invalidate(key);
    return this;
  }

  remove(name: string): this {
    const key = headerKey(name);
    this.headers.delete(key);
    this.#invalidate(key);
    return this;
  }

  #invalidate(key: string): void {
    switch (key) {
      case 'from': this.#from = undefined; break;
      case 'to': this.#to = undefined; break;
      case 'via': this.#vias = undefined; break;
      case 'cseq': this.#cseq = undefined; break;
      case 'contact': this.#contacts = undefined; break;
      case 'route': this.#routes = undefined; break;
      case 'record-route': this.#recordRoutes = undefined; break;
    }
  }

  get callId(): string {
    return this.get('call-id') ?? '';
  }

  get cseq(): CSeq {
    return (this.#cseq ??= parseCSeq(this.get('cseq') ?? ''));
  }

  get from(): Address {
    return (this.#from ??= parseAddress(this.get('from') ?? ''));
  }

  get to(): Address {
    return (this.#to ??= parseAddress(this.get('to') ?? ''));
  }

  get vias(): Via[] {
    return (this.#vias ??= this.getAll('via').map(parseVia));
  }

  get topVia(): Via | undefined {
    return this.vias[0];
  }

  get contacts(): Address[] {
    return (this.#contacts ??= this.getAll('contact').map(parseAddress));
  }

  /** Route or Record-Route entries, in order. */
  routes(name: 'route' | 'record-route'): Address[] {
    if (name === 'route') return (this.#routes ??= this.getAll(name).map(parseAddress));
    return (this.#recordRoutes ??= this.getAll(name).map(parseAddress));
  }

  get maxForwards(): number | undefined {
    const v = this.get('max-forwards');
    return v === undefined ? undefined : Number(v);
  }

  get contentType(): string | undefined {
    const v = this.get('content-type');
    if (v === undefined) return undefined;
    const semi = v.indexOf(';');
    return (semi >= 0 ? v.slice(0, semi) : v).trim().toLowerCase();
  }

  protected headerText(): string {
    let s = '';
    const via = this.headers.get('via');
    if (via) for (const v of via) s += `Via: ${v}\r\n`;
    for (const [key, lines] of this.headers) {
      if (key === 'via' || key === 'content-length') continue;
      const name = headerSpelling(key);
      for (const v of lines) s += `${name}: ${v}\r\n`;
    }
    return `${s}Content-Length: ${this.body.length}\r\n\r\n`;
  }

  abstract startLine(): string;

  /** The message as bytes on the wire. Content-Length is always written from the body. */
  toBuffer(): Buffer {
    const head = this.startLine() + this.headerText();
    if (this.body.length === 0) return Buffer.from(head, 'utf8');
    const h = Buffer.from(head, 'utf8');
    return Buffer.concat([h, this.body], h.length + this.body.length);
  }

  toString(): string {
    return this.toBuffer().toString('utf8');
  }
}

export class SipRequest extends SipMessage {
  readonly isRequest = true;
  method: string;
  /** Request-URI as written on the wire (digest compares against this). */
  uriText: string;
  #uri: SipUri | undefined;

  constructor(method: string, uri: string | SipUri) {
    super();
    this.method = method;
    if (typeof uri === 'string') this.uriText = uri;
    else {
      this.uriText = uri.toString();
      this.#uri = uri;
    }
  }

  get uri(): SipUri {
    if (!this.#uri) this.#uri = parseUri(this.uriText);
    return this.#uri;
  }

  set uri(u: SipUri) {
    this.#uri = u;
    this.uriText = u.toString();
  }

  startLine(): string {
    return `${this.method} ${this.uriText} SIP/2.0\r\n`;
  }
}

export class SipResponse extends SipMessage {
  readonly isRequest = false;
  status: number;
  reason: string;

  constructor(status: number, reason?: string) {
    super();
    this.status = status;
    this.reason = reason ?? reasonPhrase(status);
  }

  startLine(): string {
    return `SIP/2.0 ${this.status} ${this.reason}\r\n`;
  }
}

export type SipMessageAny = SipRequest | SipResponse;

export function parseCSeq(v: string): CSeq {
  const s = v.trim();
  let i = 0;
  while (i < s.length && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) i++;
  if (i === 0 || i > 10) throw new SyntaxError('bad CSeq number');
  const seq = Number(s.slice(0, i));
  if (seq > 0x7fffffff) throw new SyntaxError('CSeq number above 2**31-1');
  const method = s.slice(i).trim();
  if (!method.length || s.charCodeAt(i) !== 32 && s.charCodeAt(i) !== 9) throw new SyntaxError('bad CSeq method');
  return { seq, method };
}

const REASONS: Record<number, string> = {
  100: 'Trying', 180: 'Ringing', 181: 'Call Is Being Forwarded', 182: 'Queued', 183: 'Session Progress',
  200: 'OK', 202: 'Accepted', 204: 'No Notification',
  300: 'Multiple Choices', 301: 'Moved Permanently', 302: 'Moved Temporarily', 305: 'Use Proxy',
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  406: 'Not Acceptable', 407: 'Proxy Authentication Required', 408: 'Request Timeout', 410: 'Gone',
  413: 'Request Entity Too Large', 414: 'Request-URI Too Long', 415: 'Unsupported Media Type',
  416: 'Unsupported URI Scheme', 420: 'Bad Extension', 421: 'Extension Required', 423: 'Interval Too Brief',
  480: 'Temporarily Unavailable', 481: 'Call/Transaction Does Not Exist', 482: 'Loop Detected',
  483: 'Too Many Hops', 484: 'Address Incomplete', 485: 'Ambiguous', 486: 'Busy Here',
  487: 'Request Terminated', 488: 'Not Acceptable Here', 489: 'Bad Event', 491: 'Request Pending',
  500: 'Server Internal Error', 501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable',
  504: 'Server Time-out', 505: 'Version Not Supported', 513: 'Message Too Large',
  600: 'Busy Everywhere', 603: 'Decline', 604: 'Does Not Exist Anywhere', 606: 'Not Acceptable',
};

export function reasonPhrase(status: number): string {
  return REASONS[status] ?? (status < 200 ? 'Progress' : status < 300 ? 'OK' : 'Error');
}

export { Address, Via, SipUri };
