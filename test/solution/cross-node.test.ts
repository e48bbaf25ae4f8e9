/**
 * Solution-wide numbering with a primary and an expansion in this process: forwarding and a
 * blind transfer to users of the other node, one meet-me room dialled from both nodes, and ARS
 * on the expansion going out through a line group of the primary (central trunks), with baresip
 * phones that send a tone and record what they hear, and sipp as the carrier.
 */
import test from 'ava';
import { portBlock } from '../helpers/ports.js';
import { lastHeard, startPhone, type Baresip } from '../helpers/baresip.js';
import { soxTone } from '../helpers/audio.js';
import { startSipp } from '../helpers/sipp.js';
import { scenario } from '../helpers/peers.js';
import { hasTone, lacksTone } from '../helpers/tone.js';
import { TestSolution } from '../helpers/solution.js';
import { sleep, until } from '../helpers/wait.js';

const port = portBlock(118);
const CARRIER = { ip: '127.16.8.70', port: port(1) };
const sol = new TestSolution(8, [
  { name: 'pri', role: 'primary', profile: 'DL360' },
  { name: 'exp1', role: 'expansion', profile: 'ExpansionL' },
], `bus: { heartbeatSeconds: 1, holdDownSeconds: 3 }
links: { keepaliveSeconds: 1 }
admin: { enabled: false }
media: { portMin: 42000, portMax: 42999 }
trunks:
  - { name: carrier, lineGroup: 1, type: peer, host: ${CARRIER.ip}, port: ${CARRIER.port}, keepaliveSeconds: 0 }
dialPlan:
  shortCodes:
    - { code: "9N", feature: dial, number: "N", lineGroup: 1 }
    - { code: "80XX", feature: meetMe, number: "80N" }
users:
  - { extension: "201", password: demo201 }
  - { extension: "202", password: demo202 }
  - { extension: "203", password: demo203, forward: { all: "301" } }
  - { extension: "301", password: demo301, node: exp1 }
  - { extension: "302", password: demo302, node: exp1 }
`);

let phoneSeq = 0;
const started: Baresip[] = [];
async function phone(ext: string, node: string, freq: number): Promise<Baresip> {
  const i = phoneSeq++;
  const p = await startPhone({ dir: sol.dir, ext, listen: `${sol.here}:${port(10 + 4 * i)}`, ctrlPort: port(120 + i), freq, server: `${sol.addr(node)}:5060`, answer: 'auto' });
  started.push(p);
  return p;
}
const logged = (node: string, re: RegExp) => () => sol.logs.get(node)!.records.some((r) => re.test(String(r.message)));
const idle = () => until('the calls are over on both nodes', () => sol.node('pri').calls.active === 0 && sol.node('exp1').calls.active === 0, 15_000);
const tail = (x: Int16Array, s = 2) => x.subarray(Math.max(0, x.length - 8000 * s));

test.before(async () => {
  await sol.start();
  await sol.linksUp();
});

test.afterEach.always(async () => {
  await Promise.all(started.splice(0).map((p) => p.stop()));
});

test.after.always(async () => {
  await sol.close();
});

test.serial("a user of the primary forwarding all calls to a user of the expansion: the caller reaches that user's phone", async (t) => {
  const a = await phone('202', 'pri', 1000);
  const c = await phone('301', 'exp1', 1700);
  a.command('dial', `sip:203@${sol.addr('pri')}:5060`);
  await c.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 15_000);
  await sleep(2500);
  a.command('hangup');
  await c.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
  await sleep(300);
  t.true(hasTone(await lastHeard(a), 1700, 0.3), '202 hears 301');
  t.true(hasTone(await lastHeard(c), 1000, 0.3), '301 hears 202');
  t.true(logged('pri', /203 forwards all calls to 301 on node exp1/)());
  await idle();
});

test.serial('a phone on the expansion transfers its caller to a user of the primary: the two hear each other', async (t) => {
  const a = await phone('201', 'pri', 1000);
  const b = await phone('301', 'exp1', 440);
  const c = await phone('202', 'pri', 1700);
  a.command('dial', `sip:301@${sol.addr('pri')}:5060`);
  await b.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 15_000);
  await sleep(1000);
  b.command('transfer', `sip:202@${sol.addr('exp1')}:5060`);
  await c.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 15_000);
  await until('the transfer to complete', logged('exp1', /transfer to 202 completed/));
  await b.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
  await sleep(3000);
  a.command('hangup');
  await c.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
  await sleep(300);
  const heardByA = tail(await lastHeard(a));
  t.true(hasTone(heardByA, 1700, 0.3), 'the transferee hears the transfer target');
  t.true(lacksTone(heardByA, 440, 0.05), 'and no longer the transferor');
  t.true(hasTone(tail(await lastHeard(c)), 1000, 0.3), 'the target hears the transferee');
  await idle();
});

test.serial('a meet-me room is one room for the whole solution: phones of both nodes meet in it', async (t) => {
  const a = await phone('201', 'pri', 1000);
  const b = await phone('302', 'exp1', 1700);
  a.command('dial', `sip:8042@${sol.addr('pri')}:5060`);
  await a.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 15_000);
  b.command('dial', `sip:8042@${sol.addr('exp1')}:5060`);
  await b.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 15_000);
  await until('both in room 8042 on the primary', () => sol.node('pri').conferences.room('8042')?.parties().length === 2);
  await sleep(3000);
  a.command('hangup');
  b.command('hangup');
  await sleep(300);
  t.true(hasTone(tail(await lastHeard(a)), 1700, 0.2), "201 hears the expansion's phone in the room");
  t.true(hasTone(tail(await lastHeard(b)), 1000, 0.2), "302 hears the primary's phone in the room");
  t.is(sol.node('exp1').conferences.status().conferences, 0, 'no room of its own on the expansion');
  await idle();
});

test.serial("ARS on the expansion goes out on a line group of the primary's trunks: the carrier answers and is heard", async (t) => {
  const tone = await soxTone(sol.dir, { freq: 1700, seconds: 30, format: 'ulaw-raw', name: 'carrier-1700' });
  const carrier = startSipp(['-sf', scenario('uas_play.xml'), '-i', CARRIER.ip, '-p', String(CARRIER.port), '-mi', CARRIER.ip, '-mp', String(port(2)),
    '-key', 'rtp_file', `${tone},-1,0`, '-m', '1'], { timeoutMs: 40_000, trace: true });
  try {
    const a = await phone('301', 'exp1', 1000);
    a.command('dial', `sip:9012345@${sol.addr('exp1')}:5060`);
    await a.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 15_000);
    await sleep(2500);
    a.command('hangup');
    const r = await carrier.done;
    t.regex(r.messages, /INVITE sip:012345@/, 'the carrier got the number after the 9');
    t.true(hasTone(tail(await lastHeard(a)), 1700, 0.3), 'the caller on the expansion hears the carrier');
    await idle();
    t.like(sol.node('pri').records.query({ number: '301' })[0], { callerNumber: '301', direction: 'outgoing' });
  } finally {
    await carrier.stop();
  }
});
