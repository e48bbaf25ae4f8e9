/**
 * The attacker of the security suite: hand-made SIP over UDP, TCP and WebSocket from any
 * loopback address (127.x.y.z), spelled as an attacker spells it (escaped or unquoted digest
 * user names, replayed credentials, floods). It is not a stand-in for a real peer: the
 * legitimate users in the same tests are sipp and baresip.
 */
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import { once } from 'node:events';
import { WebSocket } from 'ws';

export const md5 = (s: string): string => createHash('md5').update(s).digest('hex');
export const token = (): string => randomBytes(6).toString('hex');

/** The parameters of a WWW-/Proxy-Authenticate value (enough for our own challenges). */
export function challengeOf(response: string, header = /^(?:WWW|Proxy)-Authenticate:\s*(.*)$/im): { realm: string; nonce: string; qop?: string } {
  const m = header.exec(response);
  if (!m) throw new Error(`no challenge in:\n${response.slice(0, 400)}`);
  const p = (k: string) => new RegExp(`${k}="?([^",]*)"?`, 'i').exec(m[1]!)?.[1];
  return { realm: p('realm')!, nonce: p('nonce')!, qop: p('qop') };
}

export interface Credentials {
  /** The user name as the hash uses it (unescaped). */
  user: string;
  password: string;
  method: string;
  uri: string;
  realm: string;
  nonce: string;
  /** How the username parameter is written: quoted ("201"), escaped ("2\01") or bare (201). */
  spelling?: 'quoted' | 'escaped' | 'bare';
  /** qop=auth with this nonce count; undefined: RFC 2069 (no qop). */
  nc?: number;
  cnonce?: string;
}

/** An Authorization value computed by hand (RFC 7616 / RFC 2069, MD5). */
export function authorization(c: Credentials): string {
  const ha1 = md5(`${c.user}:${c.realm}:${c.password}`);
  const ha2 = md5(`${c.method}:${c.uri}`);
  const nc = c.nc === undefined ? undefined : c.nc.toString(16).padStart(8, '0');
  const cnonce = c.cnonce ?? token();
  const response = nc === undefined ? md5(`${ha1}:${c.nonce}:${ha2}`) : md5(`${ha1}:${c.nonce}:${nc}:${cnonce}:auth:${ha2}`);
  const name = c.spelling === 'bare' ? c.user : c.spelling === 'escaped' ? `"${[...c.user].map((ch) => `\\${ch}`).join('')}"` : `"${c.user}"`;
  let out = `Digest username=${name}, realm="${c.realm}", nonce="${c.nonce}", uri="${c.uri}", response="${response}", algorithm=MD5`;
  if (nc !== undefined) out += `, qop=auth, nc=${nc}, cnonce="${cnonce}"`;
  return out;
}

export interface RequestSpec {
  method: 'REGISTER' | 'INVITE' | 'OPTIONS' | 'SUBSCRIBE' | string;
  /** Request-URI. */
  uri: string;
  fromUser: string;
  toUser: string;
  domain?: string;
  callId?: string;
  cseq?: number;
  branch?: string;
  /** Sent-by of the Via (the attacker's address:port). */
  via: string;
  transport?: 'UDP' | 'TCP' | 'WS';
  headers?: Record<string, string>;
  body?: string;
}

export function request(r: RequestSpec): string {
  const domain = r.domain ?? '127.0.0.1';
  const body = r.body ?? '';
  const lines = [
    `${r.method} ${r.uri} SIP/2.0`,
    `Via: SIP/2.0/${r.transport ?? 'UDP'} ${r.via};branch=${r.branch ?? `z9hG4bK${token()}`};rport`,
    'Max-Forwards: 70',
    `From: <sip:${r.fromUser}@${domain}>;tag=${token()}`,
    `To: <sip:${r.toUser}@${domain}>`,
    `Call-ID: ${r.callId ?? `${token()}@attacker`}`,
    `CSeq: ${r.cseq ?? 1} ${r.method}`,
    `Contact: <sip:${r.fromUser}@${r.via}>`,
    ...Object.entries(r.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
    ...(body ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ];
  return lines.join('\r\n');
}

export const SDP = (ip: string, port: number) =>
  `v=0\r\no=a 1 1 IN IP4 ${ip}\r\ns=-\r\nc=IN IP4 ${ip}\r\nt=0 0\r\nm=audio ${port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n`;

/** A UDP socket on a loopback address of the attacker's choosing; keeps every packet it gets. */
export class UdpAttacker {
  readonly socket: dgram.Socket;
  readonly address: string;
  readonly port: number;
  readonly received: string[] = [];
  #waiters: (() => void)[] = [];

  private constructor(socket: dgram.Socket, address: string, port: number) {
    this.socket = socket;
    this.address = address;
    this.port = port;
    socket.on('message', (m) => {
      this.received.push(m.toString('latin1'));
      for (const w of this.#waiters.splice(0)) w();
    });
  }

  static async open(address = '127.0.0.1'): Promise<UdpAttacker> {
    const s = dgram.createSocket('udp4');
    s.bind(0, address);
    await once(s, 'listening');
    return new UdpAttacker(s, address, s.address().port);
  }

  get via(): string {
    return `${this.address}:${this.port}`;
  }

  send(text: string, port: number, host = '127.0.0.1'): void {
    this.socket.send(Buffer.from(text, 'latin1'), port, host);
  }

  /** Sends and resolves with the first final response (>= 200) to this Call-ID and CSeq, or undefined after timeoutMs. */
  async ask(text: string, port: number, timeoutMs = 3000): Promise<string | undefined> {
    const callId = /^Call-ID:\s*(.*)$/im.exec(text)![1]!.trim();
    const cseq = /^CSeq:\s*(.*)$/im.exec(text)![1]!.trim();
    const from = this.received.length;
    this.send(text, port);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.received.slice(from).find((m) => /^SIP\/2\.0 [2-6]/.test(m) && m.includes(callId) && new RegExp(`^CSeq:\\s*${cseq}`, 'im').test(m));
      if (hit) return hit;
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 100));
        this.#waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  close(): void {
    this.socket.close();
  }
}

/** A TCP connection from a loopback address; resolves when connected. */
export async function tcpConnect(port: number, localAddress = '127.0.0.1'): Promise<net.Socket> {
  const s = net.connect({ port, host: '127.0.0.1', localAddress });
  s.on('error', () => undefined);
  await once(s, 'connect');
  return s;
}

/** Whether the server closes `s` within `ms`. */
export function closedWithin(s: net.Socket | WebSocket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (s instanceof net.Socket ? s.destroyed || s.readyState === 'closed' : s.readyState === WebSocket.CLOSED) return resolve(true);
    const t = setTimeout(() => resolve(false), ms);
    s.once('close', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/** Status line of a response, e.g. "401 Unauthorized". */
export const statusOf = (res: string | undefined): string => (res ? /^SIP\/2\.0 (\d{3} .*)$/m.exec(res)?.[1]?.trim() ?? '?' : 'none');

/** A small deterministic PRNG (mulberry32): the fuzzer's mutations are the same on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
