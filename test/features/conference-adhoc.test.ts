/**
 * Ad-hoc conference: A (201) calls B and C on two lines (sipp), then dials *47 from a third
 * line (baresip): B and C move into a conference with A's new call. B (1000 Hz) and C (1700 Hz)
 * are baresip phones that answer by themselves; A's seat sends 440 Hz. Everyone hears the two
 * others and not itself; B hangs up and A and C still hear each other; C hangs up and the
 * server drops A.
 */
import test from 'ava';
import { lastHeard, startPhone, type Baresip } from '../helpers/baresip.js';
import { portBlock } from '../helpers/ports.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { startSipp } from '../helpers/sipp.js';
import { ulawSilence } from '../helpers/audio.js';
import { bestRatio, findWindow, hasTone, lacksTone } from '../helpers/tone.js';
import { scenario } from '../helpers/peers.js';
import { eventually, sleep } from '../helpers/wait.js';

const port = portBlock(48);
const UNTIL_BYE = scenario('uac_until_bye.xml');
const FOCUS = scenario('uac_focus.xml');

const phone = (node: TestServer, ext: string, n: number, freq: number, answer: 'auto' | 'manual', serverPort = port(0)): Promise<Baresip> =>
  startPhone({ dir: node.dir, ext, freq, answer, listen: `127.0.0.${70 + n}:${port(100 + n)}`, ctrlPort: port(150 + n), server: `127.0.0.1:${serverPort}` });
const heard = lastHeard;

const parties = (node: TestServer) => (node.server.status().conferences as { parties: number }).parties;

test.serial('A calls B and C, dials *47: all three hear each other; B leaves, A and C go on; C leaves, A is dropped', async (t) => {
  const node = await startServer({ udp: port(0) });
  const b = await phone(node, '202', 1, 1000, 'auto');
  const c = await phone(node, '203', 2, 1700, 'auto');
  const seat = await phone(node, '201', 3, 440, 'manual');
  const silence = `${ulawSilence(node.dir)},-1,0`;
  const line = (callee: string, p: number) => startSipp([`127.0.0.1:${port(0)}`, '-sf', UNTIL_BYE, '-s', callee, '-au', '201', '-ap', 'demo201',
    '-key', 'caller', '201', '-key', 'rtp_file', silence, '-i', '127.0.0.1', '-p', String(p), '-mi', '127.0.0.1', '-mp', String(p + 10), '-m', '1'],
  { timeoutMs: 60_000, trace: true });
  try {
    const l1 = line('202', port(10));
    await b.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 15_000);
    const l2 = line('203', port(30));
    await c.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 15_000);
    t.is(node.server.calls.active, 2);

    seat.command('dial', `sip:*47@127.0.0.1:${port(0)}`);
    await seat.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 15_000);
    t.true(await eventually(() => parties(node) === 3, 5000), `three parties in the conference (${parties(node)})`);
    t.is(node.server.calls.active, 0, 'the two calls became the conference');
    t.is((await l1.done).code, 0, "A's first line got BYE");
    t.is((await l2.done).code, 0, "A's second line got BYE");
    t.like(node.server.status().conferences, { conferences: 1 });
    t.regex(String((node.server.status().conferences as { rooms: { id: string }[] }).rooms[0]!.id), /^1[0-9]{2,}$/, 'an ad-hoc ID from 100 up');

    await sleep(3500);
    b.command('hangup');
    await b.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
    t.true(await eventually(() => parties(node) === 2, 3000), 'B left; A and C remain');
    await sleep(3000);
    t.is(parties(node), 2, 'A and C are still connected');
    c.command('hangup');
    await c.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
    await seat.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
    t.pass('C left and the server dropped A');
    t.true(await eventually(() => parties(node) === 0, 3000));

    // Each recording's timeline is found by what it holds, not by the wall clock (see findWindow):
    // a 2.5 s stretch where each hears the other two and not itself, then, in A's and C's, a 2 s
    // stretch after it where B is gone from the mix.
    const spec = [
      { who: 'A', bs: seat, freq: 440 },
      { who: 'B', bs: b, freq: 1000 },
      { who: 'C', bs: c, freq: 1700 },
    ];
    const rec = new Map<string, Int16Array>();
    for (const p of spec) rec.set(p.who, await heard(p.bs));
    const threeParty = new Map<string, number>();
    for (const me of spec) {
      const s = rec.get(me.who)!;
      const others = spec.filter((x) => x !== me);
      const at = findWindow(s, 20_000, (w) => others.every((o) => hasTone(w, o.freq, 0.2)) && lacksTone(w, me.freq, 0.02));
      threeParty.set(me.who, at);
      const best = spec.map((x) => `${x.freq}:${bestRatio(s, x.freq, 20_000).toFixed(3)}`).join(' ');
      t.true(at >= 0, `${me.who} hears the other two and not itself for 2.5 s (best ratios over ${(s.length / 8000).toFixed(1)} s: ${best})`);
    }
    const twoParty = (who: string, hears: number, gone: number) => {
      const s = rec.get(who)!;
      return findWindow(s, 16_000, (w) => hasTone(w, hears, 0.3) && lacksTone(w, gone, 0.02), { from: threeParty.get(who)! + 20_000 });
    };
    t.true(twoParty('A', 1700, 1000) >= 0, 'after B left, A hears C and no longer B');
    t.true(twoParty('C', 440, 1000) >= 0, 'after B left, C hears A and no longer B');
  } finally {
    await Promise.all([b, c, seat].map((p) => p.stop()));
    await node.close();
  }
});

