/**
 * A SIP fuzzer for the security suite and `npm run bench -- fuzz`: valid messages of every kind
 * the node takes (and the RFC 4475 torture messages) mutated the way parsers break (bytes
 * flipped, inserted and cut, headers repeated or swollen, numbers out of range, framing lies),
 * sent over UDP, TCP and WebSocket. A fixed seed gives the same messages on every run.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import net from 'node:net';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { WebSocket } from 'ws';
import { RFC4475 } from './peers.js';
import { prng, SDP } from './attacker.js';

type Rnd = () => number;

const pick = <T>(rnd: Rnd, list: readonly T[]): T => list[Math.floor(rnd() * list.length)]!;
const int = (rnd: Rnd, n: number): number => Math.floor(rnd() * n);

/** Well-formed requests of every method the node serves, and a response, to mutate. */
function templates(host: string, transport: string): string[] {
  const via = `Via: SIP/2.0/${transport} ${host}:5099;branch=z9hG4bKfz{n};rport`;
  const common = (method: string, uri: string, from = '201', to = '202', extra = '', body = '') => [
    `${method} ${uri} SIP/2.0`, via, 'Max-Forwards: 70', `From: "Fuzz" <sip:${from}@127.0.0.1>;tag=f{n}`, `To: <sip:${to}@127.0.0.1>`,
    'Call-ID: fz{n}@fuzzer', `CSeq: {n} ${method}`, `Contact: <sip:${from}@${host}:5099>`, extra,
    ...(body ? ['Content-Type: application/sdp'] : []), `Content-Length: ${Buffer.byteLength(body)}`, '', body,
  ].filter((l, i, a) => l !== '' || i >= a.length - 2).join('\r\n');
  return [
    common('REGISTER', 'sip:127.0.0.1', '201', '201', 'Expires: 300\r\nAuthorization: Digest username="201", realm="127.0.0.1", nonce="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", uri="sip:127.0.0.1", response="00000000000000000000000000000000", qop=auth, nc=00000001, cnonce="x"'),
    common('INVITE', 'sip:202@127.0.0.1', '201', '202', 'Supported: timer, replaces\r\nSession-Expires: 90;refresher=uac', SDP(host, 40000)),
    common('OPTIONS', 'sip:127.0.0.1'),
    common('SUBSCRIBE', 'sip:201@127.0.0.1', '201', '201', 'Event: message-summary\r\nExpires: 600\r\nAccept: application/simple-message-summary'),
    common('BYE', 'sip:pbx@127.0.0.1', '201', '202', '').replace('To: <sip:202@127.0.0.1>', 'To: <sip:202@127.0.0.1>;tag=x'),
    common('CANCEL', 'sip:202@127.0.0.1'),
    common('ACK', 'sip:202@127.0.0.1'),
    common('INFO', 'sip:pbx@127.0.0.1', '201', '202', 'Content-Type: application/dtmf-relay', 'Signal=5\r\nDuration=160\r\n'),
    common('REFER', 'sip:pbx@127.0.0.1', '201', '202', 'Refer-To: <sip:203@127.0.0.1>'),
    'SIP/2.0 200 OK\r\n' + via + '\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: fz{n}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n',
  ];
}

/** The RFC 4475 messages, as they are in the repository. */
function torture(): Buffer[] {
  return readdirSync(RFC4475).filter((f) => f.endsWith('.dat')).map((f) => readFileSync(join(RFC4475, f)));
}

const JUNK = ['\0', '\r', '\n', '\r\n\r\n', ':', ';', ',', '"', '<', '>', '@', '\\', '%00', 'é', '\u{1F600}', '\xff', ' ', '\t', '=', '0', '-1', '4294967296', '99999999999999999999'];

