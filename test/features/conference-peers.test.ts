/**
 * Meet-me conference with real phones: three baresip phones, each sending its own tone as its
 * microphone and recording what it hears, dial 8001. One offers only PCMU, one only PCMA: the
 * room mixes both. Each must hear the two other tones and never its own.
 */
import test from 'ava';
import { lastHeard, startPhone, type Baresip } from '../helpers/baresip.js';
import { portBlock } from '../helpers/ports.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { bestRatio, findWindow, hasTone, lacksTone, rms, toneRatio } from '../helpers/tone.js';
import { sleep } from '../helpers/wait.js';

const port = portBlock(46);
/** The dial plan's meet-me short code, as config/default.yaml ships it. */
const phone = (node: TestServer, ext: string, n: number, freq: number, codecs: string, serverPort = port(0)): Promise<Baresip> =>
  startPhone({ dir: node.dir, ext, freq, codecs, listen: `127.0.0.${60 + n}:${port(100 + n)}`, ctrlPort: port(150 + n), server: `127.0.0.1:${serverPort}` });
const heard = lastHeard;
const MEET_ME_YAML = 'dialPlan: { shortCodes: [{ code: "80XX", feature: meetMe, number: "80N" }] }';

test('three phones (PCMU, PCMA, both) dial 8001: each hears the other two and not itself', async (t) => {
  const node = await startServer({ udp: port(0), yaml: MEET_ME_YAML });
  const spec = [
    { ext: '201', freq: 440, codecs: 'PCMU' },
    { ext: '202', freq: 1000, codecs: 'PCMA' },
    { ext: '203', freq: 1700, codecs: 'PCMU,PCMA' },
  ];
  const phones = await Promise.all(spec.map((s, i) => phone(node, s.ext, i + 1, s.freq, s.codecs)));
  try {
    for (const [i, p] of phones.entries()) {
      p.command('dial', `sip:8001@127.0.0.1:${port(0)}`);
      await p.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 15_000);
      await sleep(300);
    }
    const deadline = Date.now() + 5000;
    while ((node.server.status().conferences as { parties: number }).parties < 3 && Date.now() < deadline) await sleep(50);
    t.like(node.server.status().conferences, { conferences: 1, parties: 3, channelsInUse: 3, channels: 128 });
    t.deepEqual(node.server.engine!.endpoints.map((e) => e.codec).sort(), ['PCMA', 'PCMU', 'PCMU'], 'a PCMA leg and PCMU legs in one room');
    await sleep(3500);
    for (const p of phones) p.command('hangup');
    for (const p of phones) await p.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
    await sleep(500);
    const deadlineEnd = Date.now() + 3000;
    while ((node.server.status().conferences as { conferences: number }).conferences > 0 && Date.now() < deadlineEnd) await sleep(50);
    t.like(node.server.status().conferences, { conferences: 0, parties: 0, channelsInUse: 0 }, 'the last to leave ends the conference');

    for (const [i, p] of phones.entries()) {
      const s = await heard(p);
      // a 2.5 s stretch where this phone hears the other two and not itself, found by what the
      // recording holds rather than by the wall clock (see findWindow)
      const me = spec[i]!;
      const others = spec.filter((x) => x !== me);
      const at = findWindow(s, 20_000, (w) => others.every((o) => hasTone(w, o.freq, 0.2)) && lacksTone(w, me.freq, 0.02));
      const best = spec.map((x) => `${x.freq}:${bestRatio(s, x.freq, 20_000).toFixed(3)}`).join(' ');
      t.true(at >= 0, `${me.ext} hears the other two and not itself for 2.5 s (best ratios over ${(s.length / 8000).toFixed(1)} s: ${best})`);
    }
  } finally {
    await Promise.all(phones.map((p) => p.stop()));
    await node.close();
  }
});

/** The best ratio of `freq` over 200 ms windows of `s` between the two sample offsets. */
const peak = (s: Int16Array, freq: number, from: number, to: number): number => bestRatio(s.subarray(Math.max(0, from), Math.max(0, to)), freq, 1600, 400);

test('a lone participant hears that it is alone; then the entry tone when a second joins and the exit tone when it leaves', async (t) => {
  const node = await startServer({ udp: port(1), yaml: MEET_ME_YAML });
  const [a, b] = [await phone(node, '204', 4, 440, 'PCMU', port(1)), await phone(node, '205', 5, 1000, 'PCMU', port(1))];
  try {
    a.command('dial', `sip:8005@127.0.0.1:${port(1)}`);
    await a.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 15_000);
    const aAt = Date.now();
    await sleep(4000);
    b.command('dial', `sip:8005@127.0.0.1:${port(1)}`);
    await b.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 15_000);
    const bIn = Date.now();
    await sleep(2500);
    b.command('hangup');
    await b.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
    const bOut = Date.now();
    await sleep(2000);
    a.command('hangup');
    await a.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
    const s = await heard(a);
    const at = (ms: number) => Math.round(((ms - aAt) / 1000) * 8000);
    const alone = s.subarray(at(aAt + 300), at(aAt + 2300));
    t.true(rms(alone) > 200, `the alone prompt is heard (rms ${rms(alone).toFixed(0)})`);
    t.true(lacksTone(alone, 440, 0.02), 'not its own voice');
    const entry = peak(s, 523, at(bIn - 1500), at(bIn + 1500));
    const exit = peak(s, 784, at(bOut - 1500), at(bOut + 1500));
    const before = peak(s, 523, at(aAt + 300), at(bIn - 1500));
    t.log(`523 Hz peak while alone ${before.toFixed(3)}, at the join ${entry.toFixed(3)}; 784 Hz at the leave ${exit.toFixed(3)}`);
    // the entry tone (-18 dBFS, 120 ms + 160 ms) sounds together with the newcomer's own tone
    t.true(entry > 0.04 && entry > 3 * before, `entry tone (523 Hz) around the join: ${entry.toFixed(3)} (alone: ${before.toFixed(3)})`);
    t.true(exit > 0.3, `exit tone (784 Hz) around the leave: ${exit.toFixed(3)}`);
  } finally {
    await Promise.all([a, b].map((p) => p.stop()));
    await node.close();
  }
});
