/**
 * Bridge: real RTP from sipp (rtp_stream of a sox-made tone) into endpoint A, relayed to endpoint
 * B, whose output a UDP peer receives and decodes with the reference codec.
 */
import test from 'ava';
import { MediaEngine } from '../../src/media/index.js';
import { soxTone, tempDir } from '../helpers/audio.js';
import { portBlock } from '../helpers/ports.js';
import { RtpPeer, sine } from '../helpers/rtp-peer.js';
import { sippStreamCall } from '../helpers/sipp-media.js';
import { hasTone, lacksTone, toneRatio } from '../helpers/tone.js';

const port = portBlock(10);
// offsets: 0..59 engine ranges, 60..99 own peers, 100..159 sipp
const ADDR = '127.0.0.1';

function checkStream(t: import('ava').ExecutionContext, peer: RtpPeer, pt: number) {
  const audio = peer.headers.filter((h) => h.pt === pt);
  t.true(audio.length > 50, `received ${audio.length} packets of PT ${pt}`);
  t.is(new Set(audio.map((h) => h.ssrc)).size, 1, 'one stable SSRC');
  let jumps = 0;
  for (let i = 1; i < audio.length; i++) if (((audio[i]!.seq - audio[i - 1]!.seq) & 0xffff) !== 1) jumps++;
  t.is(jumps, 0, 'sequence numbers continuous');
}

// [name, codec of A (what sipp sends), codec of B (what the far end of B gets), sipp file, port offset]
for (const [name, codecA, codecB, raw, base] of [
  ['PCMU -> PCMU', 'PCMU', 'PCMU', 'ulaw-raw', 0],
  ['PCMU -> PCMA (transcoded)', 'PCMU', 'PCMA', 'ulaw-raw', 20],
  ['PCMA -> PCMU (transcoded)', 'PCMA', 'PCMU', 'alaw-raw', 40],
] as const) {
  test.serial(`sipp tone through a ${name} bridge arrives as the tone`, async (t) => {
    const ptA = codecA === 'PCMU' ? 0 : 8;
    const ptB = codecB === 'PCMU' ? 0 : 8;
    const engine = new MediaEngine({ address: ADDR, portMin: port(base), portMax: port(base + 19) });
    const peer = await RtpPeer.open(ADDR);
    try {
      const dir = await tempDir('bridge-');
      const rtpFile = await soxTone(dir, { freq: 1000, seconds: 10, format: raw });
      const a = engine.createEndpoint({ codec: codecA });
      const b = engine.createEndpoint({ codec: codecB });
      b.setRemote({ address: ADDR, port: peer.port });
      engine.createBridge(a, b);
      const sipBase = 100 + base;
      const r = await sippStreamCall({
        mediaTo: { address: ADDR, port: a.port, pt: ptA },
        rtpFile,
        talkMs: 3000,
        uasPort: port(sipBase),
        uacPort: port(sipBase + 2),
        uacMediaPort: port(sipBase + 4),
      });
      t.is(r.uac.code, 0, r.uac.stderr);
      checkStream(t, peer, ptB);
      const s = peer.samples;
      t.true(s.length > 8000, `${s.length} samples`);
      t.true(hasTone(s, 1000, 0.8, { skip: 800 }), `1 kHz ratio ${toneRatio(s, 1000, { skip: 800 })}`);
      t.true(lacksTone(s, 440), `440 Hz ratio ${toneRatio(s, 440)}`);
      t.true(a.stats().rxPackets > 50);
    } finally {
      peer.close();
      engine.close();
    }
  });
}

test.serial('bridge keeps one SSRC and continuous seq/ts across a source change, and renumbers telephone-event', async (t) => {
  const engine = new MediaEngine({ address: ADDR, portMin: port(60), portMax: port(79) });
  const src1 = await RtpPeer.open(ADDR);
  const src2 = await RtpPeer.open(ADDR);
  const sink = await RtpPeer.open(ADDR);
  try {
    const a = engine.createEndpoint({ codec: 'PCMA', telephoneEventPt: 101 });
    const b = engine.createEndpoint({ codec: 'PCMU', telephoneEventPt: 96 });
    b.setRemote({ address: ADDR, port: sink.port });
    sink.tePt = 96;
    engine.createBridge(a, b);
    src1.sendTone(sine(440, 1), { to: { address: ADDR, port: a.port }, pt: 8 });
    await new Promise((r) => setTimeout(r, 1000));
    src1.stop();
    // A new source (new SSRC, random seq/ts) replaces the first, as after a re-INVITE or transfer.
    src2.sendTone(sine(440, 1), { to: { address: ADDR, port: a.port }, pt: 8 });
    await new Promise((r) => setTimeout(r, 1000));
    src2.stop();
    // a's far end sends a digit with PT 101: b's far end must get it as PT 96.
    const ev = Buffer.from([0x80, 101, 0, 1, 0, 0, 1, 0, 0, 0, 0, 9, 5, 0x80 | 10, 3, 0x20]);
    for (let i = 0; i < 3; i++) src2.socket.send(ev, a.port, ADDR);
    await new Promise((r) => setTimeout(r, 300));
    const audio = sink.headers.filter((h) => h.pt === 0);
    t.true(audio.length > 80);
    t.is(new Set(audio.map((h) => h.ssrc)).size, 1);
    for (let i = 1; i < audio.length; i++) {
      t.is((audio[i]!.seq - audio[i - 1]!.seq) & 0xffff, 1, `seq step at ${i}`);
      t.is((audio[i]!.ts - audio[i - 1]!.ts) >>> 0, 160, `ts step at ${i}`);
    }
    t.true(hasTone(sink.samples, 440, 0.8, { skip: 800 }));
    t.true(sink.events.length >= 1 && sink.events.every((e) => e.event === 5), 'digit 5 relayed as PT 96');
  } finally {
    for (const p of [src1, src2, sink]) p.close();
    engine.close();
  }
});
