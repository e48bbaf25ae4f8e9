/**
 * Calls between extensions through the B2BUA, with real phones: baresip sends a tone as its
 * microphone and records what it hears, so each test checks that the right audio arrives.
 */
import test from 'ava';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { portBlock } from '../helpers/ports.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { Baresip, makeToneWav } from '../helpers/baresip.js';
import { readWav } from '../helpers/wav.js';
import { hasTone, lacksTone, toneRatio } from '../helpers/tone.js';
import { MOH_FREQUENCIES } from '../../src/features/calls/tones.js';
import { sleep } from '../helpers/wait.js';

const port = portBlock(7);

/** The recording of what `bs` heard in its last call. */
async function heard(bs: Baresip) {
  const dir = join(bs.dir, 'rec');
  const files = readdirSync(dir).filter((f) => f.endsWith('-dec.wav')).sort();
  if (!files.length) throw new Error(`no recording in ${dir}`);
  return (await readWav(join(dir, files[files.length - 1]))).samples;
}

test.serial('201 (1 kHz) calls 202 (440 Hz): each hears the other and not itself; a call record is written', async (t) => {
  const node = await startServer({ udp: port(0) });
  const a = await phoneAt(node, port(0), '201', 1, 1000);
  const b = await phoneAt(node, port(0), '202', 2, 440);
  try {
    a.command('dial', `sip:202@127.0.0.1:${port(0)}`);
    await a.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 15_000);
    await sleep(3000);
    t.is(node.server.calls.active, 1);
    t.like(node.server.status(), { calls: 1, registeredUsers: 2, media: { endpoints: 2 } }, 'the status an operator reads');
    a.command('hangup');
    await b.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
    await sleep(300);
    const aHeard = await heard(a);
    const bHeard = await heard(b);
    t.true(hasTone(aHeard, 440, 0.3, { skip: 4000 }), '201 hears 440 Hz');
    t.true(lacksTone(aHeard, 1000, 0.05, { skip: 4000 }), '201 does not hear itself');
    t.true(hasTone(bHeard, 1000, 0.3, { skip: 4000 }), '202 hears 1 kHz');
    t.true(lacksTone(bHeard, 440, 0.05, { skip: 4000 }), '202 does not hear itself');
    t.is(node.server.calls.active, 0);
    const records = node.server.records.query({});
    t.is(records.length, 1);
    t.like(records[0], { callerNumber: '201', calledNumber: '202', connectedNumber: '202', disposition: 'answered', direction: 'internal' });
    t.true(records[0].durationSec >= 2);
    t.deepEqual(records[0].legs.map((l) => l.role), ['caller', 'callee']);
  } finally {
    await a.stop();
    await b.stop();
    await node.close();
  }
});

test.serial('hold and resume: the held party hears music on hold, then the other party again', async (t) => {
  const node = await startServer({ udp: port(1) });
  const a = await phoneAt(node, port(1), '203', 3, 1000);
  const b = await phoneAt(node, port(1), '204', 4, 440);
  try {
    a.command('dial', `sip:204@127.0.0.1:${port(1)}`);
    await a.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 15_000);
    await sleep(1500);
    a.command('hold');
    await sleep(3000);
    a.command('resume');
    await sleep(2000);
    a.command('hangup');
    await b.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
    await sleep(300);
    const bHeard = await heard(b);
    t.true(node.logger.records.some((r) => r.message === 'call held'), 'the phone put the call on hold');
    // Half-second blocks: music (and not the caller) for a stretch, then the caller again.
    const blocks: { moh: number; caller: number }[] = [];
    for (let i = 0; i + 4000 <= bHeard.length; i += 4000) {
      const blk = bHeard.subarray(i, i + 4000);
      blocks.push({ moh: MOH_FREQUENCIES.reduce((sum, f) => sum + toneRatio(blk, f), 0), caller: toneRatio(blk, 1000) });
    }
    const held = (b: { moh: number; caller: number }) => b.moh > 0.3 && b.caller < 0.05;
    const firstHeld = blocks.findIndex((b, i) => held(b) && blocks[i + 1] && held(blocks[i + 1]) && blocks[i + 2] && held(blocks[i + 2]));
    t.true(firstHeld > 0, `music on hold, and not the holding party, heard while held: ${blocks.map((b) => `${b.moh.toFixed(2)}/${b.caller.toFixed(2)}`).join(' ')}`);
    t.true(blocks.slice(0, firstHeld).some((b) => b.caller > 0.5), 'the caller was heard before the hold');
    t.true(blocks.slice(firstHeld + 3).some((b) => b.caller > 0.5 && b.moh < 0.05), 'after resume the caller is heard again, without music');
  } finally {
    await a.stop();
    await b.stop();
    await node.close();
  }
});

