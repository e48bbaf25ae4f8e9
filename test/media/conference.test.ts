/**
 * Conference: three participants talking 440, 1000 and 1700 Hz; each must receive the two other
 * tones and not its own. The 1700 Hz participant is a real sipp caller (rtp_stream).
 */
import test from 'ava';
import { once } from 'node:events';
import { MediaEngine } from '../../src/media/index.js';
import { soxTone, tempDir } from '../helpers/audio.js';
import { portBlock } from '../helpers/ports.js';
import { RtpPeer, sine } from '../helpers/rtp-peer.js';
import { encodeUlaw } from '../../src/media/reference/g711.js';
import { sippStreamCall } from '../helpers/sipp-media.js';
import { hasTone, lacksTone, rms, toneRatio } from '../helpers/tone.js';
import { readWav } from '../helpers/wav.js';

const port = portBlock(11);
const ADDR = '127.0.0.1';

test.serial('three-party conference: everyone hears the others and not themselves', async (t) => {
  const engine = new MediaEngine({ address: ADDR, portMin: port(0), portMax: port(39) });
  const p440 = await RtpPeer.open(ADDR);
  const p1000 = await RtpPeer.open(ADDR);
  const hear1700 = await RtpPeer.open(ADDR); // what the sipp participant is sent
  const dir = await tempDir('conf-');
  try {
    const conf = engine.createConference({ jitterMaxMs: 200 });
    const e440 = engine.createEndpoint({ codec: 'PCMU' });
    const e1000 = engine.createEndpoint({ codec: 'PCMA' });
    // sipp can't decode what it receives, so this leg sends to our peer instead (no latching).
    const e1700 = engine.createEndpoint({ codec: 'PCMU', latching: false });
    e440.setRemote({ address: ADDR, port: p440.port });
    e1000.setRemote({ address: ADDR, port: p1000.port });
    e1700.setRemote({ address: ADDR, port: hear1700.port });
    for (const e of [e440, e1000, e1700]) conf.add(e);
    const talkers = new Set<number>();
    conf.on('talker', ({ endpoint, talking }) => talking && talkers.add(endpoint.port));
    const rec = conf.record(`${dir}/mix.wav`);
    p440.sendTone(sine(440, 1), { to: { address: ADDR, port: e440.port }, pt: 0 });
    p1000.sendTone(sine(1000, 1), { to: { address: ADDR, port: e1000.port }, pt: 8 });
    const rtpFile = await soxTone(dir, { freq: 1700, seconds: 10, format: 'ulaw-raw' });
    const r = await sippStreamCall({
      mediaTo: { address: ADDR, port: e1700.port, pt: 0 },
      rtpFile,
      talkMs: 4000,
      uasPort: port(100),
      uacPort: port(102),
      uacMediaPort: port(104),
    });
    t.is(r.uac.code, 0, r.uac.stderr);
    p440.stop();
    p1000.stop();
    rec.close();
    await once(rec, 'end');

    const skip = 8000; // first second: sipp call setup and jitter-buffer fill
    const heard = { 440: p440.samples, 1000: p1000.samples, 1700: hear1700.samples };
    const ratios = Object.fromEntries(
      Object.entries(heard).map(([k, s]) => [k, [440, 1000, 1700].map((f) => toneRatio(s, f, { skip }).toFixed(3)).join('/')]),
    );
    t.log('ratios 440/1000/1700 heard by each', ratios);
    t.true(hasTone(heard[440], 1000, 0.2, { skip }) && hasTone(heard[440], 1700, 0.1, { skip }));
    t.true(lacksTone(heard[440], 440, 0.02, { skip }), 'no echo of 440');
    t.true(hasTone(heard[1000], 440, 0.2, { skip }) && hasTone(heard[1000], 1700, 0.1, { skip }));
    t.true(lacksTone(heard[1000], 1000, 0.02, { skip }), 'no echo of 1000');
    t.true(hasTone(heard[1700], 440, 0.2, { skip }) && hasTone(heard[1700], 1000, 0.2, { skip }));
    t.true(lacksTone(heard[1700], 1700, 0.02, { skip }), 'no echo of 1700');
    const mix = (await readWav(`${dir}/mix.wav`)).samples;
    for (const f of [440, 1000, 1700]) t.true(hasTone(mix, f, 0.1, { skip }), `mix has ${f}`);
    t.is(talkers.size, 3, 'all three detected as talkers');
  } finally {
    for (const p of [p440, p1000, hear1700]) p.close();
    engine.close();
  }
});

