/**
 * Connection-oriented flows (RFC 5626): one class per socket kind, all seen by the manager
 * through the small Flow interface.
 */
import type { Socket } from 'node:net';
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import { WebSocket, type RawData } from 'ws';
import { FramingError, PING, StreamFramer } from './framing.js';
import { TransportError, type Source, type TransportProtocol } from './types.js';

/** What a flow needs from its manager. */
export interface FlowHost {
  readonly maxMessageSize: number;
  readonly idleTimeoutMs: number;
  readonly messageTimeoutMs: number;
  deliver(data: Buffer, source: Source): void;
  flowClosed(flow: Flow): void;
  error(err: TransportError): void;
}

export interface Flow {
  readonly id: string;
  readonly protocol: TransportProtocol;
  /** `protocol|address|port` of the remote end, for reuse by address. */
  readonly key: string;
  write(data: Buffer, cb?: (err?: Error | null) => void): void;
  /** Idempotent; the flow reports its end through FlowHost.flowClosed. */
  close(): void;
}

const CRLF = Buffer.from('\r\n');
const TEXT_FRAME = { binary: false } as const;
const BINARY_FRAME = { binary: true } as const;

let counter = 0;
export function nextFlowId(protocol: TransportProtocol): string {
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
  return `${protocol}:${counter}`;
}

export function remoteKey(protocol: TransportProtocol, address: string, port: number): string {
  return `${protocol}|${address}|${port}`;
}

/** Dual-stack sockets report IPv4 peers as ::ffff:a.b.c.d; SIP wants the plain form. */
export function plainAddress(a: string | undefined): string {
  if (a === undefined) return '';
  return a.startsWith('::ffff:') && a.indexOf('.') > 0 ? a.slice(7) : a;
}

/**
 * The two clocks of an inbound connection. Idle: no message (or RFC 5626 keepalive) for
 * idleTimeoutMs; stray bytes do not count, so a byte a second cannot keep a connection forever.
 * Deadline: a message begun must be complete within messageTimeoutMs, and the first one must
 * come within it of the connection opening (slowloris).
 */
class Clocks {
  readonly #host: FlowHost;
  readonly #expire: (why: string) => void;
  #idle: NodeJS.Timeout | undefined;
  #deadline: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(host: FlowHost, expire: (why: string) => void) {
    this.#host = host;
    this.#expire = expire;
    if (host.idleTimeoutMs > 0) {
      this.#idle = setTimeout(() => this.#fire(`no message for ${host.idleTimeoutMs} ms`), host.idleTimeoutMs);
      this.#idle.unref();
    }
    this.partial();
  }

  /** A whole message or keepalive arrived. */
  message(): void {
    this.#idle?.refresh();
    clearTimeout(this.#deadline);
    this.#deadline = undefined;
  }

  /** Bytes of a message not yet complete are waiting. */
  partial(): void {
    const ms = this.#host.messageTimeoutMs;
    if (this.#deadline !== undefined || ms <= 0 || this.#closed) return;
    this.#deadline = setTimeout(() => this.#fire(`no complete message within ${ms} ms`), ms);
    this.#deadline.unref();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#idle);
    clearTimeout(this.#deadline);
    this.#idle = this.#deadline = undefined;
  }

  #fire(why: string): void {
    if (this.#closed) return;
    this.close();
    this.#expire(why);
  }
}

/** A TCP or TLS connection carrying a framed byte stream. */
export class StreamFlow implements Flow {
  readonly id: string;
  readonly protocol: TransportProtocol;
  readonly key: string;
  readonly #host: FlowHost;
  readonly #socket: Socket;
  readonly #framer: StreamFramer;
  readonly #remoteAddress: string;
  readonly #remotePort: number;
  #source: Source | undefined;
  #closed = false;
  /** Writes made while an outbound connection is being set up; null once connected. */
  #queue: [Buffer, ((err?: Error | null) => void) | undefined][] | null = null;
  #lastError: Error | undefined;
  /** Inbound flows only: we close what others open and leave idle; our own connections we close ourselves. */
  readonly #clocks: Clocks | undefined;

  /** For outbound flows, remote is the dialled target; inbound ones take it from the socket. */
  constructor(host: FlowHost, socket: Socket, protocol: TransportProtocol, inbound: boolean,
    remoteAddress?: string, remotePort?: number) {
    this.#host = host;
    this.#socket = socket;
    this.protocol = protocol;
    this.id = nextFlowId(protocol);
    this.#remoteAddress = remoteAddress ?? plainAddress(socket.remoteAddress);
    this.#remotePort = remotePort ?? socket.remotePort ?? 0;
    this.key = remoteKey(protocol, this.#remoteAddress, this.#remotePort);
    this.#framer = new StreamFramer(host.maxMessageSize);
    socket.setNoDelay(true);
    this.#clocks = inbound ? new Clocks(host, (why) => this.#expired(why)) : undefined;
    if (!inbound) {
      this.#queue = [];
      socket.once(protocol === 'tls' ? 'secureConnect' : 'connect', () => this.#flush());
    }
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.#lastError = err;
      host.error(new TransportError(err.code ?? 'socket', `${this.id} ${this.key}: ${err.message}`));
    });
    socket.on('close', () => {
      this.#closed = true;
      this.#clocks?.close();
      const queue = this.#queue;
      this.#queue = null;
      if (queue !== null && queue.length > 0) {
        // The connection never came up: fail the queued sends with the reason it did not.
        const err = this.#lastError ?? new TransportError('flow-gone', `${this.id} closed before connecting`);
        for (const [, cb] of queue) cb?.(err);
      }
      host.flowClosed(this);
    });
  }

  write(data: Buffer, cb?: (err?: Error | null) => void): void {
    if (this.#closed || this.#socket.destroyed) {
      if (cb) process.nextTick(cb, new TransportError('flow-gone', `${this.id} is closed`));
      return;
    }
    if (this.#queue !== null) this.#queue.push([data, cb]);
    else this.#socket.write(data, cb);
  }

  #flush(): void {
    const queue = this.#queue;
    this.#queue = null;
    if (queue === null) return;
    for (const [data, cb] of queue) this.#socket.write(data, cb);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#clocks?.close();
    this.#socket.destroy();
  }

  #expired(why: string): void {
    this.#host.error(new TransportError(why.startsWith('no message') ? 'idle' : 'deadline', `${this.id} ${this.key}: ${why}; closing`));
    this.close();
  }

  #onData(chunk: Buffer): void {
    try {
      for (const msg of this.#framer.push(chunk)) {
        this.#clocks?.message();
        if (msg === PING) this.#socket.write(CRLF);
        else this.#host.deliver(msg, this.#source ?? this.#makeSource());
      }
    } catch (err) {
      if (!(err instanceof FramingError)) throw err;
      this.#host.error(new TransportError(err.code, `${this.id} ${this.key}: ${err.message}; closing`));
      this.close();
      return;
    }
    if (this.#framer.buffered > 0) this.#clocks?.partial();
  }

  #makeSource(): Source {
    this.#source = Object.freeze({
      protocol: this.protocol,
      address: this.#remoteAddress,
      port: this.#remotePort,
      localAddress: plainAddress(this.#socket.localAddress),
      localPort: this.#socket.localPort ?? 0,
      flowId: this.id,
    });
    return this.#source;
  }
}

