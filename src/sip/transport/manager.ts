/**
 * Owns every SIP socket: UDP sockets, TCP/TLS/WS servers and the flows (connections) they
 * carry. Replies go back over the flow a request came on (RFC 3261 18.2.2, RFC 5626).
 */
import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
import http from 'node:http';
import https from 'node:https';
import { readFile } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { bindingSuccess, isBindingRequest, isStun } from './stun.js';
import { isOnlyCrlf, plainAddress, remoteKey, StreamFlow, WsFlow, type Flow, type FlowHost } from './flow.js';
import {
  TransportError,
  type ListenSpec, type Source, type Target, type TransportManagerOptions, type TransportProtocol,
} from './types.js';

const PROTOCOLS: ReadonlySet<string> = new Set(['udp', 'tcp', 'tls', 'ws', 'wss']);
const DEFAULT_IDLE_MS = 10 * 60 * 1000;
const DEFAULT_MESSAGE_MS = 10_000;
const DEFAULT_MAX_CONNECTIONS = 4096;
const DEFAULT_MAX_PER_ADDRESS = 128;
const UDP_BUFFER = 4 * 1024 * 1024;
const BAD_HANDSHAKE = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';

type SendCb = ((err?: TransportError) => void) | undefined;

interface Listener {
  spec: ListenSpec;
  address: string;
  port: number;
  close(): Promise<void>;
}

