/**
 * Meet-me conferences driven by sipp callers: a PIN room (RFC 4733 digits), a room of 64
 * parties and the 65th refused, and the node's conference channel limit.
 */
import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ulawSilence } from '../helpers/audio.js';
import { portBlock } from '../helpers/ports.js';
import { runSipp, startSipp } from '../helpers/sipp.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { scenario } from '../helpers/peers.js';
import { eventually, sleep } from '../helpers/wait.js';

const port = portBlock(47);
const HOLD = scenario('uac_conf_hold.xml');
const PIN = scenario('uac_conf_pin.xml');
// one user (201) holds many parties here: the per-user call limit is lifted
const MEET_ME = 'dialPlan: { shortCodes: [{ code: "80XX", feature: meetMe, number: "80N" }] }\ncalls: { maxCallsPerUser: 200 }';

/** Final responses to our INVITEs (the 407 challenge left out), from a sipp message trace. */
const finals = (trace: string) => [...trace.matchAll(/^SIP\/2\.0 ([2-6]\d\d) (.*)$/gm)].filter((m) => m[1] !== '407').map((m) => `${m[1]} ${m[2]!.trim()}`);

function conf(node: TestServer): { conferences: number; parties: number; channelsInUse: number; channels: number } {
  return node.server.status().conferences as never;
}

/** Sipp callers holding `calls` calls to `room` for holdMs (caller 201 for all: one user may make many calls). */
function hold(node: TestServer, room: string, calls: number, localPort: number, holdMs: number, trace = false) {
  return startSipp([`127.0.0.1:${node.config.sip.listen[0]!.port}`, '-sf', HOLD, '-s', room, '-au', '201', '-ap', 'demo201',
    '-key', 'caller', '201', '-key', 'codec_pt', '0', '-key', 'codec', 'PCMU', '-key', 'rtp_file', `${ulawSilence(node.dir)},-1,0`,
    '-d', String(holdMs), '-i', '127.0.0.1', '-p', String(localPort), '-mi', '127.0.0.1', '-mp', String(localPort + 2),
    '-r', '100', '-l', String(calls), '-m', String(calls)], { timeoutMs: holdMs + 20_000, trace });
}

/** The PIN scenario with the server's BYE awaited (byeExpected) or not (the caller hangs up after 3 s). */
function pinScenario(dir: string, byeExpected: boolean): string {
  const path = join(dir, byeExpected ? 'pin_bye.xml' : 'pin_hold.xml');
  const text = readFileSync(PIN, 'utf8')
    .replace('timeout="BYE_WAIT"', `timeout="${byeExpected ? 15000 : 3000}"`)
    .replace(' ONTIMEOUT/>', byeExpected ? '/>' : ' ontimeout="hangup"/>');
  writeFileSync(path, text);
  return path;
}

test.serial('PIN room: three wrong PINs get the caller a BYE; the right PIN joins', async (t) => {
  const node = await startServer({ udp: port(0), yaml: `${MEET_ME}\nconference: { rooms: [{ id: "8050", pin: "4321" }] }` });
  const args = (scenario: string, dtmf: string, p: number) => [`127.0.0.1:${port(0)}`, '-sf', scenario, '-s', '8050', '-au', '202', '-ap', 'demo202',
    '-key', 'caller', '202', '-key', 'codec_pt', '8', '-key', 'codec', 'PCMA', '-key', 'dtmf', dtmf,
    '-i', '127.0.0.1', '-p', String(p), '-mi', '127.0.0.1', '-mp', String(p + 2), '-m', '1'];
  try {
    const started = Date.now();
    const wrong = await runSipp(args(pinScenario(node.dir, true), '1#22#4320#', port(10)), { timeoutMs: 25_000, trace: true });
    t.is(wrong.code, 0, `the server hung up the caller (BYE received): ${wrong.stderr.slice(-500)}`);
    t.regex(wrong.messages, /^BYE sip:/m, 'a BYE from the server is in the trace');
    t.true(Date.now() - started > 2500, 'not before "that PIN is not right" and "goodbye" played');
    t.is(conf(node).parties, 0, 'never joined');

    let joined = 0;
    const sampler = setInterval(() => (joined = Math.max(joined, conf(node).parties)), 50);
    const right = await runSipp(args(pinScenario(node.dir, false), '4321#', port(20)), { timeoutMs: 20_000, trace: true });
    clearInterval(sampler);
    t.is(right.code, 0, right.stderr.slice(-500));
    t.is(joined, 1, 'the right PIN joined the room');
    t.is((right.messages.match(/^BYE sip:/gm) ?? []).length, 1, 'only our own BYE: the server kept the call');
    t.true(await eventually(() => conf(node).conferences === 0, 2000), 'the room ended with its only party');
  } finally {
    await node.close();
  }
});

test.serial('64 parties in one room; the 65th gets 486 with the reason; channels back to 0 after', async (t) => {
  const node = await startServer({ udp: port(40), yaml: MEET_ME });
  try {
    const many = hold(node, '8001', 64, port(50), 6000);
    t.true(await eventually(() => conf(node).parties === 64, 8000), `64 joined: ${JSON.stringify(conf(node))}`);
    t.like(conf(node), { conferences: 1, parties: 64, channelsInUse: 64, channels: 128 });
    const extra = await runSipp([`127.0.0.1:${port(40)}`, '-sf', HOLD, '-s', '8001', '-au', '203', '-ap', 'demo203',
      '-key', 'caller', '203', '-key', 'codec_pt', '0', '-key', 'codec', 'PCMU', '-key', 'rtp_file', `${ulawSilence(node.dir)},-1,0`,
      '-d', '500', '-i', '127.0.0.1', '-p', String(port(60)), '-mi', '127.0.0.1', '-mp', String(port(62)), '-m', '1'], { timeoutMs: 10_000, trace: true });
    t.deepEqual(finals(extra.messages), ['486 Busy Here (conference 8001 is full: 64 parties)']);
    t.is(conf(node).parties, 64, 'the refused party took no channel');
    const r = await many.done;
    t.is(r.code, 0, r.stderr.slice(-500));
    t.true(await eventually(() => conf(node).conferences === 0, 3000));
    t.like(conf(node), { parties: 0, channelsInUse: 0 });
    t.is(node.server.engine!.endpoints.length, 0, 'no media port left allocated');
  } finally {
    await node.close();
  }
});

test.serial('node channel limit: with 3 conference channels, a party for another room gets 503 with Retry-After', async (t) => {
  const node = await startServer({ udp: port(80), yaml: `${MEET_ME}\nconference: { maxChannels: 3 }` });
  try {
    const three = hold(node, '8001', 3, port(90), 3000);
    t.true(await eventually(() => conf(node).parties === 3, 6000));
    t.like(conf(node), { channelsInUse: 3, channels: 3 });
    const other = await runSipp([`127.0.0.1:${port(80)}`, '-sf', HOLD, '-s', '8002', '-au', '204', '-ap', 'demo204',
      '-key', 'caller', '204', '-key', 'codec_pt', '0', '-key', 'codec', 'PCMU', '-key', 'rtp_file', `${ulawSilence(node.dir)},-1,0`,
      '-d', '500', '-i', '127.0.0.1', '-p', String(port(100)), '-mi', '127.0.0.1', '-mp', String(port(102)), '-m', '1'], { timeoutMs: 10_000, trace: true });
    t.deepEqual(finals(other.messages), ['503 Service Unavailable (all 3 conference channels of this node in use)']);
    t.regex(other.messages, /^Retry-After: 30/im);
    t.is((await three.done).code, 0);
  } finally {
    await node.close();
  }
});