async function phoneAt(node: TestServer, serverPort: number, ext: string, n: number, freq: number, answer: 'auto' | 'manual' = 'auto', codecs = 'PCMU,PCMA'): Promise<Baresip> {
  const wav = makeToneWav(join(node.dir, `tone-${ext}.wav`), freq, 60);
  const bs = await Baresip.start({
    listen: `127.0.0.${20 + n}:${port(100 + n)}`,
    ctrlPort: port(150 + n),
    source: wav,
    account: `<sip:${ext}@127.0.0.1:${serverPort}>;auth_pass=demo${ext};regint=600;answermode=${answer};audio_codecs=${codecs}`,
  });
  await bs.waitRegistered();
  return bs;
}

test.serial('the caller cancels before the answer: the callee stops ringing', async (t) => {
  const node = await startServer({ udp: port(2) });
  const a = await phoneAt(node, port(2), '205', 5, 1000);
  const b = await phoneAt(node, port(2), '206', 6, 440, 'manual');
  try {
    a.command('dial', `sip:206@127.0.0.1:${port(2)}`);
    await b.waitEvent((e) => e.type === 'CALL_INCOMING', 10_000);
    a.command('hangup');
    await b.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
    t.is(node.server.calls.active, 0);
    t.is(node.server.records.query({})[0]?.disposition, 'cancelled');
  } finally {
    await a.stop();
    await b.stop();
    await node.close();
  }
});

test.serial('direct media between two users who both allow it: the SDP goes end to end, no engine port is used', async (t) => {
  const users = [201, 202].map((e) => `  - { extension: "${e}", password: demo${e}, media: direct }`).join('\n');
  const node = await startServer({ udp: port(3), users });
  const a = await phoneAt(node, port(3), '201', 7, 1000);
  const b = await phoneAt(node, port(3), '202', 8, 440);
  try {
    a.command('dial', `sip:202@127.0.0.1:${port(3)}`);
    await a.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 15_000);
    await sleep(2500);
    t.is(node.server.calls.active, 1);
    t.is(node.server.engine!.endpoints.length, 0, 'no media port of ours in the call');
    a.command('hangup');
    await b.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
    await sleep(300);
    t.true(hasTone(await heard(a), 440, 0.3, { skip: 4000 }), '201 hears 202 directly');
    t.true(hasTone(await heard(b), 1000, 0.3, { skip: 4000 }), '202 hears 201 directly');
  } finally {
    await a.stop();
    await b.stop();
    await node.close();
  }
});

test.serial('blind transfer: 211 calls 212, 212 transfers it to 213; 211 and 213 then hear each other', async (t) => {
  const users = [211, 212, 213].map((e) => `  - { extension: "${e}", password: demo${e} }`).join('\n');
  const node = await startServer({ udp: port(4), users });
  const a = await phoneAt(node, port(4), '211', 9, 1000);
  const b = await phoneAt(node, port(4), '212', 10, 440);
  const c = await phoneAt(node, port(4), '213', 11, 1700);
  try {
    a.command('dial', `sip:212@127.0.0.1:${port(4)}`);
    await b.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 15_000);
    await sleep(1000);
    b.command('transfer', `sip:213@127.0.0.1:${port(4)}`);
    await c.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 15_000);
    await b.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
    await sleep(2500);
    a.command('hangup');
    await c.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
    await sleep(300);
    const aHeard = await heard(a);
    const tail = aHeard.subarray(aHeard.length - 8000 * 2);
    t.true(hasTone(tail, 1700, 0.3), '211 hears 213 at the end');
    t.true(lacksTone(tail, 440, 0.05), 'and no longer 212');
    t.true(hasTone(await heard(c), 1000, 0.3, { skip: 4000 }), '213 hears 211');
    t.true(node.logger.records.some((r) => /transfer to 213 completed/.test(String(r.message))));
    t.is(node.server.calls.active, 0);
    t.like(node.server.records.query({})[0], { callerNumber: '211', connectedNumber: '213', disposition: 'answered' });
  } finally {
    await a.stop();
    await b.stop();
    await c.stop();
    await node.close();
  }
});

test.serial('a PCMA-only phone calls a PCMU-only phone: the engine transcodes, each hears the other', async (t) => {
  const node = await startServer({ udp: port(5) });
  const a = await phoneAt(node, port(5), '201', 12, 1000, 'auto', 'PCMA');
  const b = await phoneAt(node, port(5), '202', 13, 440, 'auto', 'PCMU');
  try {
    a.command('dial', `sip:202@127.0.0.1:${port(5)}`);
    await a.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 15_000);
    await sleep(2500);
    const legs = node.server.engine!.endpoints.map((e) => e.codec).sort();
    t.deepEqual(legs, ['PCMA', 'PCMU'], 'one leg in each codec');
    a.command('hangup');
    await b.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
    await sleep(300);
    t.true(hasTone(await heard(a), 440, 0.3, { skip: 4000 }), 'the PCMA phone hears the PCMU phone');
    t.true(hasTone(await heard(b), 1000, 0.3, { skip: 4000 }), 'the PCMU phone hears the PCMA phone');
  } finally {
    await a.stop();
    await b.stop();
    await node.close();
  }
});