export class TransportManager implements FlowHost {
  readonly maxMessageSize: number;
  readonly idleTimeoutMs: number;
  readonly messageTimeoutMs: number;
  readonly maxConnections: number;
  readonly maxConnectionsPerAddress: number;
  readonly #opts: TransportManagerOptions;
  /** Inbound connections held now, in total and per remote address. */
  #inbound = 0;
  readonly #perAddress = new Map<string, number>();
  /** Counters for status and metrics. */
  readonly stats = { refusedConnections: 0 };
  readonly #listeners: Listener[] = [];
  readonly #flows = new Map<string, Flow>();
  readonly #byRemote = new Map<string, Flow>();
  #udp4: dgram.Socket | undefined;
  #udp6: dgram.Socket | undefined;
  #tlsCa: Buffer | undefined;
  #started = false;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(opts: TransportManagerOptions) {
    if (opts === null || typeof opts !== 'object') throw new TypeError('opts: object');
    if (!Array.isArray(opts.listen)) throw new TypeError('listen: array of ListenSpec');
    opts.listen.forEach((l, i) => validateSpec(l, i));
    if (!Number.isInteger(opts.maxMessageSize) || opts.maxMessageSize <= 0) {
      throw new TypeError('maxMessageSize: positive integer');
    }
    if (typeof opts.onMessage !== 'function') throw new TypeError('onMessage: function');
    if (opts.idleTimeoutMs !== undefined && !(Number.isInteger(opts.idleTimeoutMs) && opts.idleTimeoutMs >= 0)) {
      throw new TypeError('idleTimeoutMs: integer >= 0');
    }
    for (const k of ['messageTimeoutMs', 'maxConnections', 'maxConnectionsPerAddress'] as const) {
      const v = opts[k];
      if (v !== undefined && !(Number.isInteger(v) && v >= 0)) throw new TypeError(`${k}: integer >= 0`);
    }
    this.#opts = opts;
    this.maxMessageSize = opts.maxMessageSize;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_MS;
    this.messageTimeoutMs = opts.messageTimeoutMs ?? DEFAULT_MESSAGE_MS;
    this.maxConnections = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    this.maxConnectionsPerAddress = opts.maxConnectionsPerAddress ?? DEFAULT_MAX_PER_ADDRESS;
  }

  /** Inbound connections held now. */
  get inboundConnections(): number {
    return this.#inbound;
  }

  async start(): Promise<void> {
    if (this.#started) throw new Error('TransportManager already started');
    this.#started = true;
    if (this.#opts.tlsClient?.ca) this.#tlsCa = await readFile(this.#opts.tlsClient.ca);
    try {
      for (const spec of this.#opts.listen) {
        if (this.#closed) break;
        this.#listeners.push(await this.#listen(spec));
      }
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  send(data: Buffer, target: Target, cb?: (err?: TransportError) => void): void {
    if (target === null || typeof target !== 'object' || !PROTOCOLS.has(target.protocol)) {
      throw new TypeError('target.protocol: udp | tcp | tls | ws | wss');
    }
    if (this.#closed) return fail(cb, 'closed', 'transport manager is closed', target);
    if (target.protocol === 'udp') return this.#sendUdp(data, target, cb);
    let flow = target.flowId !== undefined ? this.#flows.get(target.flowId) : undefined;
    if (flow === undefined) flow = this.#byRemote.get(remoteKey(target.protocol, target.address, target.port));
    if (flow === undefined) {
      if (target.protocol !== 'tcp' && target.protocol !== 'tls') {
        // Outbound WebSocket connections are not opened: WS peers are clients that dial us.
        return fail(cb, 'flow-gone', `no ${target.protocol} connection to ${target.address}:${target.port}`, target);
      }
      flow = this.#connect(target);
    }
    if (cb === undefined) flow.write(data);
    else flow.write(data, (err) => cb(err ? asTransportError(err, target) : undefined));
  }

  local(protocol: TransportProtocol): { address: string; port: number } | undefined {
    for (const l of this.#listeners) {
      if (l.spec.transport === protocol) return { address: l.spec.advertise ?? l.address, port: l.port };
    }
    return undefined;
  }

  hasFlow(flowId: string): boolean {
    return this.#flows.has(flowId);
  }

  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    this.#closing = (async () => {
      for (const flow of [...this.#flows.values()]) flow.close();
      await Promise.all(this.#listeners.map((l) => l.close()));
      this.#listeners.length = 0;
      this.#udp4 = this.#udp6 = undefined;
    })();
    return this.#closing;
  }

  // FlowHost

  deliver(data: Buffer, source: Source): void {
    try {
      this.#opts.onMessage(data, source);
    } catch (err) {
      this.error(new TransportError('handler', `onMessage threw: ${(err as Error)?.message ?? err}`));
    }
  }

  flowClosed(flow: Flow): void {
    if (this.#flows.get(flow.id) !== flow) return;
    this.#flows.delete(flow.id);
    if (this.#byRemote.get(flow.key) === flow) this.#byRemote.delete(flow.key);
    this.#opts.onFlowClosed?.(flow.id);
  }

  error(err: TransportError): void {
    this.#opts.onError?.(err);
  }

  // internals

  #addFlow(flow: Flow): void {
    if (this.#closed) {
      flow.close();
      return;
    }
    this.#flows.set(flow.id, flow);
    this.#byRemote.set(flow.key, flow);
  }

  #sendUdp(data: Buffer, target: Target, cb: SendCb): void {
    const sock = target.address.includes(':') ? this.#udp6 : this.#udp4;
    if (sock === undefined) {
      return fail(cb, 'no-listener', `no udp socket for ${target.address}`, target);
    }
    if (cb === undefined) sock.send(data, target.port, target.address);
    else sock.send(data, target.port, target.address, (err) => cb(err ? asTransportError(err, target) : undefined));
  }

  #connect(target: Target): Flow {
    const { address, port } = target;
    let socket: net.Socket;
    if (target.protocol === 'tls') {
      const o: tls.ConnectionOptions = { host: address, port };
      if (!net.isIP(address)) o.servername = address;
      if (this.#tlsCa) o.ca = this.#tlsCa;
      if (this.#opts.tlsClient?.rejectUnauthorized === false) o.rejectUnauthorized = false;
      socket = tls.connect(o);
    } else {
      socket = net.connect({ host: address, port });
    }
    const flow = new StreamFlow(this, socket, target.protocol, false, address, port);
    this.#addFlow(flow);
    return flow;
  }

  async #listen(spec: ListenSpec): Promise<Listener> {
    const name = `${spec.address}:${spec.port}/${spec.transport}`;
    try {
      switch (spec.transport) {
        case 'udp': return await this.#listenUdp(spec);
        case 'tcp': return await this.#listenServer(spec, net.createServer());
        case 'tls': {
          const [cert, key] = await readPair(spec);
          const server = tls.createServer({ cert, key, handshakeTimeout: this.messageTimeoutMs || 120_000 });
          server.on('tlsClientError', (err: NodeJS.ErrnoException, socket) => {
            this.error(new TransportError(err.code ?? 'tls', `tls handshake from ${plainAddress(socket.remoteAddress)}:${socket.remotePort}: ${err.message}`));
          });
          return await this.#listenServer(spec, server, 'secureConnection');
        }
        // handshake deadlines (headersTimeout) are checked this often
        case 'ws': return await this.#listenWs(spec, http.createServer({ connectionsCheckingInterval: 1000 }));
        case 'wss': {
          const [cert, key] = await readPair(spec);
          return await this.#listenWs(spec, https.createServer({ cert, key, connectionsCheckingInterval: 1000, handshakeTimeout: this.messageTimeoutMs || 120_000 }));
        }
      }
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const code = e.code ?? 'listen';
      throw new TransportError(code, `${code} ${name}: ${e.message}`);
    }
  }

  #listenUdp(spec: ListenSpec): Promise<Listener> {
    const v6 = net.isIPv6(spec.address);
    const sock = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4' });
    return new Promise((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(spec.port, spec.address, () => {
        sock.off('error', reject);
        const a = sock.address();
        const localAddress = a.address;
        const localPort = a.port;
        sock.on('error', (err: NodeJS.ErrnoException) => {
          this.error(new TransportError(err.code ?? 'udp', `udp ${localAddress}:${localPort}: ${err.message}`));
        });
        sock.on('message', (msg, rinfo) => this.#onDatagram(sock, msg, rinfo, localAddress, localPort));
        // Bursts of REGISTER refreshes overflow the default buffer; the kernel caps this at rmem_max.
        try {
          sock.setRecvBufferSize(UDP_BUFFER);
          sock.setSendBufferSize(UDP_BUFFER);
        } catch { /* keep the defaults */ }
        if (v6) this.#udp6 ??= sock;
        else this.#udp4 ??= sock;
        resolve({
          spec, address: localAddress, port: localPort,
          close: () => new Promise<void>((done) => sock.close(() => done())),
        });
      });
    });
  }

  #onDatagram(sock: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo, localAddress: string, localPort: number): void {
    const first = msg[0];
    if (first === 0x00 || first === 0x01) {
      if (isBindingRequest(msg)) {
        sock.send(bindingSuccess(msg, rinfo.address, rinfo.port), rinfo.port, rinfo.address);
      } else if (!isStun(msg)) {
        this.error(new TransportError('framing', `udp ${rinfo.address}:${rinfo.port}: not SIP, dropped`));
      }
      return;
    }
    if ((first === 13 || first === 10) && isOnlyCrlf(msg)) return;
    if (msg.length > this.maxMessageSize) {
      this.error(new TransportError('oversize', `udp ${rinfo.address}:${rinfo.port}: ${msg.length} bytes exceeds ${this.maxMessageSize}, dropped`));
      return;
    }
    this.deliver(msg, {
      protocol: 'udp', address: plainAddress(rinfo.address), port: rinfo.port, localAddress, localPort,
    });
  }

  /**
   * Counts an inbound connection against the limits, in total and per address (each connection
   * holds a file descriptor the media engine needs as much); false when it is refused, closed at once.
   */
  #admit(socket: net.Socket, protocol: TransportProtocol): boolean {
    const address = plainAddress(socket.remoteAddress);
    const n = this.#perAddress.get(address) ?? 0;
    const full = this.#inbound >= this.maxConnections;
    if (full || n >= this.maxConnectionsPerAddress || this.#closed) {
      socket.destroy();
      if (this.#closed) return false;
      this.stats.refusedConnections++;
      this.error(new TransportError(full ? 'limit' : 'limit-address', full
        ? `${protocol} connection from ${address} refused: ${this.maxConnections} connections held (the limit)`
        : `${protocol} connection from ${address} refused: ${n} connections from that address (the limit)`,
      { protocol, address, port: socket.remotePort ?? 0 }));
      return false;
    }
    this.#inbound++;
    this.#perAddress.set(address, n + 1);
    socket.once('close', () => {
      this.#inbound--;
      const left = (this.#perAddress.get(address) ?? 1) - 1;
      if (left > 0) this.#perAddress.set(address, left);
      else this.#perAddress.delete(address);
    });
    return true;
  }

  #listenServer(spec: ListenSpec, server: net.Server, event = 'connection'): Promise<Listener> {
    const protocol = spec.transport;
    // TLS sockets still in their handshake are no flow yet, but would hold server.close() open.
    const raw = new Set<net.Socket>();
    server.on('connection', (socket: net.Socket) => {
      if (!this.#admit(socket, protocol)) return;
      raw.add(socket);
      socket.once('close', () => raw.delete(socket));
    });
    server.on(event, (socket: net.Socket) => {
      if (!socket.destroyed) this.#addFlow(new StreamFlow(this, socket, protocol, true));
    });
    return this.#bindServer(spec, server, () => {
      for (const socket of raw) socket.destroy();
    });
  }

  #listenWs(spec: ListenSpec, server: http.Server): Promise<Listener> {
    const protocol = spec.transport;
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.maxMessageSize,
      clientTracking: false,
      perMessageDeflate: false,
      handleProtocols: () => 'sip',
    });
    server.on('connection', (socket: net.Socket) => void this.#admit(socket, protocol));
    // the HTTP handshake has the same deadline as a SIP message
    if (this.messageTimeoutMs > 0) {
      server.headersTimeout = this.messageTimeoutMs;
      server.requestTimeout = this.messageTimeoutMs;
    }
    server.on('request', (_req, res) => {
      res.writeHead(426, { Connection: 'close', 'Content-Length': '0', Upgrade: 'websocket' });
      res.end();
    });
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      if (!offersSip(req.headers['sec-websocket-protocol'])) {
        this.error(new TransportError('handshake', `${protocol} handshake from ${plainAddress(req.socket.remoteAddress)} without subprotocol sip`));
        socket.end(BAD_HANDSHAKE);
        return;
      }
      socket.on('error', () => undefined); // reported by the flow once upgraded
      wss.handleUpgrade(req, socket, head, (ws) => {
        this.#addFlow(new WsFlow(this, ws, socket as net.Socket, req, protocol));
      });
    });
    return this.#bindServer(spec, server, () => {
      server.closeAllConnections();
      wss.close();
    });
  }

  #bindServer(spec: ListenSpec, server: net.Server, beforeClose: () => void): Promise<Listener> {
    server.on('error', (err: NodeJS.ErrnoException) => {
      this.error(new TransportError(err.code ?? 'server', `${spec.transport} ${spec.address}:${spec.port}: ${err.message}`));
    });
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      server.once('error', onError);
      server.listen(spec.port, spec.address, () => {
        server.off('error', onError);
        const a = server.address() as net.AddressInfo;
        resolve({
          spec, address: a.address, port: a.port,
          close: () => new Promise<void>((done) => {
            beforeClose();
            server.close(() => done());
          }),
        });
      });
    });
  }
}

