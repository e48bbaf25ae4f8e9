import test from 'ava';
import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { WebSocket } from 'ws';
import { portBlock } from '../helpers/ports.js';
import { TransportManager } from '../../src/sip/transport/manager.js';
import { StreamFramer, FramingError, PING } from '../../src/sip/transport/framing.js';
import { decodeXorMappedAddress } from '../../src/sip/transport/stun.js';
import type { Source, TransportError, TransportManagerOptions } from '../../src/sip/transport/types.js';
import { until as waitUntil } from '../helpers/wait.js';

const port = portBlock(1);
const HOST = '127.0.0.1';

function sipMsg(body = '', extra = ''): Buffer {
  return Buffer.from(
    'OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK1\r\n' +
    `Call-ID: x\r\nCSeq: 1 OPTIONS\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** A manager recording what it sees, with a way to wait for the n-th message. */
function harness(opts: Partial<TransportManagerOptions> & Pick<TransportManagerOptions, 'listen'>) {
  const messages: { data: Buffer; source: Source }[] = [];
  const errors: TransportError[] = [];
  const closed: string[] = [];
  const mgr = new TransportManager({
    maxMessageSize: 4096,
    onMessage: (data, source) => { messages.push({ data: Buffer.from(data), source }); },
    onError: (e) => { errors.push(e); },
    onFlowClosed: (id) => { closed.push(id); },
    ...opts,
  });
  const until = (cond: () => boolean, ms = 3000) => waitUntil('the transport event', cond, ms, { everyMs: 10 });
  return { mgr, messages, errors, closed, until };
}

test('framer: split chunks, two messages in one chunk, pings, missing Content-Length', (t) => {
  const f = new StreamFramer(1000);
  const m1 = sipMsg('hello');
  const m2 = sipMsg('', 'l: 0\r\n'.replace('l: 0', 'X: y'));
  const out: Buffer[] = [];
  const all = Buffer.concat([Buffer.from('\r\n\r\n'), m1, m2, Buffer.from('\r\n\r\n')]);
  for (let i = 0; i < all.length; i += 7) for (const m of f.push(all.subarray(i, i + 7))) out.push(m);
  t.is(out.length, 4);
  t.is(out[0], PING);
  t.deepEqual(out[1], m1);
  t.deepEqual(out[2], m2);
  t.is(out[3], PING);
  t.is(f.buffered, 0);
  // Two in one chunk, compact form, lower case.
  const f2 = new StreamFramer(1000);
  const c = Buffer.from('MESSAGE sip:a SIP/2.0\r\nl : 3\r\n\r\nabcMESSAGE sip:b SIP/2.0\r\ncontent-LENGTH:0\r\n\r\n');
  const got = [...f2.push(c)].map((b) => b.toString());
  t.deepEqual(got, ['MESSAGE sip:a SIP/2.0\r\nl : 3\r\n\r\nabc', 'MESSAGE sip:b SIP/2.0\r\ncontent-LENGTH:0\r\n\r\n']);
  const f3 = new StreamFramer(1000);
  t.throws(() => [...f3.push(Buffer.from('OPTIONS sip:a SIP/2.0\r\nVia: x\r\n\r\n'))], { instanceOf: FramingError, message: /missing/ });
  const f4 = new StreamFramer(100);
  t.throws(() => [...f4.push(Buffer.from('OPTIONS sip:a SIP/2.0\r\nContent-Length: 500\r\n\r\n'))], { message: /exceeds/ });
  const f5 = new StreamFramer(100);
  t.throws(() => [...f5.push(Buffer.alloc(150, 65))], { message: /header section exceeds/ });
});

test('udp: round trip, CRLF keepalive ignored, STUN answered, oversize dropped', async (t) => {
  const h = harness({ listen: [{ transport: 'udp', address: HOST, port: port(0) }], maxMessageSize: 1000 });
  await h.mgr.start();
  t.deepEqual(h.mgr.local('udp'), { address: HOST, port: port(0) });
  const client = dgram.createSocket('udp4');
  await new Promise<void>((r) => client.bind(port(1), HOST, r));
  const replies: Buffer[] = [];
  client.on('message', (m) => replies.push(m));
  client.send(Buffer.from('\r\n\r\n'), port(0), HOST);
  client.send(Buffer.alloc(1500, 65), port(0), HOST);
  const trailing = Buffer.concat([sipMsg('x'), Buffer.from('garbage after')]);
  client.send(trailing, port(0), HOST);
  await h.until(() => h.messages.length === 1 && h.errors.length === 1);
  t.deepEqual(h.messages[0].data, trailing, 'whole datagram delivered');
  t.like(h.messages[0].source, { protocol: 'udp', address: HOST, port: port(1), localAddress: HOST, localPort: port(0) });
  t.is(h.messages[0].source.flowId, undefined);
  t.is(h.errors[0].code, 'oversize');
  // reply
  const err = await new Promise<TransportError | undefined>((r) => h.mgr.send(Buffer.from('SIP/2.0 200 OK\r\n\r\n'), h.messages[0].source, r));
  t.is(err, undefined);
  // STUN binding request
  const req = Buffer.alloc(20);
  req.writeUInt16BE(0x0001, 0); req.writeUInt16BE(0, 2); req.writeUInt32BE(0x2112a442, 4);
  req.fill(7, 8, 20);
  client.send(req, port(0), HOST);
  const end = Date.now() + 2000;
  while (replies.length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  t.is(replies[0].toString(), 'SIP/2.0 200 OK\r\n\r\n');
  t.deepEqual(decodeXorMappedAddress(replies[1]), { address: HOST, port: port(1) });
  t.deepEqual(replies[1].subarray(8, 20), req.subarray(8, 20));
  t.is(h.messages.length, 1, 'keepalive and STUN not delivered');
  client.close();
  await h.mgr.close();
  await h.mgr.close(); // idempotent
});

test('udp: start rejects naming the spec on EADDRINUSE', async (t) => {
  const blocker = dgram.createSocket('udp4');
  await new Promise<void>((r) => blocker.bind(port(2), HOST, r));
  const m = new TransportManager({ listen: [{ transport: 'udp', address: HOST, port: port(2) }], maxMessageSize: 1000, onMessage: () => {} });
  await t.throwsAsync(m.start(), { message: new RegExp(`EADDRINUSE 127.0.0.1:${port(2)}/udp`) });
  blocker.close();
});

test('tcp: framing over split chunks, two in one write, ping/pong, reply on flow, flow closed', async (t) => {
  const h = harness({ listen: [{ transport: 'tcp', address: HOST, port: port(10) }] });
  await h.mgr.start();
  const sock = net.connect(port(10), HOST);
  sock.on('error', () => {});
  await once(sock, 'connect');
  const received: Buffer[] = [];
  sock.on('data', (d) => received.push(d));
  const m1 = sipMsg('body-one');
  sock.write(m1.subarray(0, 10));
  await new Promise((r) => setTimeout(r, 30));
  sock.write(m1.subarray(10, 60));
  await new Promise((r) => setTimeout(r, 30));
  sock.write(Buffer.concat([m1.subarray(60), sipMsg('two'), sipMsg('three')]));
  await h.until(() => h.messages.length === 3);
  t.deepEqual(h.messages.map((m) => m.data.toString().split('\r\n\r\n')[1]), ['body-one', 'two', 'three']);
  const src = h.messages[0].source;
  t.regex(src.flowId ?? '', /^tcp:\d+$/);
  t.true(h.mgr.hasFlow(src.flowId!));
  t.is(src.port, sock.localPort!);
  sock.write('\r\n\r\n');
  await new Promise((r) => setTimeout(r, 100));
  t.is(Buffer.concat(received).toString(), '\r\n', 'pong is a single CRLF');
  received.length = 0;
  h.mgr.send(Buffer.from('SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n'), { protocol: 'tcp', address: '192.0.2.1', port: 9, flowId: src.flowId });
  // and by address: reuses the client's connection
  h.mgr.send(Buffer.from('X'), { protocol: 'tcp', address: HOST, port: sock.localPort! });
  await new Promise((r) => setTimeout(r, 100));
  t.is(Buffer.concat(received).toString(), 'SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\nX');
  sock.end();
  await h.until(() => h.closed.length === 1);
  t.is(h.closed[0], src.flowId!);
  t.false(h.mgr.hasFlow(src.flowId!));
  await h.mgr.close();
});

test('tcp: oversize and missing Content-Length close the connection with an error', async (t) => {
  const h = harness({ listen: [{ transport: 'tcp', address: HOST, port: port(11) }], maxMessageSize: 200 });
  await h.mgr.start();
  const s1 = net.connect(port(11), HOST);
  s1.on('error', () => {});
  s1.write('OPTIONS sip:a SIP/2.0\r\nContent-Length: 5000\r\n\r\n');
  await once(s1, 'close');
  const s2 = net.connect(port(11), HOST);
  s2.on('error', () => {});
  s2.write('OPTIONS sip:a SIP/2.0\r\nVia: x\r\n\r\n');
  await once(s2, 'close');
  await h.until(() => h.errors.length >= 2 && h.closed.length === 2);
  t.deepEqual(h.errors.map((e) => e.code).sort(), ['framing', 'oversize']);
  t.is(h.messages.length, 0);
  await h.mgr.close();
});

test('tcp: outbound connect on demand, connection reused, failure reported via cb', async (t) => {
  const a = harness({ listen: [{ transport: 'tcp', address: HOST, port: port(20) }] });
  const b = harness({ listen: [{ transport: 'tcp', address: HOST, port: port(21) }] });
  await a.mgr.start(); await b.mgr.start();
  const target = { protocol: 'tcp' as const, address: HOST, port: port(20) };
  b.mgr.send(sipMsg('1'), target);
  b.mgr.send(sipMsg('2'), target);
  await a.until(() => a.messages.length === 2);
  t.is(a.messages[0].source.flowId, a.messages[1].source.flowId, 'one connection');
  a.mgr.send(sipMsg('back'), { protocol: 'tcp', address: HOST, port: 1, flowId: a.messages[0].source.flowId });
  await b.until(() => b.messages.length === 1);
  t.is(b.messages[0].data.toString().split('\r\n\r\n')[1], 'back');
  const err = await new Promise<TransportError | undefined>((r) => b.mgr.send(sipMsg('x'), { protocol: 'tcp', address: HOST, port: port(22) }, r));
  t.is(err?.code, 'ECONNREFUSED');
  t.is(err?.target?.port, port(22));
  await b.mgr.close();
  await a.until(() => a.closed.length === 1);
  await a.mgr.close();
});

test('ws: subprotocol sip echoed, message with flowId, reply on the same connection, close reported', async (t) => {
  const h = harness({ listen: [{ transport: 'ws', address: HOST, port: port(30) }] });
  await h.mgr.start();
  const ws = new WebSocket(`ws://${HOST}:${port(30)}`, 'sip');
  ws.on('error', () => {});
  await once(ws, 'open');
  t.is(ws.protocol, 'sip');
  const got: string[] = [];
  ws.on('message', (d, isBinary) => { t.false(isBinary); got.push(d.toString()); });
  ws.send(sipMsg('over ws').toString());
  await h.until(() => h.messages.length === 1);
  const src = h.messages[0].source;
  t.regex(src.flowId ?? '', /^ws:\d+$/);
  t.like(src, { protocol: 'ws', address: HOST, localPort: port(30) });
  h.mgr.send(Buffer.from('SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n'), { protocol: 'ws', address: src.address, port: src.port, flowId: src.flowId });
  await h.until(() => got.length === 1);
  t.is(got[0], 'SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n');
  ws.close();
  await h.until(() => h.closed.length === 1);
  t.is(h.closed[0], src.flowId!);
  const err = await new Promise<TransportError | undefined>((r) => h.mgr.send(Buffer.from('x'), { protocol: 'ws', address: src.address, port: src.port, flowId: src.flowId }, r));
  t.is(err?.code, 'flow-gone');
  await h.mgr.close();
});

