/**
 * Hunt groups through real SIP (issue 8), the waiting side: callers queue while the only member
 * is on a call and are served first come, first served, hearing music and the announcement as
 * early media (a baresip caller records what it hears); a call overflows to a second group after
 * the overflow time; a call nobody answers goes to the group's mailbox at the voicemail answer
 * time and leaves a message there. Ring modes and feature codes: huntgroups-calls.test.ts.
 */
import test from 'ava';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { soxTone, ulawSilence } from '../helpers/audio.js';
import { Baresip, makeToneWav } from '../helpers/baresip.js';
import { portBlock } from '../helpers/ports.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { callIdOf, runSipp, startSipp, SCENARIOS, traced, type SippResult, type SippRun } from '../helpers/sipp.js';
import { hasTone, rms, toneRatio } from '../helpers/tone.js';
import { readWav } from '../helpers/wav.js';
import { scenario } from '../helpers/peers.js';
import { sleep, until } from '../helpers/wait.js';

const port = portBlock(26);
const DIAL = scenario('uac_dial.xml');
const REG = scenario('register_keys.xml');
const RING = scenario('uas_ring.xml');
const ANSWER = join(SCENARIOS, 'uas_answer.xml');

/** Each phone (member or caller) has its own SIP port, media on the port + 4. */
const at = (ext: string) => port((Number(ext) - 200) * 8);
const MUSIC_HZ = 440;
const ANNOUNCEMENT_HZ = 1000;

const USERS = Array.from({ length: 20 }, (_, i) => `  - { extension: "${201 + i}", password: demo${201 + i} }`).join('\n');

let node: TestServer;
test.before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pbx-test-'));
  // music and announcement as tones, so what a queued caller hears can be told apart
  const music = makeToneWav(join(dir, 'music.wav'), MUSIC_HZ, 10);
  const announcement = makeToneWav(join(dir, 'announcement.wav'), ANNOUNCEMENT_HZ, 1.5);
  node = await startServer({
    udp: port(0), dir, users: USERS, yaml: `
calls: { musicOnHold: ${JSON.stringify(music)} }
huntGroups:
  - extension: "310"
    ringMode: sequential
    members: ["205"]
    voicemailAnswerSeconds: null
    queue: { announcementSeconds: 2, repeatSeconds: null, announcement: ${JSON.stringify(announcement)} }
  - { extension: "320", ringMode: collective, members: ["211", "212"], noAnswerSeconds: 30, voicemailAnswerSeconds: null, overflow: { groups: ["321"], seconds: 5 } }
  - { extension: "321", members: ["213"], voicemailAnswerSeconds: null }
  - { extension: "330", ringMode: sequential, members: ["214"], noAnswerSeconds: 30, voicemailAnswerSeconds: 5 }
`,
  });
});
test.after.always(() => node?.close());

async function register(ext: string, localPort: number): Promise<void> {
  const r = await runSipp([`127.0.0.1:${port(0)}`, '-sf', REG, '-s', ext, '-au', ext, '-ap', `demo${ext}`,
    '-key', 'contact', `<sip:${ext}@127.0.0.1:${localPort}>`, '-key', 'expires', '300', '-key', 'extra', 'X-Test: 1',
    '-i', '127.0.0.1', '-p', String(localPort), '-m', '1'], { timeoutMs: 10_000 });
  if (r.code !== 0) throw new Error(`sipp ${ext} did not register: ${r.stderr.slice(-500)}`);
}

/** A member's phone registered at its own port, running `scenarioPath` for `calls` calls. */
async function phone(ext: string, scenarioPath: string, calls: number): Promise<SippRun> {
  await register(ext, at(ext));
  const run = startSipp(['-sf', scenarioPath, '-i', '127.0.0.1', '-p', String(at(ext)), '-mi', '127.0.0.1',
    '-mp', String(at(ext) + 4), '-m', String(calls)], { timeoutMs: 90_000, trace: true });
  await sleep(300);
  return run;
}

/** `caller` dials `number`; answered, it streams rtpFile for talkMs and hangs up. */
function dial(caller: string, number: string, talkMs: number, rtpFile = `${ulawSilence(node.dir)},-1,0`): Promise<SippResult> {
  return runSipp([`127.0.0.1:${port(0)}`, '-sf', DIAL, '-s', number, '-au', caller, '-ap', `demo${caller}`,
    '-key', 'caller', caller, '-key', 'rtp_file', rtpFile, '-d', String(talkMs),
    '-i', '127.0.0.1', '-p', String(at(caller)), '-mi', '127.0.0.1', '-mp', String(at(caller) + 4), '-m', '1'], { timeoutMs: 60_000, trace: true });
}

