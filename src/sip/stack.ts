import { randomToken } from './ids.js';
import { parseMessage, SipParseError } from './message/parser.js';
import { SipRequest, SipResponse, type SipMessageAny } from './message/message.js';
import type { ClientTransaction, ClientTransactionUser } from './transaction/client.js';
import { MAGIC_COOKIE, TransactionLayer } from './transaction/layer.js';
import { TimerHeap, type TimerClock } from './transaction/timers.js';
import { InviteServerTransaction, type ServerTransaction } from './transaction/server.js';
import { TransportManager } from './transport/manager.js';
import type { ListenSpec, Source, Target, TransportError, TransportProtocol } from './transport/types.js';
import { resolveRequestTarget } from './routing.js';
import { LogLimit } from './log-limit.js';
import { TtlMap } from './ttl-map.js';

/** The logging the stack does; winston loggers fit it. */
export interface SipLogger {
  error(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
  info(message: string, meta?: Record<string, unknown>): void;
  debug(message: string, meta?: Record<string, unknown>): void;
  isDebugEnabled?(): boolean;
}

export interface SipStackOptions {
  listen: ListenSpec[];
  maxMessageSize: number;
  /** Time for every transaction and dialog timer (default the process clock; tests pass a manual one). */
  clock?: TimerClock;
  /** RFC 3261 timer base values in ms. */
  t1?: number;
  t2?: number;
  t4?: number;
  /** Server / User-Agent header value. */
  userAgent?: string;
  logger: SipLogger;
  /** Option tags the TU supports: a Require naming any other gets 420 (RFC 3261 8.2.2.3). */
  supported?: string[];
  /** Body types the TU understands: other bodies get 415 with Accept (RFC 3261 8.2.3). */
  accept?: string[];
  /** Methods the TU handles; others get 405 (known methods) or 501. */
  methods: string[];
  /**
   * A new request inside its server transaction (every method but ACK). The TU must answer
   * through `stack.respond(tx, ...)`.
   */
  onRequest: (req: SipRequest, tx: ServerTransaction) => void;
  /**
   * An OPTIONS outside a dialog, before the stack answers it with its capabilities: the TU may
   * answer it itself (a node link challenges its peer's keepalive) and return true.
   */
  onOptions?: (req: SipRequest, tx: ServerTransaction) => boolean;
  /** ACK for a 2xx (no transaction: RFC 3261 17.2.1) and other ACKs that match nothing. */
  onAck?: (ack: SipRequest, source: Source) => void;
  /** A response that matched no client transaction (e.g. a 2xx retransmission after Accepted ended). */
  onStrayResponse?: (res: SipResponse, source: Source) => void;
  /** A connection-oriented flow closed (RFC 5626). */
  onFlowClosed?: (flowId: string) => void;
  /** Connection limits and deadlines of the transports (see TransportManagerOptions). */
  connections?: { max?: number; perAddress?: number; messageTimeoutMs?: number; idleTimeoutMs?: number };
  /** A connection was refused at a connection limit (for an alarm); called for each refusal. */
  onConnectionLimit?: (err: TransportError) => void;
}

const KNOWN_METHODS = new Set(['INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'REGISTER', 'PRACK', 'SUBSCRIBE', 'NOTIFY', 'PUBLISH', 'INFO', 'REFER', 'MESSAGE', 'UPDATE']);
const URI_SCHEMES = new Set(['sip', 'sips', 'tel']);

/**
 * The RFC 3261 stack's core: parses what the transports deliver, answers malformed requests,
 * runs the transaction layer, applies the UAS checks of section 8.2 and hands requests to the
 * TU. It knows nothing about PBX features.
 */
export class SipStack {
  readonly transports: TransportManager;
  readonly transactions: TransactionLayer;
  readonly #opts: SipStackOptions;
  readonly #log: SipLogger;
  readonly #debug: boolean;
  readonly #allow: string;
  readonly #methods: Set<string>;
  readonly #supported: Set<string>;
  readonly #accept: Set<string>;
  #closed = false;
  /** Counters for status and metrics. */
  readonly stats = { received: 0, sent: 0, parseErrors: 0, strayResponses: 0 };

  constructor(opts: SipStackOptions) {
    this.#opts = opts;
    this.#log = opts.logger;
    this.#debug = opts.logger.isDebugEnabled?.() ?? false;
    this.#methods = new Set(opts.methods);
    this.#allow = opts.methods.join(', ');
    this.#supported = new Set(opts.supported ?? []);
    this.#accept = new Set((opts.accept ?? []).map((a) => a.toLowerCase()));
    this.transports = new TransportManager({
      listen: opts.listen,
      maxMessageSize: opts.maxMessageSize,
      onMessage: (data, source) => this.#receive(data, source),
      onFlowClosed: (flowId) => opts.onFlowClosed?.(flowId),
      onError: (err) => this.#transportError(err),
      maxConnections: opts.connections?.max,
      maxConnectionsPerAddress: opts.connections?.perAddress,
      messageTimeoutMs: opts.connections?.messageTimeoutMs,
      idleTimeoutMs: opts.connections?.idleTimeoutMs,
    });
    this.#answered = new TtlMap({ ttlMs: 64 * (opts.t1 ?? 500), max: 20_000 });
    this.transactions = new TransactionLayer({
      t1: opts.t1 ?? 500,
      t2: opts.t2 ?? 4000,
      t4: opts.t4 ?? 5000,
      timers: opts.clock ? new TimerHeap(opts.clock) : undefined,
      responseTarget,
      sendResponse: (buf, target, cb) => this.send(buf, target, cb),
      sendRequest: (buf, target, cb) => this.send(buf, target, cb),
    });
  }

  get userAgent(): string {
    return this.#opts.userAgent ?? 'pbx-core';
  }

  /** The Allow header value: the methods the TU handles (RFC 3261 20.5). */
  get allow(): string {
    return this.#allow;
  }

  /** The Supported header value: the option tags the TU supports. */
  get supported(): string {
    return [...this.#supported].join(', ');
  }

  /** The Accept header value: the body types the TU understands. */
  get accept(): string {
    return [...this.#accept].join(', ');
  }

  async start(): Promise<void> {
    await this.transports.start();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.transactions.close();
    await this.transports.close();
  }

  /** Local address for Via/Contact on a protocol. */
  local(protocol: TransportProtocol): { address: string; port: number } {
    const l = this.transports.local(protocol);
    if (!l) throw new Error(`no ${protocol} listener`);
    return l;
  }

  send(buf: Buffer, target: Target, cb?: (err?: Error) => void): void {
    this.stats.sent++;
    this.transports.send(buf, target, cb);
  }

  #receive(data: Buffer, source: Source): void {
    this.stats.received++;
    let msg: SipMessageAny;
    try {
      msg = parseMessage(data, source.protocol === 'udp');
    } catch (e) {
      this.stats.parseErrors++;
      if (!(e instanceof SipParseError)) throw e;
      const partial = e.partial;
      // one line per packet would let a flood fill the disk: a budget, and a count of what was left out
      const dropped = this.#malformedLog.take();
      if (dropped !== undefined) {
        this.#log.info(`malformed SIP message from ${source.address}:${source.port}: ${e.message}`, {
          callId: partial?.get('call-id'),
          status: e.status,
          ...(dropped ? { suppressed: dropped } : {}),
        });
      }
      if (e.status !== undefined && partial && partial.isRequest && partial.method !== 'ACK') {
        this.#replyStateless(partial, source, e.status, e.status === 400 ? `Bad Request (${e.message.slice(0, 80)})` : undefined);
      }
      return;
    }
    if (msg.isRequest) this.#receiveRequest(msg, source);
    else this.#receiveResponse(msg, source);
  }

  #receiveRequest(req: SipRequest, source: Source): void {
    this.#stampVia(req, source);
    const existing = this.transactions.matchServer(req);
    if (existing) {
      existing.receiveRequest(req);
      return;
    }
    // a retransmission of a request answered statelessly gets the very same answer (a client
    // absorbs that as a retransmission, not as a second challenge); its ACK is absorbed here
    const key = TransactionLayer.serverKey(req, req.method === 'ACK' ? 'INVITE' : req.method);
    const answered = key === undefined ? undefined : this.#answered.get(`${key}|${source.address}|${source.port}`);
    if (answered) {
      if (req.method !== 'ACK') this.send(answered.buf, answered.target);
      return;
    }
    if (req.method === 'ACK') {
      this.#opts.onAck?.(req, source);
      return;
    }
    if (this.#debug) this.#log.debug(`${req.method} ${req.uriText} from ${source.address}:${source.port}/${source.protocol}`, { callId: req.callId });
    const tx = this.transactions.createServer(req, source);
    if (req.method === 'CANCEL') {
      this.#cancel(req, tx);
      return;
    }
    const refusal = this.#check(req);
    if (refusal) {
      // nobody has authenticated this request: one packet back, no retransmission (amplification)
      this.respond(tx, this.stateless(refusal));
      return;
    }
    // RFC 3261 11.2: what this UA can do is the stack's to say, outside any dialog
    if (req.method === 'OPTIONS' && req.to.tag === undefined) {
      if (this.#opts.onOptions?.(req, tx)) return;
      const res = this.createResponse(req, 200);
      res.set('allow', this.#allow);
      res.set('accept', this.accept);
      res.set('supported', this.supported);
      this.respond(tx, res);
      return;
    }
    // the TU's error boundary is the request dispatcher (ua/dispatch.ts): it answers 500
    this.#opts.onRequest(req, tx);
    // 100 Trying only when the TU has not answered at once (RFC 3261 17.2.1: within 200 ms):
    // an INVITE challenged statelessly must bring back one packet, not two.
    if (tx instanceof InviteServerTransaction && !tx.responded) this.respond(tx, this.createResponse(req, 100));
  }

  readonly #malformedLog = new LogLimit(20, 10_000);
  readonly #transportLog = new LogLimit(20, 10_000);

  /** Transport problems are an operator's business (warn), within a budget of lines; limits also raise the alarm. */
  #transportError(err: TransportError): void {
    if (err.code === 'limit' || err.code === 'limit-address') this.#opts.onConnectionLimit?.(err);
    const dropped = this.#transportLog.take();
    if (dropped === undefined) return;
    this.#log.warn(`transport: ${err.message}`, { code: err.code, ...(dropped ? { suppressed: dropped } : {}) });
  }

  /** RFC 3261 8.2.1-8.2.3: method, URI scheme, Require, body type; returns a refusal or undefined. */
  #check(req: SipRequest): SipResponse | undefined {
    if (!this.#methods.has(req.method)) {
      const res = this.createResponse(req, KNOWN_METHODS.has(req.method) ? 405 : 501);
      res.set('allow', this.#allow);
      return res;
    }
    const colon = req.uriText.indexOf(':');
    if (!URI_SCHEMES.has(req.uriText.slice(0, colon).toLowerCase())) return this.createResponse(req, 416);
    if (req.method === 'INVITE' && req.maxForwards === 0) return this.createResponse(req, 483);
    if (req.method !== 'CANCEL' && req.has('require')) {
      const unsupported = req.getAll('require').filter((t) => !this.#supported.has(t.toLowerCase()));
      if (unsupported.length) {
        const res = this.createResponse(req, 420);
        res.set('unsupported', unsupported.join(', '));
        return res;
      }
    }
    if (req.body.length && req.method !== 'REGISTER') {
      const type = req.contentType;
      const enc = req.get('content-encoding');
      if (type === undefined || !this.#accept.has(type) || (enc !== undefined && enc.toLowerCase() !== 'identity')) {
        const res = this.createResponse(req, 415);
        res.set('accept', [...this.#accept].join(', '));
        res.set('accept-encoding', 'identity');
        return res;
      }
    }
    if (req.method === 'INVITE' && req.has('accept')) {
      const ok = req.getAll('accept').some((a) => {
        const t = a.split(';')[0].trim().toLowerCase();
        return t === '*/*' || t === 'application/*' || this.#accept.has(t);
      });
      if (!ok) {
        const res = this.createResponse(req, 406);
        res.set('accept', [...this.#accept].join(', '));
        return res;
      }
    }
    return undefined;
  }

  #cancel(cancel: SipRequest, tx: ServerTransaction): void {
    const invite = this.transactions.matchCancelled(cancel);
    if (!invite) {
      // stateless: a flood of CANCELs for nothing leaves no transactions waiting out Timer J
      this.respond(tx, this.stateless(this.createResponse(cancel, 481)));
      return;
    }
    this.respond(tx, this.createResponse(cancel, 200));
    if (invite.finalSent) return;
    if (invite.onCancel) invite.onCancel(cancel);
    else this.respond(invite, this.createResponse(invite.request, 487));
  }

  #receiveResponse(res: SipResponse, source: Source): void {
    if (this.transactions.receiveResponse(res)) return;
    this.stats.strayResponses++;
    this.#opts.onStrayResponse?.(res, source);
  }

  /** RFC 3581 and RFC 3261 18.2.1: note where the request really came from in the top Via. */
  #stampVia(req: SipRequest, source: Source): void {
    const via = req.topVia;
    if (!via) return;
    const rport = via.params.has('rport');
    if (!rport && via.host === source.address) return;
    via.params.set('received', source.address);
    if (rport) via.params.set('rport', String(source.port));
    const lines = req.headers.get('via')!;
    const rest = lines[0].indexOf(',') >= 0 ? lines[0].slice(lines[0].indexOf(',')) : '';
    lines[0] = via.toString() + rest;
  }

  #replyStateless(req: SipRequest, source: Source, status: number, reason?: string): void {
    try {
      const res = this.createResponse(req, status, reason);
      this.send(res.toBuffer(), responseTarget(req, source));
    } catch {
      // the headers needed for a reply were not usable after all: drop
    }
  }

  /**
   * A response to `req` (RFC 3261 8.2.6): Via, From, Call-ID, CSeq copied, To copied with a tag
   * added for every response but 100 when it has none.
   */
  createResponse(req: SipRequest, status: number, reason?: string, toTag?: string): SipResponse {
    const res = new SipResponse(status, reason);
    const via = req.headers.get('via');
    if (via) res.headers.set('via', via.slice());
    const from = req.get('from');
    if (from !== undefined) res.set('from', from);
    let to = req.get('to');
    if (to !== undefined) {
      if (status !== 100 && !/;\s*tag=/i.test(to)) to += `;tag=${toTag ?? SipStack.tag()}`;
      res.set('to', to);
    }
    for (const h of ['call-id', 'cseq']) {
      const v = req.get(h);
      if (v !== undefined) res.set(h, v);
    }
    if (status !== 100) res.set('server', this.userAgent);
    return res;
  }

  /**
   * Refuses a request with a final response (RFC 3261 8.2.6): the one way the TU says no. A
   * request already answered keeps its answer. 405 carries Allow, 415 Accept. `stateless`: for
   * a request nobody has authenticated and that matches nothing of ours (see `stateless()`).
   */
  refuse(tx: ServerTransaction, status: number, reason?: string, headers: Record<string, string> = {}, how: { stateless?: boolean } = {}): void {
    if (!Number.isInteger(status) || status < 300 || status > 699) throw new TypeError('status: a final status 300..699');
    if (headers === null || typeof headers !== 'object') throw new TypeError('headers: an object of header values');
    if (tx.finalSent) return;
    const res = this.createResponse(tx.request, status, reason);
    if (status === 405) res.set('allow', this.#allow);
    if (status === 415) res.set('accept', this.accept);
    for (const [k, v] of Object.entries(headers)) res.set(k, v);
    this.respond(tx, how.stateless ? this.stateless(res) : res);
  }

  respond(tx: ServerTransaction, res: SipResponse): void {
    if (this.#debug && res.status >= 200) this.#log.debug(`${res.status} ${res.reason} for ${tx.request.method}`, { callId: tx.request.callId });
    if (res.status >= 200 && this.#stateless.has(res) && !tx.finalSent) {
      const buf = res.toBuffer();
      this.#answered.set(`${tx.key}|${tx.source.address}|${tx.source.port}`, { buf, target: tx.target });
      tx.respondStateless(res, buf);
    } else {
      tx.respond(res);
    }
  }

  readonly #stateless = new WeakSet<SipResponse>();
  /**
   * Stateless answers by request (transaction key and source) for 64*T1: bytes and a target,
   * no timers, bounded (a flood of new requests pushes the oldest out).
   */
  readonly #answered: TtlMap<{ buf: Buffer; target: Target }>;

  /**
   * Marks a final response to go out statelessly whoever sends it through `respond()`: once, and
   * the transaction ends at once (see ServerTransaction.respondStateless). The Authenticator marks
   * its challenges and refusals so every feature that relays them answers alike.
   */
  stateless(res: SipResponse): SipResponse {
    this.#stateless.add(res);
    return res;
  }

  /**
   * Sends a request statefully. Adds Via (with a fresh branch), Max-Forwards and User-Agent when
   * missing; the target comes from `target` or the Route set / Request-URI (RFC 3261 8.1.2).
   */
  request(req: SipRequest, tu: ClientTransactionUser, target?: Target): ClientTransaction {
    const t = target ?? resolveRequestTarget(req);
    this.#prepareRequest(req, t.protocol);
    return this.transactions.createClient(req, t, tu);
  }

  /** Sends a request without a transaction (ACK for 2xx). */
  sendStateless(req: SipRequest, target?: Target): void {
    const t = target ?? resolveRequestTarget(req);
    this.#prepareRequest(req, t.protocol);
    this.send(req.toBuffer(), t);
  }

  #prepareRequest(req: SipRequest, protocol: TransportProtocol): void {
    if (!req.has('via')) {
      const l = this.local(protocol);
      req.set('via', `SIP/2.0/${protocol.toUpperCase()} ${l.address}:${l.port};branch=${SipStack.branch()};rport`);
    }
    if (!req.has('max-forwards')) req.set('max-forwards', '70');
    if (!req.has('user-agent')) req.set('user-agent', this.userAgent);
  }

  static branch(): string {
    return MAGIC_COOKIE + randomToken(9, 'base64url');
  }

  static tag(): string {
    return randomToken(6);
  }

  static callId(): string {
    return randomToken(12, 'base64url');
  }
}

/** RFC 3261 18.2.2 with RFC 3581 and RFC 5626: where a response to `req` goes. */
export function responseTarget(req: SipRequest, source: Source): Target {
  if (source.flowId !== undefined) {
    return { protocol: source.protocol, address: source.address, port: source.port, flowId: source.flowId };
  }
  const via = req.topVia;
  const rport = via?.params.get('rport');
  const port = rport ? Number(rport) : source.protocol === 'udp' ? (via?.port ?? 5060) : source.port;
  const address = via?.params.get('received') ?? source.address;
  return { protocol: source.protocol, address, port };
}