test.serial('*47 with no answered call is refused and leaves nothing behind', async (t) => {
  const node = await startServer({ udp: port(1) });
  const seat = await phone(node, '204', 4, 440, 'manual', port(1));
  try {
    seat.command('dial', `sip:*47@127.0.0.1:${port(1)}`);
    const e = await seat.waitEvent((ev) => ev.type === 'CALL_CLOSED', 10_000);
    t.regex(JSON.stringify(e), /403/);
    t.like(node.server.status().conferences, { conferences: 0, parties: 0 });
    t.is(node.server.engine!.endpoints.length, 0);
  } finally {
    await seat.stop();
    await node.close();
  }
});

test.serial('RFC 4579: A calls B and C, INVITEs the conference factory, REFERs the focus to both calls; the three are in one conference', async (t) => {
  const node = await startServer({ udp: port(2) });
  const b = await phone(node, '202', 5, 1000, 'auto', port(2));
  const c = await phone(node, '203', 6, 1700, 'auto', port(2));
  const silence = `${ulawSilence(node.dir)},-1,0`;
  const base = ['-au', '201', '-ap', 'demo201', '-key', 'caller', '201', '-key', 'rtp_file', silence];
  const line = (callee: string, p: number) => startSipp([`127.0.0.1:${port(2)}`, '-sf', UNTIL_BYE, '-s', callee, ...base,
    '-i', '127.0.0.1', '-p', String(p), '-mi', '127.0.0.1', '-mp', String(p + 10), '-m', '1'], { timeoutMs: 60_000 });
  try {
    const l1 = line('202', port(50));
    await b.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 15_000);
    const l2 = line('203', port(70));
    await c.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 15_000);
    // what A's phone would put in Replaces: its dialog of each call (to-tag ours, from-tag its own)
    const dialogs = node.server.calls.dialogsOf('201');
    t.is(dialogs.length, 2);
    const replaces = dialogs.map((d) => encodeURIComponent(`${d.callId};to-tag=${d.localTag};from-tag=${d.remoteTag}`));
    const focus = startSipp([`127.0.0.1:${port(2)}`, '-sf', FOCUS, '-s', 'conference', ...base,
      '-key', 'r1_user', '202', '-key', 'r1', replaces[0]!, '-key', 'r2_user', '203', '-key', 'r2', replaces[1]!, '-d', '3000',
      '-i', '127.0.0.1', '-p', String(port(90)), '-mi', '127.0.0.1', '-mp', String(port(91)), '-m', '1'], { timeoutMs: 30_000, trace: true });
    t.true(await eventually(() => parties(node) === 3, 8000), `three parties (${parties(node)})`);
    t.is(node.server.calls.active, 0, 'both calls became the conference');
    t.is((await l1.done).code, 0, "A's first line got BYE");
    t.is((await l2.done).code, 0, "A's second line got BYE");
    const f = await focus.done;
    t.is(f.code, 0, 'the focus answered, accepted both REFERs and NOTIFYed');
    t.regex(f.messages, /Contact: <sip:1[0-9]{2,}@[^>]+>;isfocus/, 'the focus URI is the ad-hoc conference');
    t.regex(f.messages, /message\/sipfrag[\s\S]*SIP\/2\.0 200 OK/);
    // A hung up: B and C go on together; B leaves, and C, the last, is dropped
    t.true(await eventually(() => parties(node) === 2, 3000));
    b.command('hangup');
    await c.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
    t.true(await eventually(() => parties(node) === 0, 3000));
  } finally {
    await Promise.all([b, c].map((p) => p.stop()));
    await node.close();
  }
});
