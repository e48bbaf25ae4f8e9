/**
 * A tiny authoritative DNS server over UDP for tests: answers A, AAAA and SRV questions from a
 * table, NXDOMAIN for unknown names, NODATA for known names without that type. Hand-encoded
 * wire format (RFC 1035 4.1, RFC 2782), no name compression.
 */
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';

export type DnsRecord =
  | { type: 'A'; address: string; ttl?: number }
  | { type: 'AAAA'; address: string; ttl?: number }
  | { type: 'SRV'; priority: number; weight: number; port: number; target: string; ttl?: number };

const TYPE = { A: 1, AAAA: 28, SRV: 33 } as const;
const TYPE_NAME: Record<number, string> = { 1: 'A', 28: 'AAAA', 33: 'SRV', 35: 'NAPTR', 255: 'ANY' };

export interface DnsQueryLog { name: string; type: string }

export class TestDnsServer {
  readonly #socket = dgram.createSocket('udp4');
  readonly #zone = new Map<string, DnsRecord[]>();
  readonly queries: DnsQueryLog[] = [];

  constructor(zone: Record<string, DnsRecord[]>) {
    for (const [name, records] of Object.entries(zone)) this.#zone.set(name.toLowerCase(), records);
    this.#socket.on('message', (msg, rinfo) => {
      const res = this.#answer(msg);
      if (res) this.#socket.send(res, rinfo.port, rinfo.address);
    });
  }

  set(name: string, records: DnsRecord[]): void {
    this.#zone.set(name.toLowerCase(), records);
  }

  listen(port: number, address = '127.0.0.1'): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#socket.once('error', reject);
      this.#socket.bind(port, address, () => resolve());
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#socket.close(() => resolve()));
  }

  #answer(q: Buffer): Buffer | undefined {
    if (q.length < 12 || q.readUInt16BE(4) !== 1) return undefined;
    let p = 12;
    const labels: string[] = [];
    while (p < q.length && q[p] !== 0) {
      const len = q[p];
      labels.push(q.toString('latin1', p + 1, p + 1 + len));
      p += 1 + len;
    }
    p += 1;
    if (p + 4 > q.length) return undefined;
    const qtype = q.readUInt16BE(p);
    const questionEnd = p + 4;
    const name = labels.join('.').toLowerCase();
    this.queries.push({ name, type: TYPE_NAME[qtype] ?? String(qtype) });
    const records = this.#zone.get(name);
    const answers = (records ?? []).filter((r) => TYPE[r.type] === qtype).map((r) => encodeRecord(name, r));
    const header = Buffer.alloc(12);
    header.writeUInt16BE(q.readUInt16BE(0), 0);
    const rd = q.readUInt16BE(2) & 0x0100;
    const rcode = records === undefined ? 3 : 0; // NXDOMAIN
    header.writeUInt16BE(0x8000 | 0x0400 | rd | 0x0080 | rcode, 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    return Buffer.concat([header, q.subarray(12, questionEnd), ...answers]);
  }
}

function encodeName(name: string): Buffer {
  const parts = name.split('.').filter((l) => l.length > 0);
  const bufs = parts.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')]));
  return Buffer.concat([...bufs, Buffer.from([0])]);
}

function encodeRecord(name: string, r: DnsRecord): Buffer {
  let rdata: Buffer;
  if (r.type === 'A') {
    rdata = Buffer.from(r.address.split('.').map(Number));
  } else if (r.type === 'AAAA') {
    if (!isIPv6(r.address)) throw new Error(`bad AAAA ${r.address}`);
    rdata = Buffer.alloc(16);
    const [head, tail = ''] = r.address.split('::');
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
    groups.forEach((g, i) => rdata.writeUInt16BE(parseInt(g, 16), i * 2));
  } else {
    const fixed = Buffer.alloc(6);
    fixed.writeUInt16BE(r.priority, 0);
    fixed.writeUInt16BE(r.weight, 2);
    fixed.writeUInt16BE(r.port, 4);
    rdata = Buffer.concat([fixed, encodeName(r.target)]);
  }
  const meta = Buffer.alloc(10);
  meta.writeUInt16BE(TYPE[r.type], 0);
  meta.writeUInt16BE(1, 2); // IN
  meta.writeUInt32BE(r.ttl ?? 300, 4);
  meta.writeUInt16BE(rdata.length, 8);
  return Buffer.concat([encodeName(name), meta, rdata]);
}