const first = (trace: string, re: RegExp, received: boolean) => traced(trace).find((m) => m.received === received && re.test(m.text));

/** The most calls a UAS phone had at once: ringing or talking, from the INVITE to the BYE or CANCEL. */
function mostAtOnce(trace: string): number {
  const open = new Set<string>();
  let most = 0;
  for (const m of traced(trace)) {
    if (!m.received) continue;
    const id = callIdOf(m.text);
    if (/^INVITE /.test(m.text)) open.add(id);
    else if (/^(BYE|CANCEL) /.test(m.text)) open.delete(id);
    most = Math.max(most, open.size);
  }
  return most;
}

/** Waits until `call` is queued at `position`; fails at once with sipp's output when the call ends first. */
async function queued(call: Promise<SippResult>, position: number): Promise<void> {
  let ended: SippResult | undefined;
  void call.then((r) => (ended = r));
  await until(`a caller queued at position ${position}`, () => {
    if (ended) throw new Error(`the caller's sipp ended before queueing: ${why(ended)}`);
    return logged(new RegExp(`hunt group 310: call queued at position ${position}`))();
  });
}

const logged = (re: RegExp) => () => node.logger.records.some((r) => re.test(String(r.message)));
const recentLog = () => JSON.stringify(node.logger.records.slice(-20).map((x) => x.message));
const why = (r: SippResult) => `${r.stderr.slice(-500)}${r.messages.slice(-2000)}${recentLog()}`;
const recordsOf = (group: string) => node.server.records.query({ number: group }).filter((r) => r.calledNumber === group);

/** Where in `samples` (8 kHz) each 100 ms block is dominated by `freq`. */
function blocksWith(samples: Int16Array, freq: number): number[] {
  const out: number[] = [];
  for (let i = 0; i + 800 <= samples.length; i += 800) {
    const block = samples.subarray(i, i + 800);
    if (rms(block) > 300 && toneRatio(block, freq) > 0.6) out.push(i / 8);
  }
  return out;
}

test.serial('queue: three callers wait while the member is busy, hear music and the announcement, and are served in arrival order', async (t) => {
  const member = await phone('205', ANSWER, 4);
  const a = await Baresip.start({
    listen: `127.0.0.61:${at('201')}`, ctrlPort: at('201') + 1, source: makeToneWav(join(node.dir, 'caller-201.wav'), 700, 120),
    account: `<sip:201@127.0.0.1:${port(0)}>;auth_pass=demo201;regint=600;answermode=manual;audio_codecs=PCMU`,
  });
  let b: Promise<SippResult> | undefined;
  let c: Promise<SippResult> | undefined;
  try {
    await a.waitRegistered();
    // the member is on a call that lasts well beyond the queueing below
    const direct = dial('209', '205', 10_000);
    await until('205 on the direct call', () => node.server.calls.answeredCallsOf('205').length === 1);
    a.command('dial', `sip:310@127.0.0.1:${port(0)}`);
    await until('201 queued', logged(/hunt group 310: call queued at position 1/));
    b = dial('202', '310', 1000);
    await queued(b, 2);
    c = dial('203', '310', 1000);
    await queued(c, 3);
    t.is(node.server.hunt!.status().find((g) => g.extension === '310')?.queued, 3);
    t.is(node.server.calls.answeredCallsOf('205').length, 1, 'precondition: the member still busy with the direct call');

    const d = await direct;
    t.is(d.code, 0, why(d));
    // the first in the queue gets the member as soon as the direct call ends
    await a.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 15_000);
    await sleep(1000);
    a.command('hangup');
    await a.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
    const [rb, rc] = await Promise.all([b, c]);
    t.is(rb.code, 0, why(rb));
    t.is(rc.code, 0, why(rc));
    const memberTrace = (await member.done).messages;
    t.is((await member.done).code, 0, 'the member answered the direct call and the three queued calls');
    t.is(mostAtOnce(memberTrace), 1, 'the member\'s phone rang for one caller at a time, never while on a call');

    const served = recordsOf('310').filter((r) => r.answer).sort((x, y) => x.answer!.getTime() - y.answer!.getTime());
    t.deepEqual(served.map((r) => r.callerNumber), ['201', '202', '203'], 'first come, first served');
    t.true(served.every((r) => r.connectedNumber === '205'));
    const directEnd = node.server.records.query({ number: '209' })[0]!.end.getTime();
    t.true(served[0]!.answer!.getTime() >= directEnd, 'nobody was put through while the member was busy');
    for (let i = 1; i < served.length; i++) {
      t.true(served[i]!.answer!.getTime() >= served[i - 1]!.end.getTime(), `${served[i]!.callerNumber} put through only after ${served[i - 1]!.callerNumber}'s call ended`);
    }
    for (const r of [rb, rc]) t.regex(r.messages, /SIP\/2\.0 183 /, 'queued callers get early media');

    // what 201 heard while queued: music, the announcement about 2 s after calling, music again
    // (baresip starts a new recording when the call is answered: the first one is the early media)
    const dir = join(a.dir, 'rec');
    const files = readdirSync(dir).filter((f) => f.endsWith('-dec.wav')).sort();
    t.true(files.length > 0, `baresip recorded the call (${dir})`);
    const heard = (await readWav(join(dir, files[0]!))).samples;
    const music = blocksWith(heard, MUSIC_HZ);
    const announcement = blocksWith(heard, ANNOUNCEMENT_HZ);
    t.true(announcement.length >= 8, `the announcement was heard (${announcement.length} blocks of 100 ms)`);
    const starts = announcement[0]!;
    t.true(starts >= 1500 && starts <= 4000, `announcement ${starts} ms into the early media (announcementSeconds: 2)`);
    t.true(music.some((ms) => ms < starts), 'music before the announcement');
    t.true(music.some((ms) => ms > announcement[announcement.length - 1]!), 'music after it');
    t.false(hasTone(heard.subarray(0, 8 * 1200), ANNOUNCEMENT_HZ), 'not the announcement at once');
  } finally {
    await a.stop();
    await member.stop();
    await Promise.allSettled([b, c]);
  }
});

