import { isIP } from 'node:net';
import type { SipRequest } from './message/message.js';
import type { SipUri } from './message/uri.js';
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
