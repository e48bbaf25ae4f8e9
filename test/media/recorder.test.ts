/**
 * Recorder and player: a recording survives SIGKILL of its process as a playable WAV holding the
 * tone; prompts (WAV in the three encodings) and tone sequences play to an endpoint with an end event.
 * Recorder events for voicemail (ports from block 15): 'silence' after silenceMs of silent frames or
 * lost packets, 'full' at maxMs, 'error' with ENOSPC on a full disk (a 64 KiB tmpfs) leaving a valid WAV.
 */
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdtempSync, rmdirSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { MediaEngine, type Endpoint } from '../../src/media/index.js';
import { soxTone, tempDir } from '../helpers/audio.js';
import { portBlock } from '../helpers/ports.js';
import { RtpPeer, sine } from '../helpers/rtp-peer.js';
import { hasTone, lacksTone, rms, toneRatio } from '../helpers/tone.js';
import { encodeUlaw } from '../../src/media/reference/g711.js';
import { readWav, wavHeaderValid } from '../helpers/wav.js';
import { sleep } from '../helpers/wait.js';

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

// ---- recorder events for voicemail: silence, full, error ----

const vm = portBlock(15);

/** Sends PCMU frames with consecutive seq/ts as fast as loopback takes them (the recorder keeps the RTP timeline, not the clock). */
async function blast(peer: RtpPeer, ep: Endpoint, pcm: Int16Array, o: { frames: number; seq?: number; ts?: number; ssrc?: number }): Promise<void> {
  const seq0 = o.seq ?? 1000;
  const ts0 = o.ts ?? 90_000;
  for (let i = 0; i < o.frames; i++) {
    const pkt = Buffer.alloc(12 + 160);
    pkt[0] = 0x80;
    pkt.writeUInt16BE((seq0 + i) & 0xffff, 2);
    pkt.writeUInt32BE((ts0 + i * 160) >>> 0, 4);
    pkt.writeUInt32BE(o.ssrc ?? 0x5151, 8);
    const at = (i * 160) % (pcm.length - 159);
    pkt.set(encodeUlaw(pcm.subarray(at, at + 160)), 12);
    peer.socket.send(pkt, ep.port, ADDR);
    if (i % 5 === 4) await sleep(2); // stay well inside the socket buffers (and a tick's reserve)
  }
}

/** Size check of a recording: header sizes match the data that is in the file, whole samples only. */
async function checkFile(path: string): Promise<{ ok: boolean; samples: number; fileSize: number }> {
  const buf = await readFile(path);
  const h = wavHeaderValid(buf);
  const ok = h.ok && h.fileSize === 44 + h.dataSize && h.dataSize % 2 === 0;
  return { ok, samples: h.dataSize / 2, fileSize: h.fileSize };
}

test.serial('record options are validated with a TypeError naming the field', (t) => {
  const engine = new MediaEngine({ address: ADDR, portMin: vm(0), portMax: vm(9) });
  try {
    const ep = engine.createEndpoint();
    t.throws(() => ep.record('/tmp/x.wav', { silenceMs: -1 }), { instanceOf: TypeError, message: /opts\.silenceMs/ });
    t.throws(() => ep.record('/tmp/x.wav', { silenceThreshold: Number.NaN }), { instanceOf: TypeError, message: /opts\.silenceThreshold/ });
    t.throws(() => ep.record('/tmp/x.wav', { maxMs: 1.5 }), { instanceOf: TypeError, message: /opts\.maxMs/ });
    t.throws(() => ep.record('/tmp/x.wav', 'long' as never), { instanceOf: TypeError, message: /opts/ });
    const conf = engine.createConference();
    t.throws(() => conf.record('/tmp/x.wav', { maxMs: 0 }), { instanceOf: TypeError, message: /opts\.maxMs/ });
  } finally {
    engine.close();
  }
});

