/**
 * Engine life cycle and leg control: validation at the boundary, port allocation, close cascades,
 * media timeout, symmetric-RTP latching, and RTCP reports both ways (parsed with rtp.js).
 */
import test from 'ava';
import { once } from 'node:events';
import { MediaEngine, MediaError } from '../../src/media/index.js';
import { portBlock } from '../helpers/ports.js';
import { RtpPeer, sine } from '../helpers/rtp-peer.js';

const port = portBlock(14);
const ADDR = '127.0.0.1';

test('options are validated with a TypeError naming the field', (t) => {
  t.throws(() => new MediaEngine({ address: 'nope', portMin: port(0), portMax: port(9) }), { instanceOf: TypeError, message: /options\.address/ });
  t.throws(() => new MediaEngine({ address: ADDR, portMin: 80, portMax: port(9) }), { instanceOf: TypeError, message: /options\.portMin/ });
  t.throws(() => new MediaEngine({ address: ADDR, portMin: port(9), portMax: port(2) }), { instanceOf: TypeError, message: /options\.portMax/ });
  const engine = new MediaEngine({ address: ADDR, portMin: port(0), portMax: port(9) });
  try {
    t.throws(() => engine.createEndpoint({ codec: 'G729' as 'PCMU' }), { instanceOf: TypeError, message: /options\.codec/ });
    t.throws(() => engine.createEndpoint({ telephoneEventPt: 13 }), { instanceOf: TypeError, message: /telephoneEventPt/ });
    const ep = engine.createEndpoint();
    t.throws(() => ep.setRemote({ address: '1.2.3', port: 5 }), { instanceOf: TypeError, message: /remote\.address/ });
    t.throws(() => ep.setRemote({ address: ADDR, port: 70000 }), { instanceOf: TypeError, message: /remote\.port/ });
    t.throws(() => ep.sendDigits('12x'), { instanceOf: TypeError, message: /digits/ });
    t.throws(() => engine.createBridge(ep, ep), { instanceOf: TypeError, message: /^b:/ });
    t.throws(() => engine.createConference({ jitterMaxMs: 5 }), { instanceOf: TypeError, message: /jitterMaxMs/ });
  } finally {
    engine.close();
  }
});

test('even RTP ports from the range; ENOPORT when exhausted; close frees them', (t) => {
  const engine = new MediaEngine({ address: ADDR, portMin: port(10), portMax: port(15) });
  try {
    const eps = [engine.createEndpoint(), engine.createEndpoint(), engine.createEndpoint()];
    t.deepEqual(eps.map((e) => e.port % 2), [0, 0, 0]);
    t.is(new Set(eps.map((e) => e.port)).size, 3);
    t.true(eps.every((e) => e.port >= port(10) && e.rtcpPort <= port(15)));
    const err = t.throws(() => engine.createEndpoint(), { instanceOf: MediaError });
    t.is(err?.code, 'ENOPORT');
    eps[0]!.close();
    eps[0]!.close(); // idempotent
    t.true(eps[0]!.closed);
    t.throws(() => eps[0]!.sendDigits('1'), { instanceOf: MediaError, message: /closed/ });
  } finally {
    engine.close();
  }
  t.throws(() => engine.createEndpoint(), { instanceOf: MediaError });
});

test('close cascades: engine -> conferences, bridges, endpoints -> players, recorders', async (t) => {
  const engine = new MediaEngine({ address: ADDR, portMin: port(20), portMax: port(39) });
  const a = engine.createEndpoint();
  const b = engine.createEndpoint();
  const c = engine.createEndpoint();
  const br = engine.createBridge(a, b);
  t.throws(() => engine.createBridge(a, c), { instanceOf: MediaError, message: /already/ });
  const conf = engine.createConference();
  t.throws(() => conf.add(a), { instanceOf: MediaError });
  conf.add(c);
  const player = a.play({ tones: [{ freqs: [440], ms: 10_000 }] });
  const closes: string[] = [];
  for (const [n, o] of [['a', a], ['b', b], ['c', c], ['br', br], ['conf', conf], ['player', player]] as const) o.on('close', () => closes.push(n));
  b.close();
  t.true(br.closed, 'closing an endpoint closes its bridge');
  t.is(a.attachment, null);
  engine.createBridge(a, engine.createEndpoint()).close();
  engine.close();
  engine.close();
  for (const o of [a, c, conf, player]) t.true(o.closed);
  t.deepEqual(closes.sort(), ['a', 'b', 'br', 'c', 'conf', 'player']);
});

