/**
 * Just enough STUN (RFC 5389) to answer the binding requests that RFC 5626 section 4.4.2 UDP
 * keepalives send to a SIP port.
 */
import { isIPv4 } from 'node:net';

const MAGIC = 0x2112a442;
const BINDING_REQUEST = 0x0001;
const BINDING_SUCCESS = 0x0101;
const XOR_MAPPED_ADDRESS = 0x0020;
const HEADER = 20;

/** True when the datagram looks like STUN: top bits 00, magic cookie, length matches. */
export function isStun(buf: Buffer): boolean {
  return (
    buf.length >= HEADER &&
    (buf[0] === 0x00 || buf[0] === 0x01) &&
    buf.readUInt32BE(4) === MAGIC &&
    buf.readUInt16BE(2) + HEADER === buf.length
  );
}

export function isBindingRequest(buf: Buffer): boolean {
  return isStun(buf) && buf.readUInt16BE(0) === BINDING_REQUEST;
}

/** Binding success response to `req` carrying XOR-MAPPED-ADDRESS of the requester. */
export function bindingSuccess(req: Buffer, address: string, port: number): Buffer {
  const v4 = isIPv4(address);
  const addrLen = v4 ? 4 : 16;
  const attrLen = 4 + addrLen;
  const res = Buffer.alloc(HEADER + 4 + attrLen);
  res.writeUInt16BE(BINDING_SUCCESS, 0);
  res.writeUInt16BE(4 + attrLen, 2);
  res.writeUInt32BE(MAGIC, 4);
  req.copy(res, 8, 8, 20); // transaction id
  let p = HEADER;
  res.writeUInt16BE(XOR_MAPPED_ADDRESS, p);
  res.writeUInt16BE(attrLen, p + 2);
  res[p + 4] = 0;
  res[p + 5] = v4 ? 0x01 : 0x02;
  res.writeUInt16BE((port ^ (MAGIC >>> 16)) & 0xffff, p + 6);
  p += 8;
  const raw = v4 ? ipv4Bytes(address) : ipv6Bytes(address);
  // XOR key: the magic cookie, then (IPv6 only) the transaction id.
  for (let i = 0; i < addrLen; i++) res[p + i] = raw[i] ^ res[4 + i];
  return res;
}

function ipv4Bytes(a: string): Uint8Array {
  const out = new Uint8Array(4);
  const parts = a.split('.');
  for (let i = 0; i < 4; i++) out[i] = Number(parts[i]) & 0xff;
  return out;
}

function ipv6Bytes(a: string): Uint8Array {
  const out = new Uint8Array(16);
  let s = a;
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  // A trailing dotted quad (::ffff:1.2.3.4) fills the last four bytes.
  let tail: Uint8Array | undefined;
  const lastColon = s.lastIndexOf(':');
  if (s.indexOf('.', lastColon) >= 0) {
    tail = ipv4Bytes(s.slice(lastColon + 1));
    s = s.slice(0, lastColon + 1) + '0:0';
  }
  const [head, rest] = s.split('::');
  const h = head ? head.split(':') : [];
  const r = rest !== undefined && rest !== '' ? rest.split(':') : [];
  const groups = new Array<number>(8).fill(0);
  for (let i = 0; i < h.length; i++) groups[i] = parseInt(h[i], 16);
  for (let i = 0; i < r.length; i++) groups[8 - r.length + i] = parseInt(r[i], 16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = groups[i] >> 8;
    out[2 * i + 1] = groups[i] & 0xff;
  }
  if (tail) out.set(tail, 12);
  return out;
}

/** Decodes XOR-MAPPED-ADDRESS from a binding success response (for tests and clients). */
export function decodeXorMappedAddress(res: Buffer): { address: string; port: number } | undefined {
  if (!isStun(res) || res.readUInt16BE(0) !== BINDING_SUCCESS) return undefined;
  let p = HEADER;
  while (p + 4 <= res.length) {
    const type = res.readUInt16BE(p);
    const len = res.readUInt16BE(p + 2);
    if (type === XOR_MAPPED_ADDRESS && p + 4 + len <= res.length) {
      const family = res[p + 5];
      const port = res.readUInt16BE(p + 6) ^ (MAGIC >>> 16);
      const n = family === 0x01 ? 4 : 16;
      const raw = new Uint8Array(n);
      for (let i = 0; i < n; i++) raw[i] = res[p + 8 + i] ^ res[4 + i];
      if (n === 4) return { address: raw.join('.'), port };
      const groups: string[] = [];
      for (let i = 0; i < 16; i += 2) groups.push(((raw[i] << 8) | raw[i + 1]).toString(16));
      return { address: groups.join(':'), port };
    }
    p += 4 + ((len + 3) & ~3);
  }
  return undefined;
}
