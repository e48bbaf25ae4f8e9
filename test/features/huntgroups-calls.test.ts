/**
 * Hunt groups through real SIP (issue 8): sipp phones register as the members and answer,
 * refuse or ring; sipp callers dial the group's number. Shown here: the member order of the
 * ring modes over several calls (sequential, rotary, longest waiting, collective), night
 * service switched by feature code from a member's phone, and log-out / log-in by feature code.
 * The queue, overflow and voicemail answer time are in huntgroups-queue.test.ts.
 */
import test from 'ava';
import { join } from 'node:path';
import { ulawSilence } from '../helpers/audio.js';
import { portBlock } from '../helpers/ports.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { callIdOf, runSipp, startSipp, SCENARIOS, traced, uasStatusScenario, type SippResult, type SippRun } from '../helpers/sipp.js';
import { scenario } from '../helpers/peers.js';
import { sleep, until } from '../helpers/wait.js';

const port = portBlock(25);
const DIAL = scenario('uac_dial.xml');
const FEATURE = scenario('uac_feature.xml');
const REG = scenario('register_keys.xml');
const RING = scenario('uas_ring.xml');
const LATE = scenario('uas_answer_late_hunt.xml');
const ANSWER = join(SCENARIOS, 'uas_answer.xml');
/** Each member's phone has its own SIP port (media on the port + 4); callers and feature calls use the ports after them. */
const at = (ext: string) => port((Number(ext) - 210) * 8);
const CALLER_A = port(160);
const CALLER_B = port(168);
const FEATURES = port(176);

const USERS = Array.from({ length: 30 }, (_, i) => `  - { extension: "${201 + i}", password: demo${201 + i} }`).join('\n');

// every group: no queue and no voicemail answer time, so a call nobody takes ends at once
// (in the group's mailbox) instead of waiting; each test has its own group and members
const GROUPS = `
huntGroups:
  - { extension: "300", ringMode: sequential, members: ["211", "212", "213"], noAnswerSeconds: 5, voicemailAnswerSeconds: null, queue: { enabled: false } }
  - { extension: "301", ringMode: rotary, members: ["214", "215", "216"], noAnswerSeconds: 5, voicemailAnswerSeconds: null, queue: { enabled: false } }
  - { extension: "302", ringMode: longestWaiting, members: ["217", "218", "219"], noAnswerSeconds: 5, voicemailAnswerSeconds: null, queue: { enabled: false } }
  - { extension: "303", ringMode: collective, members: ["220", "221", "222"], noAnswerSeconds: 20, voicemailAnswerSeconds: null, queue: { enabled: false } }
  - { extension: "304", ringMode: sequential, members: ["223"], voicemailAnswerSeconds: null, queue: { enabled: false }, service: { nightFallback: "224" } }
  - { extension: "305", ringMode: sequential, members: ["225", "226"], noAnswerSeconds: 5, voicemailAnswerSeconds: null, queue: { enabled: false } }
`;

let node: TestServer;
test.before(async () => {
  node = await startServer({ udp: port(0), users: USERS, yaml: GROUPS });
});
test.after.always(() => node?.close());

async function register(ext: string, localPort: number): Promise<void> {
  const r = await runSipp([`127.0.0.1:${port(0)}`, '-sf', REG, '-s', ext, '-au', ext, '-ap', `demo${ext}`,
    '-key', 'contact', `<sip:${ext}@127.0.0.1:${localPort}>`, '-key', 'expires', '300', '-key', 'extra', 'X-Test: 1',
    '-i', '127.0.0.1', '-p', String(localPort), '-m', '1'], { timeoutMs: 10_000 });
  if (r.code !== 0) throw new Error(`sipp ${ext} did not register: ${r.stderr.slice(-500)}`);
}

/** A member's phone: registered at 127.0.0.1:localPort, running `scenarioPath` for `calls` calls (media on localPort + 4). */
async function phone(ext: string, localPort: number, scenarioPath: string, calls: number, extra: string[] = []): Promise<SippRun> {
  await register(ext, localPort);
  const run = startSipp(['-sf', scenarioPath, ...extra, '-i', '127.0.0.1', '-p', String(localPort), '-mi', '127.0.0.1',
    '-mp', String(localPort + 4), '-m', String(calls)], { timeoutMs: 90_000, trace: true });
  await sleep(300);
  return run;
}

/** `caller` dials `number` from 127.0.0.1:localPort; answered, it talks talkMs and hangs up. */
function dial(caller: string, number: string, localPort: number, talkMs = 300): Promise<SippResult> {
  return runSipp([`127.0.0.1:${port(0)}`, '-sf', DIAL, '-s', number, '-au', caller, '-ap', `demo${caller}`,
    '-key', 'caller', caller, '-key', 'rtp_file', `${ulawSilence(node.dir)},-1,0`, '-d', String(talkMs),
    '-i', '127.0.0.1', '-p', String(localPort), '-mi', '127.0.0.1', '-mp', String(localPort + 4), '-m', '1'], { timeoutMs: 30_000, trace: true });
}

