/**
 * DTMF (RFC 4733): sipp's shipped RFC 2833 pcaps detected as the right digits (once each, end
 * retransmissions deduplicated), and digits we send are well-formed events another endpoint decodes.
 */
import test from 'ava';
import { MediaEngine, type DtmfEvent } from '../../src/media/index.js';
import { portBlock } from '../helpers/ports.js';
import { RtpPeer } from '../helpers/rtp-peer.js';
import { runSipp, startSipp } from '../helpers/sipp.js';
import { SCENARIOS } from '../helpers/peers.js';

const port = portBlock(12);
const ADDR = '127.0.0.1';
const scenarios = `${SCENARIOS}/`;

test.serial('sipp RFC 2833 pcaps are detected as 1234567890*#', async (t) => {
  const engine = new MediaEngine({ address: ADDR, portMin: port(0), portMax: port(19) });
  try {
    const ep = engine.createEndpoint({ telephoneEventPt: 101 });
    const digits: DtmfEvent[] = [];
    ep.on('dtmf', (d) => digits.push(d));
    const uas = startSipp(
      ['-sf', `${scenarios}uas_media_to.xml`, '-i', ADDR, '-p', String(port(100)), '-mp', String(port(110)),
        '-key', 'media_to_ip', ADDR, '-key', 'media_to_port', String(ep.port), '-key', 'media_pt', '0', '-m', '1'],
      { timeoutMs: 40_000 },
    );
    await new Promise((r) => setTimeout(r, 300));
    const uac = await runSipp(
      [`${ADDR}:${port(100)}`, '-sf', `${scenarios}uac_dtmf_pcaps.xml`, '-s', 'dtmf', '-i', ADDR, '-p', String(port(102)),
        '-mi', ADDR, '-mp', String(port(104)), '-m', '1'],
      { timeoutMs: 40_000 },
    );
    await uas.done;
    t.is(uac.code, 0, uac.stderr);
    await new Promise((r) => setTimeout(r, 200));
    t.is(digits.map((d) => d.digit).join(''), '1234567890*#');
    // each pcap event lasts 2240 samples = 280 ms
    for (const d of digits) t.is(d.durationMs, 280);
  } finally {
    engine.close();
  }
});

test.serial('sent digits: start, continuations, three end packets, one timestamp per event', async (t) => {
  const engine = new MediaEngine({ address: ADDR, portMin: port(20), portMax: port(39) });
  const peer = await RtpPeer.open(ADDR);
  try {
    const ep = engine.createEndpoint({ telephoneEventPt: 101 });
    ep.setRemote({ address: ADDR, port: peer.port });
    ep.sendDigits('15#', { durationMs: 100 });
    await new Promise((r) => setTimeout(r, 1200));
    const byTs = new Map<number, typeof peer.events>();
    for (const e of peer.events) byTs.set(e.ts, [...(byTs.get(e.ts) ?? []), e]);
    t.deepEqual([...byTs.values()].map((v) => v[0]!.event), [1, 5, 11]);
    for (const evs of byTs.values()) {
      t.true(evs[0]!.marker, 'marker on the first packet');
      t.false(evs[0]!.end);
      t.is(evs.filter((e) => e.end).length, 3, 'end packet sent three times');
      t.true(evs.filter((e) => e.end).every((e) => e.duration === 800), 'end duration = 100 ms');
      const durs = evs.filter((e) => !e.end).map((e) => e.duration);
      t.deepEqual(durs, [...durs].sort((a, b) => a - b), 'durations grow');
    }
    const te = peer.headers.filter((h) => h.pt === 101);
    for (let i = 1; i < te.length; i++) t.is((te[i]!.seq - te[i - 1]!.seq) & 0xffff, 1);
  } finally {
    peer.close();
    engine.close();
  }
});

test.serial('digits sent by one endpoint are received once each by another', async (t) => {
  const engine = new MediaEngine({ address: ADDR, portMin: port(40), portMax: port(59) });
  try {
    const a = engine.createEndpoint({ telephoneEventPt: 101 });
    const b = engine.createEndpoint({ telephoneEventPt: 101 });
    a.setRemote({ address: ADDR, port: b.port });
    const got: DtmfEvent[] = [];
    b.on('dtmf', (d) => got.push(d));
    a.sendDigits('0123456789*#ABCD', { durationMs: 60 });
    await new Promise((r) => setTimeout(r, 16 * 200 + 500));
    t.is(got.map((d) => d.digit).join(''), '0123456789*#ABCD');
    t.true(got.every((d) => d.durationMs === 60));
  } finally {
    engine.close();
  }
});

test.serial('an event whose end packets are all lost is still reported, once', async (t) => {
  const engine = new MediaEngine({ address: ADDR, portMin: port(60), portMax: port(79) });
  const peer = await RtpPeer.open(ADDR);
  try {
    const ep = engine.createEndpoint({ telephoneEventPt: 101 });
    const got: DtmfEvent[] = [];
    ep.on('dtmf', (d) => got.push(d));
    // digit 7: start + 4 continuations (duration up to 800), no end packet
    for (let i = 0; i < 5; i++) {
      const pkt = Buffer.from([0x80, i === 0 ? 0x80 | 101 : 101, 0, 10 + i, 0, 0, 0x10, 0, 0, 0, 0, 1, 7, 10, 0, 0]);
      pkt.writeUInt16BE((i + 1) * 160, 14);
      peer.socket.send(pkt, ep.port, ADDR);
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 800));
    t.deepEqual(got, [{ digit: '7', durationMs: 100 }]);
  } finally {
    peer.close();
    engine.close();
  }
});