/** One mutation of `msg` (a few of them stacked, sometimes). */
export function mutate(msg: Buffer, rnd: Rnd): Buffer {
  let s = msg.toString('latin1');
  const rounds = 1 + int(rnd, 3);
  for (let r = 0; r < rounds; r++) {
    const lines = s.split('\r\n');
    const at = int(rnd, Math.max(1, s.length));
    switch (int(rnd, 14)) {
      case 0: { // flip bytes
        const b = Buffer.from(s, 'latin1');
        for (let i = 0, n = 1 + int(rnd, 8); i < n; i++) b[int(rnd, b.length)] = int(rnd, 256);
        s = b.toString('latin1');
        break;
      }
      case 1: s = s.slice(0, at) + pick(rnd, JUNK).repeat(1 + int(rnd, 4)) + s.slice(at); break;
      case 2: s = s.slice(0, at) + s.slice(at + 1 + int(rnd, 40)); break;
      case 3: s = s.slice(0, at); break; // truncated
      case 4: { // a header line repeated many times
        const i = 1 + int(rnd, Math.max(1, lines.length - 3));
        lines.splice(i, 0, ...Array<string>(1 + int(rnd, 300)).fill(lines[i] ?? 'X: y'));
        s = lines.join('\r\n');
        break;
      }
      case 5: { // a value swollen
        const i = 1 + int(rnd, Math.max(1, lines.length - 3));
        lines[i] = `${lines[i] ?? 'X'}${pick(rnd, ['a', ';p', ',<sip:x@y>', '%41', '\\"'])}`.padEnd(1 + int(rnd, 20_000), pick(rnd, ['A', ';', ',', '0']));
        s = lines.join('\r\n');
        break;
      }
      case 6: s = s.replace(/Content-Length: *\d+/i, `Content-Length: ${pick(rnd, ['0', '-1', '999999', '18446744073709551616', '5', ' ', '1e3'])}`); break;
      case 7: s = s.replace(/^\S+/, pick(rnd, ['INVITE', 'REGISTER', 'FOO', 'invite', '', 'OPTIONS\0', 'SIP/2.0', 'ACK', 'PRACK', 'MESSAGE'])); break;
      case 8: s = s.replace(/SIP\/2\.0/, pick(rnd, ['SIP/3.0', 'SIP/2.00', 'sip/2.0', 'HTTP/1.1', 'SIP/'])); break;
      case 9: s = s.replace(/\r\n/g, pick(rnd, ['\n', '\r', '\r\n ', '\r\n\t'])); break; // line ends and folding
      case 10: { // deep parameters and many Vias
        const i = 1 + int(rnd, Math.max(1, lines.length - 3));
        lines[i] = `${lines[i] ?? 'Via: SIP/2.0/UDP a'}${';x=1'.repeat(int(rnd, 2000))}`;
        s = lines.join('\r\n');
        break;
      }
      case 11: s = s.replace(/(Call-ID|CSeq|From|To|Via|Max-Forwards|Expires|Contact): [^\r]*/i, (m) => `${m.split(':')[0]}: ${pick(rnd, ['', ' ', '0', '4294967296 INVITE', '<>', '*', 'sip:', '<sip:@>;tag=', 'SIP/2.0/UDP', '-1', '256'])}`); break;
      case 12: s = s.replace(/\r\n\r\n/, '\r\n' + `X-${int(rnd, 1000)}: ${'y'.repeat(int(rnd, 200))}\r\n\r\n`); break;
      default: s = s.toUpperCase(); break;
    }
  }
  return Buffer.from(s, 'latin1');
}

export interface FuzzTargets {
  host?: string;
  udp: number;
  tcp?: number;
  ws?: number;
}

export interface FuzzStats {
  sent: { udp: number; tcp: number; ws: number };
  /** Connections the node closed on us (framing errors, limits): expected, and counted. */
  closed: number;
  replies: number;
}

/**
 * Sends `count` mutated messages, round-robin over the transports given, at about `rate` per
 * second (0: as fast as the sockets take them). Stream connections the node closes are opened
 * again. Resolves when all were sent and the sockets are closed.
 */
export async function fuzz(t: FuzzTargets, o: { count: number; seed: number; rate?: number; from?: string; onProgress?: (sent: number) => void }): Promise<FuzzStats> {
  const rnd = prng(o.seed);
  const host = t.host ?? '127.0.0.1';
  const from = o.from ?? '127.0.0.1';
  const seeds: Buffer[] = [...templates(from, 'UDP'), ...templates(from, 'TCP')].map((m): Buffer => Buffer.from(m, 'latin1'));
  seeds.push(...torture());
  const stats: FuzzStats = { sent: { udp: 0, tcp: 0, ws: 0 }, closed: 0, replies: 0 };
  const udp = dgram.createSocket('udp4');
  udp.bind(0, from);
  await once(udp, 'listening');
  udp.on('message', () => stats.replies++);
  let tcp: net.Socket | undefined;
  let ws: WebSocket | undefined;
  const openTcp = async () => {
    const s = net.connect({ host, port: t.tcp!, localAddress: from });
    s.on('error', () => undefined);
    s.on('data', () => stats.replies++);
    s.once('close', () => {
      stats.closed++;
      if (tcp === s) tcp = undefined;
    });
    await once(s, 'connect').catch(() => undefined);
    return s;
  };
  const openWs = async () => {
    const w = new WebSocket(`ws://${host}:${t.ws}`, 'sip', { localAddress: from });
    w.on('error', () => undefined);
    w.on('message', () => stats.replies++);
    w.once('close', () => {
      stats.closed++;
      if (ws === w) ws = undefined;
    });
    await Promise.race([once(w, 'open'), once(w, 'close')]).catch(() => undefined);
    return w;
  };
  const kinds = ['udp', ...(t.tcp ? ['tcp'] : []), ...(t.ws ? ['ws'] : [])] as const;
  const started = Date.now();
  try {
    for (let n = 0; n < o.count; n++) {
      const seed = pick(rnd, seeds);
      const msg = mutate(Buffer.from(seed.toString('latin1').replaceAll('{n}', String(n)), 'latin1'), rnd);
      const kind = kinds[n % kinds.length]!;
      if (kind === 'udp') {
        udp.send(msg.subarray(0, 65_000), t.udp, host);
        stats.sent.udp++;
      } else if (kind === 'tcp') {
        if (!tcp || tcp.destroyed) tcp = await openTcp();
        if (tcp.writable) tcp.write(msg);
        stats.sent.tcp++;
      } else {
        if (!ws || ws.readyState !== WebSocket.OPEN) ws = await openWs();
        if (ws.readyState === WebSocket.OPEN) ws.send(msg);
        stats.sent.ws++;
      }
      if (o.rate && o.rate > 0) {
        const due = started + ((n + 1) * 1000) / o.rate;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      } else if (n % 200 === 199) {
        await new Promise((r) => setImmediate(r));
      }
      o.onProgress?.(n + 1);
    }
  } finally {
    udp.close();
    tcp?.destroy();
    ws?.terminate();
  }
  return stats;
}