test.serial("silence: tone then silence fires 'silence' after silenceMs of silence, not before, and again after more tone", async (t) => {
  const engine = new MediaEngine({ address: ADDR, portMin: vm(20), portMax: vm(39) });
  const peer = await RtpPeer.open(ADDR);
  const dir = await tempDir('rec-silence-');
  try {
    const ep = engine.createEndpoint();
    const rec = ep.record(`${dir}/s.wav`, { silenceMs: 1000 });
    const seen: { ms: number; at: number }[] = [];
    // A cycle of 1 s tone and 1.5 s of digital silence (mu-law 0xFF), looped.
    const pcm = new Int16Array(20_000);
    pcm.set(sine(1000, 1));
    const start = Date.now();
    rec.on('silence', ({ ms }) => seen.push({ ms, at: Date.now() - start }));
    peer.sendTone(pcm, { to: { address: ADDR, port: ep.port }, pt: 0 });
    await sleep(1850);
    t.is(seen.length, 0, 'nothing within the first second of silence');
    await sleep(3150); // t = 5 s: silence from 1-2.5 s and from 3.5-5 s
    peer.stop();
    rec.close();
    await once(rec, 'end');
    t.log('silence events', seen);
    t.is(seen.length, 2, JSON.stringify(seen));
    for (const e of seen) t.is(e.ms, 1000);
    t.true(seen[0]!.at >= 1900 && seen[0]!.at <= 2400, `first at ${seen[0]!.at} ms (tone ends at 1000)`);
    t.true(seen[1]!.at >= 4400 && seen[1]!.at <= 4900, `second at ${seen[1]!.at} ms (tone ends at 3500)`);
    const s = (await readWav(`${dir}/s.wav`)).samples;
    t.true(hasTone(s.subarray(0, 8000), 1000, 0.8), `1 kHz ratio ${toneRatio(s.subarray(0, 8000), 1000)}`);
    t.true(rms(s.subarray(8400, 19_600)) < 10, 'the silent part is silent');
  } finally {
    peer.close();
    engine.close();
  }
});

test.serial("silence: lost packets count as silence; a quiet frame below the threshold too", async (t) => {
  const engine = new MediaEngine({ address: ADDR, portMin: vm(40), portMax: vm(59) });
  const peer = await RtpPeer.open(ADDR);
  const dir = await tempDir('rec-silence-gap-');
  try {
    const ep = engine.createEndpoint();
    const rec = ep.record(`${dir}/g.wav`, { silenceMs: 500, silenceThreshold: 300 });
    const seen: number[] = [];
    rec.on('silence', ({ ms }) => seen.push(ms));
    await sleep(50);
    await blast(peer, ep, sine(1000, 1), { frames: 25 });
    await sleep(100);
    t.deepEqual(seen, []);
    // 20 frames lost (400 ms), then one quiet frame (RMS ~200 < 300): 420 ms, still short of 500.
    await blast(peer, ep, sine(1000, 1, 280), { frames: 1, seq: 1045, ts: 90_000 + 45 * 160 });
    await sleep(100);
    t.deepEqual(seen, []);
    // 4 more quiet frames: 500 ms.
    await blast(peer, ep, sine(1000, 1, 280), { frames: 4, seq: 1046, ts: 90_000 + 46 * 160 });
    await sleep(100);
    t.deepEqual(seen, [500]);
    rec.close();
    const [end] = (await once(rec, 'end')) as [{ samples: number }];
    t.is(end.samples, 50 * 160);
  } finally {
    peer.close();
    engine.close();
  }
});

test.serial("maxMs: 'full' fires once at the limit, the file stops there and its header is current", async (t) => {
  const engine = new MediaEngine({ address: ADDR, portMin: vm(60), portMax: vm(79) });
  const peer = await RtpPeer.open(ADDR);
  const dir = await tempDir('rec-full-');
  try {
    const ep = engine.createEndpoint();
    const path = `${dir}/f.wav`;
    const rec = ep.record(path, { maxMs: 1000 });
    const fulls: number[] = [];
    rec.on('full', ({ ms }) => fulls.push(ms));
    const start = Date.now();
    peer.sendTone(sine(1000, 1), { to: { address: ADDR, port: ep.port }, pt: 0 });
    const [ev] = (await once(rec, 'full')) as [{ ms: number }];
    const at = Date.now() - start;
    t.is(ev.ms, 1000);
    t.true(at >= 950 && at <= 1300, `full after ${at} ms`);
    const onFull = await checkFile(path);
    t.true(onFull.ok && onFull.samples === 8000, `on 'full': ${JSON.stringify(onFull)}`);
    await sleep(500);
    peer.stop();
    rec.close();
    const [end] = (await once(rec, 'end')) as [{ samples: number }];
    t.deepEqual(fulls, [1000]);
    t.is(end.samples, 8000);
    const after = await checkFile(path);
    t.true(after.ok && after.samples === 8000, JSON.stringify(after));
    t.true(hasTone((await readWav(path)).samples, 1000, 0.8));
  } finally {
    peer.close();
    engine.close();
  }
});

