import { isIP } from 'node:net';
import type { SipRequest } from './message/message.js';
import { parseUri, type SipUri } from './message/uri.js';
import { parseAddress } from './message/address.js';
import type { Target, TransportProtocol } from './transport/types.js';

/**
 * The next hop of a request (RFC 3261 8.1.2): the first Route entry when there is one
 * (loose routing), else the Request-URI. Only IP literals are resolved here; host names go
 * through the RFC 3263 resolver in `dns/` first (it is asynchronous).
 */
export function resolveRequestTarget(req: SipRequest): Target {
  const routes = req.routes('route');
  const uri = routes.length ? routes[0].uri : req.uri;
  return uriTarget(uri);
}

export function uriTarget(uri: SipUri): Target {
  const host = uri.host.startsWith('[') ? uri.host.slice(1, -1) : uri.host;
  const maddr = uri.params.get('maddr');
  const address = maddr ?? host;
  if (!isIP(address)) throw new TypeError(`uri: '${uri.host}' is not an IP address; resolve it with dns/resolver first`);
  const transport = (uri.params.get('transport') ?? (uri.scheme === 'sips' ? 'tls' : 'udp')).toLowerCase();
  const protocol: TransportProtocol = transport === 'tcp' || transport === 'tls' || transport === 'ws' || transport === 'wss' ? transport : 'udp';
  const port = uri.port ?? (protocol === 'tls' || protocol === 'wss' ? 5061 : 5060);
  return { protocol, address, port };
}

/** A registered contact as the location service keeps it (RFC 5626 flow, RFC 3327 Path). */
export interface RegisteredContactTarget {
  contact: string;
  path: string[];
  source: { protocol: string; address: string; port: number; flowId?: string };
  /** The top Via's port of the REGISTER, when known. */
  viaPort?: number;
}

/**
 * How a UDP registration is reached: 'auto' at its source only when it is behind NAT, 'source'
 * always at its source (forced NAT traversal), 'contact' always at its Contact.
 */
export type NatMode = 'auto' | 'source' | 'contact';

/**
 * Whether a UDP registration came through NAT, as Kamailio's nathelper and FreeSWITCH judge it:
 * its Contact names another address than it came from (a private one from a public source
 * among them), or its Via another port. A Contact with another port on the source's own
 * address (a registration made on another device's behalf, RFC 3261 10.2) is not NAT.
 */
export function behindNat(c: RegisteredContactTarget): boolean {
  let host: string;
  try {
    host = parseUri(c.contact).host;
  } catch {
    return true;
  }
  const address = host.startsWith('[') ? host.slice(1, -1) : host;
  if (!isIP(address) || address !== c.source.address) return true;
  return c.viaPort !== undefined ? c.viaPort !== c.source.port : false;
}

/**
 * Where requests to a registered contact go: its live flow (RFC 5626), else the first Path
 * entry (RFC 3327), else for UDP the address it registered from when it is behind NAT
 * (symmetric routing, RFC 3581) or `nat` says so, else the contact itself. undefined:
 * unreachable (a browser's WebSocket flow is gone, or an unparsable URI).
 */
export function registeredTarget(c: RegisteredContactTarget, hasFlow: (flowId: string) => boolean, nat: NatMode = 'auto'): Target | undefined {
  const src = c.source;
  const protocol = src.protocol as TransportProtocol;
  if (src.flowId !== undefined) {
    if (hasFlow(src.flowId)) return { protocol, address: src.address, port: src.port, flowId: src.flowId };
    if (protocol === 'ws' || protocol === 'wss') return undefined;
  }
  const atSource = { protocol, address: src.address, port: src.port };
  try {
    if (c.path.length) return uriTarget(parseAddress(c.path[0]!).uri);
    if (protocol === 'udp' && (nat === 'source' || (nat === 'auto' && behindNat(c)))) return atSource;
    return uriTarget(parseUri(c.contact));
  } catch {
    // a Contact we cannot reach by itself (a host name): where it registered from
    return protocol === 'udp' && !c.path.length ? atSource : undefined;
  }
}