/** An RFC 7118 WebSocket connection: one WS message is one SIP message. */
export class WsFlow implements Flow {
  readonly id: string;
  readonly protocol: TransportProtocol;
  readonly key: string;
  readonly #ws: WebSocket;
  readonly #source: Source;
  readonly #clocks: Clocks;
  #closed = false;

  constructor(host: FlowHost, ws: WebSocket, socket: Socket, req: IncomingMessage, protocol: TransportProtocol) {
    this.#ws = ws;
    this.protocol = protocol;
    this.id = nextFlowId(protocol);
    const address = plainAddress(req.socket.remoteAddress);
    const port = req.socket.remotePort ?? 0;
    this.key = remoteKey(protocol, address, port);
    this.#source = Object.freeze({
      protocol, address, port,
      localAddress: plainAddress(req.socket.localAddress),
      localPort: req.socket.localPort ?? 0,
      flowId: this.id,
    });
    this.#clocks = new Clocks(host, (why) => {
      host.error(new TransportError(why.startsWith('no message') ? 'idle' : 'deadline', `${this.id} ${this.key}: ${why}; closing`));
      this.close();
    });
    // ahead of ws's own listener: bytes start the deadline, the frame they complete stops it
    socket.prependListener('data', () => this.#clocks.partial());
    ws.on('ping', () => this.#clocks.message());
    ws.on('message', (data: RawData) => {
      this.#clocks.message();
      const buf = data as Buffer;
      if (buf.length === 0 || isOnlyCrlf(buf)) return;
      host.deliver(buf, this.#source);
    });
    ws.on('error', (err: Error & { code?: string }) => {
      const code = err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'oversize' : (err.code ?? 'ws');
      host.error(new TransportError(code, `${this.id} ${this.key}: ${err.message}`));
    });
    ws.on('close', () => {
      this.#closed = true;
      this.#clocks.close();
      host.flowClosed(this);
    });
  }

  write(data: Buffer, cb?: (err?: Error | null) => void): void {
    if (this.#closed || this.#ws.readyState !== WebSocket.OPEN) {
      if (cb) process.nextTick(cb, new TransportError('flow-gone', `${this.id} is closed`));
      return;
    }
    // RFC 7118 5.2: text frames, unless the message (a binary body) is not valid UTF-8.
    this.#ws.send(data, isUtf8(data) ? TEXT_FRAME : BINARY_FRAME, cb);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#clocks.close();
    this.#ws.terminate();
  }
}

export function isOnlyCrlf(buf: Buffer): boolean {
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i];
    if (c !== 13 && c !== 10) return false;
  }
  return true;
}