test.serial("maxMs on a conference mix: 'full' after maxMs of mixed audio", async (t) => {
  const engine = new MediaEngine({ address: ADDR, portMin: vm(80), portMax: vm(99) });
  const dir = await tempDir('rec-conf-full-');
  try {
    const conf = engine.createConference();
    conf.play({ tones: [{ freqs: [440], ms: 2000 }] });
    const rec = conf.record(`${dir}/c.wav`, { maxMs: 600 });
    const [ev] = (await once(rec, 'full')) as [{ ms: number }];
    t.is(ev.ms, 600);
    rec.close();
    const [end] = (await once(rec, 'end')) as [{ samples: number }];
    t.is(end.samples, 4800);
    t.true(hasTone((await readWav(`${dir}/c.wav`)).samples, 440, 0.8));
  } finally {
    engine.close();
  }
});

/** A 64 KiB tmpfs to fill (needs root); the reason when it cannot be had. Synchronous: ava wants tests declared at load. */
function smallDisk(): { dir: string } | { reason: string } {
  if (process.getuid?.() !== 0) return { reason: 'not root, cannot mount a tmpfs' };
  const dir = mkdtempSync(join(tmpdir(), 'rec-enospc-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { stdio: 'pipe' });
    return { dir };
  } catch (e) {
    rmdirSync(dir);
    return { reason: `mount -t tmpfs failed: ${String((e as { stderr?: Buffer }).stderr ?? e).trim()}` };
  }
}

const disk = smallDisk();
test.after.always(() => {
  if (!('dir' in disk)) return;
  try {
    execFileSync('umount', [disk.dir], { stdio: 'pipe' });
    rmdirSync(disk.dir);
  } catch {
    // left for the OS; nothing else uses it
  }
});

const diskTest = 'dir' in disk ? test.serial : test.serial.skip;
diskTest(`full disk: 'error' with ENOSPC, the file stays a valid WAV of what was written${'reason' in disk ? ` (skipped: ${disk.reason})` : ''}`, async (t) => {
  const dir = (disk as { dir: string }).dir;
  const engine = new MediaEngine({ address: ADDR, portMin: vm(100), portMax: vm(119) });
  const peer = await RtpPeer.open(ADDR);
  try {
    const ep = engine.createEndpoint();
    const path = `${dir}/full.wav`;
    const rec = ep.record(path);
    const errors: { errno: number; message: string }[] = [];
    rec.on('error', (e) => errors.push(e));
    const failed = once(rec, 'error');
    await sleep(50);
    // 64 KiB hold ~4 s of 16-bit audio: 5 s of tone overflows it.
    await blast(peer, ep, sine(1000, 1), { frames: 250 });
    const [err] = (await Promise.race([failed, sleep(3000).then(() => [undefined])])) as [{ errno: number; message: string } | undefined];
    t.truthy(err, "'error' fired");
    t.is(err?.message, 'ENOSPC');
    t.is(err?.errno, constants.errno.ENOSPC);
    const onError = await checkFile(path);
    t.log('on error', onError);
    t.true(onError.ok, JSON.stringify(onError));
    t.true(onError.samples > 8000, 'more than a second made it to the disk');
    await blast(peer, ep, sine(1000, 1), { frames: 20, seq: 1250, ts: 90_000 + 250 * 160 }); // ignored now
    await sleep(100);
    rec.close();
    const [end] = (await once(rec, 'end')) as [{ samples: number }];
    t.is(errors.length, 1, 'one error event');
    const after = await checkFile(path);
    t.true(after.ok, JSON.stringify(after));
    t.is(end.samples, after.samples);
    t.is(after.samples, onError.samples, 'nothing written after the error');
    const wav = await readWav(path);
    t.true(hasTone(wav.samples, 1000, 0.8), `1 kHz ratio ${toneRatio(wav.samples, 1000)}`);
  } finally {
    peer.close();
    engine.close();
  }
});