test('ws: handshake without subprotocol sip is refused; oversize closes', async (t) => {
  const h = harness({ listen: [{ transport: 'ws', address: HOST, port: port(31) }], maxMessageSize: 100 });
  await h.mgr.start();
  for (const protocols of [undefined, ['chat']]) {
    const ws = new WebSocket(`ws://${HOST}:${port(31)}`, protocols);
    const [, res] = await once(ws, 'unexpected-response');
    t.is(res.statusCode, 400);
    ws.on('error', () => {});
    ws.terminate();
  }
  const ws = new WebSocket(`ws://${HOST}:${port(31)}`, ['foo', 'sip']);
  await once(ws, 'open');
  t.is(ws.protocol, 'sip');
  ws.send('x'.repeat(500));
  const [code] = await once(ws, 'close');
  t.is(code, 1009);
  await h.until(() => h.errors.some((e) => e.code === 'oversize'));
  t.pass();
  await h.mgr.close();
});

const hasOpenssl = (() => {
  try { execFileSync('openssl', ['version'], { stdio: 'ignore' }); return true; } catch { return false; }
})();

(hasOpenssl ? test : test.skip)(hasOpenssl ? 'tls and wss with a self-signed certificate' : 'tls and wss: SKIPPED, openssl CLI not found', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sip-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1',
    '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem')], { stdio: 'ignore' });
  const pair = { certificate: join(dir, 'c.pem'), privateKey: join(dir, 'k.pem') };
  const h = harness({ listen: [
    { transport: 'tls', address: HOST, port: port(40), ...pair },
    { transport: 'wss', address: HOST, port: port(41), ...pair },
  ] });
  await h.mgr.start();
  const sock = tls.connect({ host: HOST, port: port(40), rejectUnauthorized: false });
  sock.on('error', () => {});
  await once(sock, 'secureConnect');
  const got: Buffer[] = [];
  sock.on('data', (d) => got.push(d));
  sock.write(sipMsg('secure'));
  await h.until(() => h.messages.length === 1);
  t.regex(h.messages[0].source.flowId ?? '', /^tls:\d+$/);
  h.mgr.send(Buffer.from('reply'), { ...h.messages[0].source, protocol: 'tls' });
  await h.until(() => got.length > 0);
  t.is(Buffer.concat(got).toString(), 'reply');
  // outbound tls from another manager
  const b = harness({ listen: [], tlsClient: { rejectUnauthorized: false } });
  await b.mgr.start();
  b.mgr.send(sipMsg('from b'), { protocol: 'tls', address: HOST, port: port(40) });
  await h.until(() => h.messages.length === 2);
  t.is(h.messages[1].data.toString().split('\r\n\r\n')[1], 'from b');
  // wss
  const ws = new WebSocket(`wss://${HOST}:${port(41)}`, 'sip', { rejectUnauthorized: false });
  ws.on('error', () => {});
  await once(ws, 'open');
  ws.send(sipMsg('wss'));
  await h.until(() => h.messages.length === 3);
  t.regex(h.messages[2].source.flowId ?? '', /^wss:\d+$/);
  ws.close();
  sock.end();
  await b.mgr.close();
  // a peer stuck before its TLS handshake must not hold close() open
  const stuck = net.connect(port(40), HOST);
  stuck.on('error', () => {});
  await once(stuck, 'connect');
  const closedInTime = await Promise.race([
    h.mgr.close().then(() => true),
    new Promise<boolean>((r) => setTimeout(() => r(false), 3000).unref()),
  ]);
  t.true(closedInTime, 'close() did not wait for the pending handshake');
  stuck.destroy();
});