test('media timeout fires when nothing arrives, and latching follows the real source', async (t) => {
  const engine = new MediaEngine({ address: ADDR, portMin: port(40), portMax: port(59) });
  const peer = await RtpPeer.open(ADDR);
  const decoy = await RtpPeer.open(ADDR);
  try {
    const ep = engine.createEndpoint({ timeoutMs: 300 });
    ep.setRemote({ address: ADDR, port: decoy.port }); // SDP says decoy, packets come from peer
    peer.sendTone(sine(440, 1), { to: { address: ADDR, port: ep.port }, pt: 0 });
    await new Promise((r) => setTimeout(r, 300));
    t.is(ep.stats().remote, `${ADDR}:${peer.port}`);
    const player = ep.play({ tones: [{ freqs: [1000], ms: 200 }] });
    await once(player, 'end');
    t.true(peer.headers.length > 5, 'our audio goes to the latched address');
    t.is(decoy.headers.length, 0);
    // A stranger can't take over a latched stream while its source is alive.
    const stranger = await RtpPeer.open(ADDR);
    stranger.sendTone(sine(1700, 1), { to: { address: ADDR, port: ep.port }, pt: 0 });
    await new Promise((r) => setTimeout(r, 300));
    stranger.close();
    t.is(ep.stats().remote, `${ADDR}:${peer.port}`, 'still latched to the first source');
    peer.stop();
    const [ev] = (await once(ep, 'timeout')) as [{ silentMs: number }];
    t.true(ev.silentMs >= 300);
  } finally {
    peer.close();
    decoy.close();
    engine.close();
  }
});

for (const rtcpMux of [false, true]) {
  test(`RTCP reports flow both ways${rtcpMux ? ' (rtcp-mux)' : ''} and give loss/jitter/RTT`, async (t) => {
    const base = rtcpMux ? 80 : 60;
    const engine = new MediaEngine({ address: ADDR, portMin: port(base), portMax: port(base + 19), rtcpIntervalMs: 300 });
    try {
      const a = engine.createEndpoint({ rtcpMux });
      const b = engine.createEndpoint({ rtcpMux });
      a.setRemote({ address: ADDR, port: b.port });
      b.setRemote({ address: ADDR, port: a.port });
      a.play({ tones: [{ freqs: [440], ms: 5000 }] });
      b.play({ tones: [{ freqs: [1000], ms: 5000 }] });
      const reports: { kind: string; rtt: number | null; blocks: number }[] = [];
      a.on('rtcp', ({ report, quality }) => reports.push({ kind: report.kind, rtt: quality.rttMs, blocks: report.blocks.length }));
      await new Promise((r) => setTimeout(r, 1600));
      t.true(reports.length >= 2, `${reports.length} reports`);
      t.true(reports.some((r) => r.kind === 'sr' && r.blocks === 1));
      const q = a.quality;
      t.is(q.totalLost, 0);
      t.true(q.rttMs !== null && q.rttMs >= 0 && q.rttMs < 100, `rtt ${q.rttMs}`);
      t.true(q.jitterMs < 20);
      t.true(a.stats().rtcpOut >= 2);
    } finally {
      engine.close();
    }
  });
}

test('an address that is not ours fails at construction with EADDRNOTAVAIL', (t) => {
  const err = t.throws(() => new MediaEngine({ address: '192.0.2.77', portMin: port(100), portMax: port(109) }), { instanceOf: MediaError });
  t.is(err?.code, 'EADDRNOTAVAIL');
});

test('malformed packets are dropped and the leg keeps working', async (t) => {
  const engine = new MediaEngine({ address: ADDR, portMin: port(110), portMax: port(129) });
  const peer = await RtpPeer.open(ADDR);
  const sink = await RtpPeer.open(ADDR);
  try {
    const a = engine.createEndpoint();
    const b = engine.createEndpoint();
    b.setRemote({ address: ADDR, port: sink.port });
    engine.createBridge(a, b);
    const bad = [
      Buffer.from([0x80]), // too short
      Buffer.alloc(40, 0x00), // version 0
      Buffer.from([0xa0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xff]), // padding longer than the packet
      Buffer.from([0x90, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xbe, 0xde]), // truncated extension header
      Buffer.from([0x90, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xbe, 0xde, 0xff, 0xff]), // extension past the end
      Buffer.from([0x8f, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1]), // 15 CSRCs announced, none present
      Buffer.from([0x80, 101, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 200]), // short telephone-event
    ];
    for (let i = 0; i < 20; i++) for (const p of bad) peer.socket.send(p, a.port, ADDR);
    await new Promise((r) => setTimeout(r, 200));
    t.true(a.stats().dropped >= 20 * 5, `dropped ${a.stats().dropped}`);
    peer.sendTone(sine(440, 1), { to: { address: ADDR, port: a.port }, pt: 0 });
    await new Promise((r) => setTimeout(r, 500));
    t.true(sink.headers.filter((h) => h.pt === 0).length > 10, 'valid audio still relayed');
  } finally {
    peer.close();
    sink.close();
    engine.close();
  }
});
