/**
 * Recorder and player: a recording survives SIGKILL of its process as a playable WAV holding the
 * tone; prompts (WAV in the three encodings) and tone sequences play to an endpoint with an end event.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile, stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { MediaEngine } from '../../src/media/index.js';
import { soxTone, tempDir } from '../helpers/audio.js';
import { portBlock } from '../helpers/ports.js';
import { RtpPeer, sine } from '../helpers/rtp-peer.js';
import { hasTone, lacksTone, rms, toneRatio } from '../helpers/tone.js';
import { encodeUlaw } from '../../src/media/reference/g711.js';
import { readWav, wavHeaderValid } from '../helpers/wav.js';

const port = portBlock(13);
const ADDR = '127.0.0.1';

test.serial('a recorder killed with SIGKILL leaves a valid WAV missing at most the last second', async (t) => {
  const dir = await tempDir('rec-kill-');
  const path = `${dir}/killed.wav`;
  const child = spawn(process.execPath, ['--import', 'tsx', new URL('fixtures/record-child.ts', import.meta.url).pathname, String(port(0)), String(port(19)), path], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const peer = await RtpPeer.open(ADDR);
  try {
    const lines = createInterface({ input: child.stdout! });
    const [line] = (await once(lines, 'line')) as [string];
    const rtpPort = Number(/^READY (\d+)$/.exec(line)![1]);
    peer.sendTone(sine(1000, 1), { to: { address: ADDR, port: rtpPort }, pt: 0 });
    await new Promise((r) => setTimeout(r, 3000));
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    const [, signal] = await exited;
    peer.stop();
    t.is(signal, 'SIGKILL');
    const buf = await readFile(path);
    const h = wavHeaderValid(buf);
    t.true(h.ok, JSON.stringify(h));
    const sentSamples = 3 * 8000;
    const wav = await readWav(path);
    t.log(`declared ${h.dataSize / 2} samples, file holds ${wav.dataBytes / 2}, sent ~${sentSamples}`);
    t.true(h.dataSize / 2 >= sentSamples - 8000 - 1600, 'at most ~1 s lost');
    const declared = wav.samples.subarray(0, h.dataSize / 2);
    t.true(hasTone(declared, 1000, 0.8), `1 kHz ratio ${toneRatio(declared, 1000)}`);
    t.true(lacksTone(declared, 440));
  } finally {
    peer.close();
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});

test.serial('recording an endpoint: close() finalizes the header', async (t) => {
  const engine = new MediaEngine({ address: ADDR, portMin: port(20), portMax: port(39) });
  const peer = await RtpPeer.open(ADDR);
  const dir = await tempDir('rec-');
  try {
    const ep = engine.createEndpoint({ codec: 'PCMA' });
    const rec = ep.record(`${dir}/a.wav`);
    peer.sendTone(sine(440, 1), { to: { address: ADDR, port: ep.port }, pt: 8 });
    await new Promise((r) => setTimeout(r, 1000));
    peer.stop();
    rec.close();
    rec.close();
    const [ev] = (await once(rec, 'end')) as [{ samples: number }];
    const buf = await readFile(`${dir}/a.wav`);
    t.true(wavHeaderValid(buf).ok);
    t.is(wavHeaderValid(buf).dataSize, ev.samples * 2);
    t.is((await stat(`${dir}/a.wav`)).size, 44 + ev.samples * 2);
    t.true(hasTone((await readWav(`${dir}/a.wav`)).samples, 440, 0.8));
  } finally {
    peer.close();
    engine.close();
  }
});

for (const format of ['ulaw-wav', 'alaw-wav', 's16-wav'] as const) {
  test.serial(`player: a ${format} prompt plays once to an endpoint, then 'end'`, async (t) => {
    const base = format === 'ulaw-wav' ? 40 : format === 'alaw-wav' ? 60 : 80;
    const engine = new MediaEngine({ address: ADDR, portMin: port(base), portMax: port(base + 19) });
    const peer = await RtpPeer.open(ADDR);
    try {
      const dir = await tempDir('play-');
      const wav = await soxTone(dir, { freq: 1700, seconds: 1, format });
      const ep = engine.createEndpoint({ codec: format === 'alaw-wav' ? 'PCMA' : 'PCMU' });
      ep.setRemote({ address: ADDR, port: peer.port });
      const player = ep.play({ wav: await readFile(wav) });
      const [ev] = await once(player, 'end');
      t.deepEqual(ev, { completed: true });
      const s = peer.samples;
      t.true(Math.abs(s.length - 8000) <= 160, `${s.length} samples played`);
      t.true(hasTone(s, 1700, 0.8), `ratio ${toneRatio(s, 1700)}`);
      t.true(lacksTone(s, 1000));
    } finally {
      peer.close();
      engine.close();
    }
  });
}

test.serial('player: a looped tone sequence (dual tone + silence) until closed', async (t) => {
  const engine = new MediaEngine({ address: ADDR, portMin: port(100), portMax: port(119) });
  const peer = await RtpPeer.open(ADDR);
  try {
    const ep = engine.createEndpoint();
    ep.setRemote({ address: ADDR, port: peer.port });
    // a ring-back-like cadence: 350+440 Hz for 400 ms, 200 ms silence
    const player = ep.play({ tones: [{ freqs: [350, 440], ms: 400, level: -10 }, { freqs: [], ms: 200 }] }, { loop: true });
    await new Promise((r) => setTimeout(r, 1500));
    const ended = once(player, 'end');
    player.close();
    const [ev] = await ended;
    t.deepEqual(ev, { completed: false });
    const s = peer.samples;
    t.true(s.length > 8000);
    t.true(hasTone(s, 350, 0.3) && hasTone(s, 440, 0.3));
    t.true(lacksTone(s, 1000));
    t.throws(() => ep.play({ tones: [{ freqs: [5000], ms: 10 }] }), { instanceOf: TypeError, message: /tones\[0\]\.freqs\[0\]/ });
  } finally {
    peer.close();
    engine.close();
  }
});

test.serial('recording keeps the timeline: lost packets become silence, duplicates are dropped', async (t) => {
  const engine = new MediaEngine({ address: ADDR, portMin: port(120), portMax: port(139) });
  const peer = await RtpPeer.open(ADDR);
  const dir = await tempDir('rec-gap-');
  try {
    const ep = engine.createEndpoint();
    const rec = ep.record(`${dir}/gaps.wav`);
    await new Promise((r) => setTimeout(r, 100));
    const tone = sine(1000, 1);
    for (let i = 0; i < 40; i++) {
      if (i % 10 === 5) continue; // lost
      const pkt = Buffer.alloc(12 + 160);
      pkt[0] = 0x80;
      pkt.writeUInt16BE(100 + i, 2);
      pkt.writeUInt32BE(5000 + i * 160, 4);
      pkt.writeUInt32BE(0x1234, 8);
      pkt.set(encodeUlaw(tone.subarray(i * 160, i * 160 + 160)), 12);
      peer.socket.send(pkt, ep.port, ADDR);
      if (i % 10 === 2) peer.socket.send(pkt, ep.port, ADDR); // duplicate
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 100));
    rec.close();
    await once(rec, 'end');
    const s = (await readWav(`${dir}/gaps.wav`)).samples;
    t.is(s.length, 40 * 160);
    for (let i = 0; i < 40; i++) {
      const level = rms(s.subarray(i * 160, i * 160 + 160));
      if (i % 10 === 5) t.is(level, 0, `frame ${i} is silence`);
      else t.true(level > 5000, `frame ${i} has the tone`);
    }
  } finally {
    peer.close();
    engine.close();
  }
});