test('close() leaves nothing that keeps the process alive', async (t) => {
  const script = `
    import { TransportManager } from './src/sip/transport/manager.ts';
    import net from 'node:net';
    import { WebSocket } from 'ws';
    const m = new TransportManager({ maxMessageSize: 4096, onMessage() {}, listen: [
      { transport: 'udp', address: '127.0.0.1', port: ${port(50)} },
      { transport: 'tcp', address: '127.0.0.1', port: ${port(50)} },
      { transport: 'ws', address: '127.0.0.1', port: ${port(51)} } ] });
    await m.start();
    const s = net.connect(${port(50)}, '127.0.0.1'); s.on('error', () => {});
    await new Promise((r) => s.on('connect', r));
    const ws = new WebSocket('ws://127.0.0.1:${port(51)}', 'sip'); ws.on('error', () => {});
    await new Promise((r) => ws.on('open', r));
    m.send(Buffer.from('x'), { protocol: 'tcp', address: '127.0.0.1', port: ${port(52)} }, () => {});
    await new Promise((r) => setTimeout(r, 50));
    await m.close();
    console.log('closed');
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: process.cwd() });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const timer = setTimeout(() => child.kill(), 8000);
  const [code] = await once(child, 'exit');
  clearTimeout(timer);
  t.is(code, 0, out);
  t.regex(out, /closed/);
});

test('idle inbound connections are closed; traffic keeps them open', async (t) => {
  const h = harness({ listen: [{ transport: 'tcp', address: HOST, port: port(60) }], idleTimeoutMs: 300 });
  await h.mgr.start();
  const busy = net.connect(port(60), HOST);
  const idle = net.connect(port(60), HOST);
  busy.on('error', () => {}); idle.on('error', () => {});
  busy.resume(); idle.resume();
  await Promise.all([once(busy, 'connect'), once(idle, 'connect')]);
  const timer = setInterval(() => busy.write('\r\n\r\n'), 100);
  t.teardown(() => clearInterval(timer));
  await once(idle, 'close');
  await h.until(() => h.closed.length === 1);
  t.false(busy.destroyed);
  clearInterval(timer);
  await once(busy, 'close');
  await h.until(() => h.closed.length === 2);
  t.pass();
  await h.mgr.close();
});
