/**
 * Address blocks for telling which trunk a request came from. IPv4-mapped IPv6 sources
 * (::ffff:192.0.2.1, what a dual-stack socket reports) are compared as the IPv4 address, so a
 * trunk configured with 192.0.2.0/24 still matches them.
 */
import { isIP } from 'node:net';

/** An address as bytes (4 or 16), or undefined when it is not an IP address. */
export function addressBytes(text: string): Uint8Array | undefined {
  let s = text.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  const kind = isIP(s);
  if (kind === 4) return v4(s);
  if (kind !== 6) return undefined;
  const b = v6(s);
  // ::ffff:a.b.c.d is an IPv4 peer seen through a dual-stack socket.
  const mapped = b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
  return mapped ? b.slice(12) : b;
}

function v4(s: string): Uint8Array {
  return Uint8Array.from(s.split('.').map(Number));
}

/** isIP() has already vetted the syntax, so this only expands '::' and a trailing IPv4 part. */
function v6(s: string): Uint8Array {
  const out = new Uint8Array(16);
  const words = (part: string): number[] => {
    if (part === '') return [];
    const groups = part.split(':');
    const last = groups[groups.length - 1];
    const tail: number[] = [];
    if (last.includes('.')) {
      const b = v4(last);
      groups.pop();
      tail.push((b[0] << 8) | b[1], (b[2] << 8) | b[3]);
    }
    return [...groups.map((g) => parseInt(g, 16)), ...tail];
  };
  const gap = s.indexOf('::');
  const head = words(gap >= 0 ? s.slice(0, gap) : s);
  const rest = gap >= 0 ? words(s.slice(gap + 2)) : [];
  const all = [...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest];
  all.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

/** One address or address block, parsed once and matched many times. */
export class AddressBlock {
  readonly text: string;
  readonly #bytes: Uint8Array;
  readonly #bits: number;

  constructor(text: string) {
    const slash = text.indexOf('/');
    const ip = slash >= 0 ? text.slice(0, slash) : text;
    const bytes = addressBytes(ip);
    if (bytes === undefined) throw new TypeError(`peers: '${text}' is not an IP address or CIDR block`);
    let bits = bytes.length * 8;
    if (slash >= 0) {
      bits = Number(text.slice(slash + 1));
      if (!/^[0-9]{1,3}$/.test(text.slice(slash + 1)) || bits > (isIP(ip) === 6 ? 128 : 32)) throw new TypeError(`peers: '${text}' has a bad prefix length`);
      // A mapped IPv6 block (::ffff:0:0/104) is stored as IPv4: shorten the prefix to match.
      if (bytes.length === 4 && isIP(ip) === 6) bits = Math.max(0, bits - 96);
    }
    this.text = text;
    this.#bytes = bytes;
    this.#bits = bits;
  }

  contains(address: string | Uint8Array): boolean {
    const b = typeof address === 'string' ? addressBytes(address) : address;
    if (b === undefined || b.length !== this.#bytes.length) return false;
    const full = this.#bits >> 3;
    for (let i = 0; i < full; i++) if (b[i] !== this.#bytes[i]) return false;
    const rem = this.#bits & 7;
    if (rem === 0) return true;
    const mask = (0xff << (8 - rem)) & 0xff;
    return (b[full] & mask) === (this.#bytes[full] & mask);
  }
}

/** True when `address` lies in any of the blocks. */
export function inBlocks(blocks: readonly AddressBlock[], address: string): boolean {
  const b = addressBytes(address);
  if (b === undefined) return false;
  return blocks.some((block) => block.contains(b));
}
