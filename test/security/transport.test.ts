/**
 * Attacks on the transports, each beside a legitimate user (sipp over TCP or UDP): connection
 * exhaustion from one address and from many, slowloris over TCP and the WebSocket handshake
 * (defect 8), a flood of malformed packets and its log lines (12), an empty Call-ID (9).
 */
import test from 'ava';
import net from 'node:net';
import { WebSocket } from 'ws';
import { portBlock } from '../helpers/ports.js';
import { runSipp, scenario } from '../helpers/sipp.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { eventually, sleep } from '../helpers/wait.js';
import { closedWithin, request, SDP, statusOf, tcpConnect, UdpAttacker } from '../helpers/attacker.js';

const port = portBlock(132);
const REGISTER = scenario('register_auth.xml');
const LIMITS = 'security: { connections: { max: 60, perAddress: 10, messageTimeoutSeconds: 2, idleTimeoutSeconds: 10 } }';

/** The legitimate user registering over `transport` ('u1' UDP, 't1' TCP); sipp's exit code. */
async function legit(n: TestServer, user: string, localPort: number, transport: 'u1' | 't1' = 't1'): Promise<number> {
  const r = await runSipp([`127.0.0.1:${n.config.sip.listen[0]!.port}`, '-sf', REGISTER, '-s', user, '-au', user, '-ap', `demo${user}`,
    '-i', '127.0.0.1', '-p', String(localPort), '-t', transport, '-m', '1'], { timeoutMs: 15_000 });
  return r.code ?? -1;
}

const warnings = (n: TestServer, re: RegExp) => n.logger.records.filter((r) => r.level === 'warn' && re.test(String(r.message)));

test.serial('defect 8: one address cannot hold more than its share of connections, nor all addresses together more than the total', async (t) => {
  const n = await startServer({ udp: port(0), tcp: port(0), yaml: LIMITS });
  const sockets: net.Socket[] = [];
  try {
    for (let i = 0; i < 25; i++) sockets.push(await tcpConnect(port(0), '127.0.4.1'));
    const open = async () => (await Promise.all(sockets.map((s) => closedWithin(s, 300)))).filter((c) => !c).length;
    t.is(await open(), 10, 'ten held, the rest closed at once');
    t.is(await legit(n, '201', port(100)), 0, 'a phone at another address registers over TCP');
    for (let a = 2; a <= 9; a++) for (let i = 0; i < 10; i++) sockets.push(await tcpConnect(port(0), `127.0.4.${a}`));
    t.true(await eventually(() => n.server.stack.transports.inboundConnections <= 60, 2000), `at most 60 held (${n.server.stack.transports.inboundConnections})`);
    t.true(n.server.alarms.isUp('sip.connections-full'), 'the operator is told');
    t.true(n.server.alarms.list('sip.connections-per-address').some((a) => a.key === '127.0.4.1'));
    t.true(warnings(n, /^transport: tcp connection from 127\.0\.4\.\d+ refused/).length > 0, 'refusals are logged at warn');
    t.true(warnings(n, /^transport: /).length <= 25, 'within a budget of lines');
    for (const s of sockets) s.destroy();
    t.true(await eventually(() => n.server.stack.transports.inboundConnections === 0, 3000));
    t.is(await legit(n, '202', port(101)), 0, 'and once they are gone anyone connects again');
  } finally {
    for (const s of sockets) s.destroy();
    await n.close();
  }
});

