import { isIP } from 'node:net';
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';

type Interfaces = NodeJS.Dict<NetworkInterfaceInfo[]>;

/** True for the "every interface" addresses a socket may bind to. */
export function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}

/**
 * The address a node writes into Via, Contact and SDP for a socket bound to `address`.
 * A wildcard bind is not an address anyone can send to (0.0.0.0 in SDP even means "on hold"), so
 * without an explicit `advertise` it becomes the machine's first non-loopback address of the same
 * family, or the loopback address when the machine has none (a network namespace with only lo).
 */
export function advertisedAddress(address: string, advertise?: string, interfaces: Interfaces = networkInterfaces()): string {
  if (advertise !== undefined && advertise !== '') return advertise;
  if (!isWildcard(address)) return address;
  const family = isIP(address) === 6 ? 'IPv6' : 'IPv4';
  for (const list of Object.values(interfaces)) {
    for (const i of list ?? []) {
      if (i.internal || i.family !== family) continue;
      if (family === 'IPv6' && i.address.toLowerCase().startsWith('fe80:')) continue; // link-local needs a scope id
      return i.address;
    }
  }
  return family === 'IPv6' ? '::1' : '127.0.0.1';
}