test.serial('mute and gain: a muted participant is not heard; players mix in', async (t) => {
  const engine = new MediaEngine({ address: ADDR, portMin: port(40), portMax: port(79) });
  const pa = await RtpPeer.open(ADDR);
  const pb = await RtpPeer.open(ADDR);
  try {
    const conf = engine.createConference();
    const a = engine.createEndpoint();
    const b = engine.createEndpoint();
    a.setRemote({ address: ADDR, port: pa.port });
    b.setRemote({ address: ADDR, port: pb.port });
    conf.add(a);
    conf.add(b, { muted: true });
    pa.sendTone(sine(440, 1), { to: { address: ADDR, port: a.port }, pt: 0 });
    pb.sendTone(sine(1000, 1), { to: { address: ADDR, port: b.port }, pt: 0 });
    await new Promise((r) => setTimeout(r, 1500));
    t.true(hasTone(pb.samples, 440, 0.5, { skip: 2400 }), 'b hears a');
    t.true(lacksTone(pa.samples, 1000), 'a does not hear muted b');
    pa.clear();
    conf.setMuted(b, false);
    const player = conf.play({ tones: [{ freqs: [1700], ms: 600 }] });
    const ended = once(player, 'end');
    await new Promise((r) => setTimeout(r, 500));
    t.true(hasTone(pa.samples, 1000, 0.2, { skip: 1600 }), 'a hears b after unmute');
    t.true(hasTone(pa.samples, 1700, 0.1, { skip: 1600 }), 'a hears the player');
    const [ev] = await ended;
    t.deepEqual(ev, { completed: true });
    t.true(player.closed);
    // gain 0.25: b's tone (amplitude 16000, RMS ~11300) reaches a at a quarter of its level
    conf.setGain(b, 0.25);
    await new Promise((r) => setTimeout(r, 200));
    pa.clear();
    await new Promise((r) => setTimeout(r, 600));
    const level = rms(pa.samples, 800);
    t.true(level > 2300 && level < 3400, `rms ${level}`);
    t.true(hasTone(pa.samples, 1000, 0.8, { skip: 800 }));
    conf.close();
    t.is(a.attachment, null);
    conf.close(); // idempotent
  } finally {
    pa.close();
    pb.close();
    engine.close();
  }
});

test.serial('jitter buffer: jittered, reordered input with losses still plays out as a steady tone', async (t) => {
  const engine = new MediaEngine({ address: ADDR, portMin: port(80), portMax: port(99) });
  const src = await RtpPeer.open(ADDR);
  const listener = await RtpPeer.open(ADDR);
  try {
    const conf = engine.createConference({ jitterMaxMs: 200 });
    const a = engine.createEndpoint();
    const b = engine.createEndpoint();
    b.setRemote({ address: ADDR, port: listener.port });
    conf.add(a);
    conf.add(b);
    // 150 frames of 440 Hz; each sent at its time + 0..50 ms of jitter (so packets reorder);
    // every 25th frame is lost.
    const tone = sine(440, 3);
    let seed = 42;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const timers: NodeJS.Timeout[] = [];
    for (let i = 0; i < 150; i++) {
      if (i % 25 === 24) continue;
      const payload = encodeUlaw(tone.subarray(i * 160, i * 160 + 160));
      const pkt = Buffer.alloc(12 + 160);
      pkt[0] = 0x80;
      pkt[1] = 0;
      pkt.writeUInt16BE(i, 2);
      pkt.writeUInt32BE(1000 + i * 160, 4);
      pkt.writeUInt32BE(0xabcdef, 8);
      pkt.set(payload, 12);
      timers.push(setTimeout(() => src.socket.send(pkt, a.port, ADDR), i * 20 + Math.floor(rnd() * 50)));
    }
    await new Promise((r) => setTimeout(r, 150 * 20 + 600));
    timers.forEach(clearTimeout);
    const s = listener.samples;
    // frames b heard while a was talking (from the first loud frame on, 140 frames)
    const frames: number[] = [];
    for (let f = 0; f * 160 + 160 <= s.length; f++) {
      let e = 0;
      for (let i = f * 160; i < f * 160 + 160; i++) e += s[i]! * s[i]!;
      frames.push(Math.sqrt(e / 160));
    }
    const first = frames.findIndex((r) => r > 1000);
    const talk = frames.slice(first, first + 140);
    const quiet = talk.filter((r) => r < 1000).length;
    t.log(`first loud frame ${first}, quiet frames while talking: ${quiet}/140`);
    t.true(quiet <= 10, 'gaps are concealed and jitter absorbed');
    const heard = s.subarray(first * 160, (first + 140) * 160);
    t.true(hasTone(heard, 440, 0.8), `440 ratio ${toneRatio(heard, 440)}`);
    const st = a.stats();
    t.true(st.jbConcealed >= 5, `concealed ${st.jbConcealed}`);
  } finally {
    src.close();
    listener.close();
    engine.close();
  }
});