test.serial('defect 8: slowloris (a byte at a time), a silent connection and a stray-byte dripper are closed at the message deadline', async (t) => {
  const n = await startServer({ udp: port(10), tcp: port(10), ws: port(11), yaml: LIMITS });
  const timers: NodeJS.Timeout[] = [];
  try {
    const drip = await tcpConnect(port(10), '127.0.4.20');
    const text = 'REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.4.20:5060;branch=z9hG4bKslow\r\n';
    let i = 0;
    timers.push(setInterval(() => drip.writable && drip.write(text[i++ % text.length]!), 200));
    const silent = await tcpConnect(port(10), '127.0.4.21');
    const crs = await tcpConnect(port(10), '127.0.4.22');
    timers.push(setInterval(() => crs.writable && crs.write('\r'), 200));
    // an HTTP upgrade that never finishes its headers
    const wsDrip = await tcpConnect(port(11), '127.0.4.23');
    const hs = 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n';
    let j = 0;
    timers.push(setInterval(() => wsDrip.writable && wsDrip.write(hs[j++ % hs.length]!), 200));
    // a WebSocket that completes its handshake and then says nothing
    const ws = new WebSocket(`ws://127.0.0.1:${port(11)}`, 'sip', { localAddress: '127.0.4.24' });
    ws.on('error', () => undefined);
    const during = legit(n, '203', port(110));
    const [a, b, c, d, e] = await Promise.all([closedWithin(drip, 6000), closedWithin(silent, 6000), closedWithin(crs, 6000), closedWithin(wsDrip, 6000), closedWithin(ws, 6000)]);
    t.deepEqual({ drip: a, silent: b, crs: c, wsHandshake: d, wsSilent: e }, { drip: true, silent: true, crs: true, wsHandshake: true, wsSilent: true });
    t.is(await during, 0, 'a real phone registers over TCP meanwhile');
    t.true(warnings(n, /no complete message within 2000 ms; closing/).length >= 3);
  } finally {
    for (const x of timers) clearInterval(x);
    await n.close();
  }
});

test.serial('defect 12: a flood of malformed packets is answered but logged within a budget; framing errors are warnings', async (t) => {
  const n = await startServer({ udp: port(20), tcp: port(20) });
  const a = await UdpAttacker.open('127.0.4.30');
  try {
    for (let i = 0; i < 2000; i++) {
      a.send(`OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP ${a.via};branch=z9hG4bK${i}\r\nCSeq: ${i} OPTIONS\r\n\r\n`, port(20));
      if (i % 200 === 0) await sleep(5);
    }
    t.true(await eventually(() => a.received.length >= 1500, 5000), `the bad requests get 400 (${a.received.length})`);
    t.regex(statusOf(a.received[0]), /^400 Bad Request \(missing headers: From, To, Call-ID\)/);
    const lines = n.logger.records.filter((r) => /^malformed SIP message/.test(String(r.message)));
    t.true(lines.length <= 21, `${lines.length} log lines for 2000 packets`);
    const s = await tcpConnect(port(20), '127.0.4.31');
    s.write('OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.4.31:1;branch=z9hG4bKx\r\n\r\n');
    t.true(await closedWithin(s, 3000), 'a stream without Content-Length is closed');
    t.true(await eventually(() => warnings(n, /^transport: .*missing Content-Length on a stream; closing/).length === 1, 2000));
    t.is(await legit(n, '204', port(120), 'u1'), 0);
  } finally {
    a.close();
    await n.close();
  }
});

test.serial('defect 9: an INVITE with an empty Call-ID gets 400 and makes no call', async (t) => {
  const n = await startServer({ udp: port(30) });
  const a = await UdpAttacker.open('127.0.4.40');
  try {
    const invite = request({ method: 'INVITE', uri: 'sip:202@127.0.0.1', fromUser: '201', toUser: '202', via: a.via, callId: 'x', body: SDP('127.0.4.40', 40000) })
      .replace(/^Call-ID: x$/m, 'Call-ID: ');
    a.send(invite, port(30));
    t.true(await eventually(() => a.received.length > 0, 3000));
    t.is(statusOf(a.received[0]), '400 Bad Request (empty Call-ID)');
    t.is(n.server.calls.active, 0);
    t.is(await legit(n, '202', port(130), 'u1'), 0);
  } finally {
    a.close();
    await n.close();
  }
});