function validateSpec(l: ListenSpec, i: number): void {
  if (l === null || typeof l !== 'object') throw new TypeError(`listen[${i}]: object`);
  if (!PROTOCOLS.has(l.transport)) throw new TypeError(`listen[${i}].transport: udp | tcp | tls | ws | wss`);
  if (typeof l.address !== 'string' || !net.isIP(l.address)) throw new TypeError(`listen[${i}].address: IP address`);
  if (!Number.isInteger(l.port) || l.port < 0 || l.port > 65535) throw new TypeError(`listen[${i}].port: 0..65535`);
  if (l.advertise !== undefined && (typeof l.advertise !== 'string' || l.advertise === '')) throw new TypeError(`listen[${i}].advertise: address or host name`);
  if ((l.transport === 'tls' || l.transport === 'wss') && (!l.certificate || !l.privateKey)) {
    throw new TypeError(`listen[${i}].certificate/privateKey: PEM file paths required for ${l.transport}`);
  }
}

function readPair(spec: ListenSpec): Promise<[Buffer, Buffer]> {
  return Promise.all([readFile(spec.certificate as string), readFile(spec.privateKey as string)]);
}

/** Sec-WebSocket-Protocol is a comma-separated token list (RFC 6455 11.3.4). */
function offersSip(header: string | undefined): boolean {
  if (!header) return false;
  for (const token of header.split(',')) if (token.trim().toLowerCase() === 'sip') return true;
  return false;
}

function asTransportError(err: Error, target: Target): TransportError {
  if (err instanceof TransportError) {
    err.target ??= target;
    return err;
  }
  const code = (err as NodeJS.ErrnoException).code ?? 'send';
  return new TransportError(code, `${target.protocol} ${target.address}:${target.port}: ${err.message}`, target);
}

function fail(cb: SendCb, code: string, message: string, target: Target): void {
  if (cb) process.nextTick(cb, new TransportError(code, message, target));
}