/** `user` dials a feature code; the PBX answers, beeps and hangs up. */
function feature(user: string, code: string, localPort: number): Promise<SippResult> {
  return runSipp([`127.0.0.1:${port(0)}`, '-sf', FEATURE, '-s', code, '-au', user, '-ap', `demo${user}`,
    '-key', 'caller', user, '-key', 'codec_pt', '0', '-key', 'codec', 'PCMU',
    '-i', '127.0.0.1', '-p', String(localPort), '-mi', '127.0.0.1', '-mp', String(localPort + 4), '-m', '1'], { timeoutMs: 20_000, trace: true });
}

/** When each new INVITE arrived (retransmissions left out). */
function invitesAt(trace: string): number[] {
  const seen = new Set<string>();
  const out: number[] = [];
  for (const m of traced(trace)) {
    if (!m.received || !/^INVITE /.test(m.text)) continue;
    const id = callIdOf(m.text);
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(m.at);
  }
  return out;
}

/** Calls to `group` in the order they started: who answered each. */
function answeredBy(group: string): (string | undefined)[] {
  return node.server.records.query({ number: group }).filter((r) => r.calledNumber === group).reverse().map((r) => r.connectedNumber);
}

const recentLog = () => JSON.stringify(node.logger.records.slice(-20).map((x) => x.message));
const why = (r: SippResult) => `${r.stderr.slice(-500)}${r.messages.slice(-2000)}${recentLog()}`;

test.serial('sequential: every call starts at the top; a member answering 486 passes the call on at once', async (t) => {
  const busy = await phone('211', at('211'), uasStatusScenario(node.dir, 486, 'Busy Here'), 3);
  const second = await phone('212', at('212'), ANSWER, 3);
  const third = await phone('213', at('213'), ANSWER, 3);
  let thirdTrace: SippResult | undefined;
  try {
    for (let i = 0; i < 3; i++) {
      const r = await dial('201', '300', CALLER_A);
      t.is(r.code, 0, `call ${i + 1} answered ${why(r)}`);
    }
    t.is((await busy.done).code, 0, '211 was offered all three calls and refused each');
    t.is((await second.done).code, 0, '212 answered all three calls');
  } finally {
    await busy.stop();
    await second.stop();
    thirdTrace = await third.stop();
  }
  t.deepEqual(answeredBy('300'), ['212', '212', '212'], 'always the first member able to take it: never rotated on to 213');
  t.is(invitesAt(thirdTrace.messages).length, 0, '213 never rang');
  // 211 is offered every call first, 212 right after it
  const a = invitesAt((await busy.done).messages);
  const b = invitesAt((await second.done).messages);
  const order = [...a.map((at) => ({ at, who: '211' })), ...b.map((at) => ({ at, who: '212' }))].sort((x, y) => x.at - y.at).map((x) => x.who);
  t.deepEqual(order, ['211', '212', '211', '212', '211', '212']);
  for (let i = 0; i < 3; i++) t.true(b[i]! - a[i]! < 3000, `call ${i + 1}: 212 rang ${b[i]! - a[i]!} ms after 211, not after the 5 s no-answer time`);
});

test.serial('rotary: each call is offered first to the member after the one offered the previous call', async (t) => {
  const phones = [await phone('214', at('214'), ANSWER, 2), await phone('215', at('215'), ANSWER, 1), await phone('216', at('216'), ANSWER, 1)];
  try {
    for (let i = 0; i < 4; i++) {
      const r = await dial('202', '301', CALLER_A);
      t.is(r.code, 0, `call ${i + 1} answered ${why(r)}`);
    }
    for (const p of phones) t.is((await p.done).code, 0);
  } finally {
    for (const p of phones) await p.stop();
  }
  t.deepEqual(answeredBy('301'), ['214', '215', '216', '214'], 'round the list, wrapping to the top');
  const rang = await Promise.all(phones.map(async (p) => invitesAt((await p.done).messages).length));
  t.deepEqual(rang, [2, 1, 1], 'each call rang only the member whose turn it was');
});

test.serial('longest waiting: the member idle longest is offered the call first', async (t) => {
  const phones = [await phone('217', at('217'), ANSWER, 2), await phone('218', at('218'), ANSWER, 2), await phone('219', at('219'), ANSWER, 2)];
  try {
    // 217 takes a long call; 218 and 219 take short ones meanwhile and are idle again before 217
    const long = dial('203', '302', CALLER_B, 8000);
    await until('217 answering the first call', () => node.server.calls.answeredCallsOf('217').length === 1);
    t.is((await dial('204', '302', CALLER_A)).code, 0);
    t.is((await dial('204', '302', CALLER_A)).code, 0);
    t.is(node.server.calls.answeredCallsOf('217').length, 1, 'precondition: 217 still on its long call');
    const first = await long;
    t.is(first.code, 0, why(first));
    // now idle longest: 218, then 219, then 217 (which just hung up)
    for (let i = 0; i < 3; i++) {
      const r = await dial('204', '302', CALLER_A);
      t.is(r.code, 0, `call ${i + 4} answered ${why(r)}`);
    }
    for (const p of phones) t.is((await p.done).code, 0);
  } finally {
    for (const p of phones) await p.stop();
  }
  // rotary would give 217, 218, 219, 217...; sequential 217, 218, 218, 217...
  t.deepEqual(answeredBy('302'), ['217', '218', '219', '218', '219', '217']);
  const rang = await Promise.all(phones.map(async (p) => invitesAt((await p.done).messages).length));
  t.deepEqual(rang, [2, 2, 2], 'nobody was offered a call only to be skipped');
});

