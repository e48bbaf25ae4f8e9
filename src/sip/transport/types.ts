export type TransportProtocol = 'udp' | 'tcp' | 'tls' | 'ws' | 'wss';

/** Where a message came from, as seen by the socket. */
export interface Source {
  protocol: TransportProtocol;
  /** Remote address and port. */
  address: string;
  port: number;
  localAddress: string;
  localPort: number;
  /** Connection id for connection-oriented transports (tcp/tls/ws/wss); undefined for udp. */
  flowId?: string;
}

export interface Target {
  protocol: TransportProtocol;
  address: string;
  port: number;
  /**
   * Prefer this existing connection (RFC 5626 flow); if it is gone, tcp/tls open a new
   * connection to address:port, ws/wss fail with TransportError.
   */
  flowId?: string;
}

export interface ListenSpec {
  transport: TransportProtocol;
  address: string;
  /** 0 picks a free port; `local()` reports the bound one. */
  port: number;
  /** Address or host name for Via and Contact (NAT, wildcard binds); default: the bound address. */
  advertise?: string;
  /** PEM file path, required for tls/wss. */
  certificate?: string;
  /** PEM file path, required for tls/wss. */
  privateKey?: string;
}

export class TransportError extends Error {
  /** Stable machine-readable code: a node errno (ECONNREFUSED, ...) or one of ours (framing, oversize, flow-gone, closed, no-listener, limit, deadline, ...). */
  code: string;
  target?: Target;
  constructor(code: string, message: string, target?: Target) {
    super(message);
    this.name = 'TransportError';
    this.code = code;
    if (target !== undefined) this.target = target;
  }
}

export interface TransportManagerOptions {
  listen: ListenSpec[];
  /** Bytes; bigger messages are dropped (UDP) or the connection closed (stream) with an 'error' report. */
  maxMessageSize: number;
  /** Close idle inbound connections without a message (default 10 min); RFC 5626 keepalives count, stray bytes do not. */
  idleTimeoutMs?: number;
  /**
   * A message must arrive whole within this long of its first byte, and a new inbound connection
   * must bring its first message (or TLS and WebSocket handshake) within it (default 10 s; 0: no
   * deadline). Slowloris, one byte a second, is cut off here.
   */
  messageTimeoutMs?: number;
  /** Inbound connections (TCP, TLS, WS, WSS) held at once; the next is closed at once (default 4096). */
  maxConnections?: number;
  /** Inbound connections from one address held at once (default 128). */
  maxConnectionsPerAddress?: number;
  /** Exactly one complete SIP message (headers + body bounded by Content-Length; UDP may carry trailing octets). */
  onMessage: (data: Buffer, source: Source) => void;
  /** So the registrar can drop bindings of a dead RFC 5626 flow. */
  onFlowClosed?: (flowId: string) => void;
  /** Non-fatal problems (bad framing, oversize, socket errors). */
  onError?: (err: TransportError) => void;
  /**
   * Outbound TLS connections (extension to the brief). By default the peer is verified against
   * the system CAs and the target host name; `ca` is a PEM file path; `rejectUnauthorized: false`
   * is for tests only.
   */
  tlsClient?: { ca?: string; rejectUnauthorized?: boolean };
}