test.serial('overflow: after overflow.seconds the call leaves the ringing members and the overflow group\'s member answers', async (t) => {
  const ringing = [await phone('211', RING, 1), await phone('212', RING, 1)];
  const other = await phone('213', ANSWER, 1);
  try {
    const r = await dial('202', '320', 500);
    t.is(r.code, 0, why(r));
    for (const p of ringing) t.is((await p.done).code, 0, 'the group\'s member rang and was cancelled (CANCEL, 487, ACK)');
    t.is((await other.done).code, 0);
    const sent = first(r.messages, /^INVITE /, false)!.at;
    const offered = first((await other.done).messages, /^INVITE /, true)!.at;
    t.true(offered - sent >= 4500 && offered - sent <= 8000, `the overflow group rang ${offered - sent} ms after the call (overflow.seconds: 5)`);
    for (const p of ringing) {
      const m = (await p.done).messages;
      const rang = first(m, /^INVITE /, true)!.at;
      t.true(rang - sent < 2000, 'the group\'s own members rang first');
      t.truthy(first(m, /^CANCEL /, true), 'and stopped ringing at the overflow');
    }
    t.is(recordsOf('320')[0]?.connectedNumber, '213');
  } finally {
    for (const p of [...ringing, other]) await p.stop();
  }
});

test.serial('voicemail answer time: nobody answers, voicemail takes the call after voicemailAnswerSeconds and keeps a message in the group\'s mailbox', async (t) => {
  const ringing = await phone('214', RING, 1);
  const tone = await soxTone(node.dir, { freq: 1000, seconds: 10, format: 'ulaw-raw', name: 'vm1000.ul' });
  try {
    t.is(node.server.voicemail!.store.messages('330').length, 0);
    // the greeting ("extension 3 3 0 is not available...") and the tone take about 9 s; then 5 s of message
    const r = await dial('203', '330', 15_000, `${tone},-1,0`);
    t.is(r.code, 0, why(r));
    const sent = first(r.messages, /^INVITE /, false)!.at;
    const answered = first(r.messages, /^SIP\/2\.0 200 OK[\s\S]*CSeq: 2 INVITE/, true)!.at;
    t.true(answered - sent >= 4500 && answered - sent <= 8000, `answered by voicemail ${answered - sent} ms after the call (voicemailAnswerSeconds: 5)`);
    t.is((await ringing.done).code, 0, 'the member rang until then and was cancelled');
    t.truthy(first((await ringing.done).messages, /^CANCEL /, true));
    await until('the message kept', () => node.server.voicemail!.store.messages('330').length === 1);
    const [msg] = node.server.voicemail!.store.messages('330');
    t.is(msg!.caller, '203');
    t.true(msg!.durationMs >= 2000, `message of ${msg!.durationMs} ms`);
    t.true(hasTone((await readWav(msg!.path)).samples, 1000), 'the message holds what the caller said (its 1 kHz tone)');
  } finally {
    await ringing.stop();
  }
});