test.serial('collective: every member rings at once; when one answers the others get CANCEL', async (t) => {
  const answers = await phone('220', at('220'), LATE, 1, ['-d', '1500']);
  const ringing = [await phone('221', at('221'), RING, 1), await phone('222', at('222'), RING, 1)];
  try {
    const r = await dial('205', '303', CALLER_A);
    t.is(r.code, 0, why(r));
    t.is((await answers.done).code, 0);
    for (const p of ringing) t.is((await p.done).code, 0, 'CANCEL answered 200, INVITE 487, ACK taken');
  } finally {
    await answers.stop();
    for (const p of ringing) await p.stop();
  }
  t.deepEqual(answeredBy('303'), ['220']);
  const traces = await Promise.all([answers, ...ringing].map(async (p) => (await p.done).messages));
  const invites = traces.map((m) => invitesAt(m));
  t.deepEqual(invites.map((i) => i.length), [1, 1, 1], 'each member rang once');
  const times = invites.map((i) => i[0]!);
  t.true(Math.max(...times) - Math.min(...times) < 500, `all three INVITEs together (spread ${Math.max(...times) - Math.min(...times)} ms)`);
  for (const m of traces.slice(1)) {
    const cancel = traced(m).find((x) => x.received && /^CANCEL /.test(x.text));
    t.truthy(cancel, 'the member still ringing got CANCEL');
    t.true(cancel!.at - times[0]! >= 1200, 'they rang until 220 answered');
  }
});

test.serial('night service: *57*N from a member sends calls to the night fallback, *58*N brings them back', async (t) => {
  const member = await phone('223', at('223'), ANSWER, 1);
  const fallback = await phone('224', at('224'), ANSWER, 1);
  try {
    const on = await feature('223', '*57*304', FEATURES);
    t.is(on.code, 0, why(on));
    t.regex(on.messages, /SIP\/2\.0 200 OK/, 'the code is confirmed: answered, beeps, hung up');
    t.regex(on.messages, /^BYE /m);
    t.is(node.server.hunt!.status().find((g) => g.extension === '304')?.service, 'night');

    const night = await dial('206', '304', CALLER_B);
    t.is(night.code, 0, why(night));
    t.deepEqual(answeredBy('304'), ['224'], 'the night fallback answered');
    t.is((await fallback.done).code, 0);

    const off = await feature('223', '*58*304', FEATURES);
    t.is(off.code, 0, why(off));
    t.regex(off.messages, /SIP\/2\.0 200 OK/);
    const day = await dial('206', '304', CALLER_B);
    t.is(day.code, 0, why(day));
    t.deepEqual(answeredBy('304'), ['224', '223'], 'back in service: the member answers');
    t.is((await member.done).code, 0);
  } finally {
    await member.stop();
    await fallback.stop();
  }
  t.is(invitesAt((await member.done).messages).length, 1, 'the member rang only once the group was back in service');
  t.is(invitesAt((await fallback.done).messages).length, 1);
});

test.serial('log-out *56*N: the member is no longer offered calls; log-in *55*N: offered again', async (t) => {
  const first = await phone('225', at('225'), ANSWER, 1);
  // 226 could take a second call: it must not get one once 225 is back
  const second = await phone('226', at('226'), ANSWER, 2);
  try {
    const out = await feature('225', '*56*305', FEATURES);
    t.is(out.code, 0, why(out));
    t.regex(out.messages, /SIP\/2\.0 200 OK/);
    t.deepEqual(node.server.hunt!.status().find((g) => g.extension === '305')?.loggedIn, ['226']);

    const r1 = await dial('207', '305', CALLER_B);
    t.is(r1.code, 0, why(r1));
    t.deepEqual(answeredBy('305'), ['226'], 'logged out: skipped although first in the list');

    const back = await feature('225', '*55*305', FEATURES);
    t.is(back.code, 0, why(back));
    t.regex(back.messages, /SIP\/2\.0 200 OK/);
    const r2 = await dial('207', '305', CALLER_B);
    t.is(r2.code, 0, why(r2));
    t.deepEqual(answeredBy('305'), ['226', '225'], 'logged in again: first in the list answers');
    t.is((await first.done).code, 0);
  } finally {
    await first.stop();
    await second.stop();
  }
  t.is(invitesAt((await first.done).messages).length, 1, '225 rang only after logging in again');
  t.is(invitesAt((await second.done).messages).length, 1);
});
