/**
 * Phone features through real SIP: forwarding on busy and on no answer to sipp phones that
 * refuse, ring forever or answer; feature codes dialled from a phone; caller ID withheld.
 */
import test from 'ava';
import { join } from 'node:path';
import { portBlock } from '../helpers/ports.js';
import { runSipp, startSipp, SCENARIOS, uasStatusScenario, type SippRun } from '../helpers/sipp.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { ulawSilence } from '../helpers/audio.js';
import { scenario } from '../helpers/peers.js';
import { sleep, until } from '../helpers/wait.js';

const port = portBlock(9);
const UAC = scenario('uac_call.xml');
const FEATURE = scenario('uac_feature.xml');
const UAS_RING = scenario('uas_ring.xml');
const REG = scenario('register_keys.xml');

const USERS = [
  '  - { extension: "201", password: demo201 }',
  '  - { extension: "202", password: demo202, forward: { busy: "203" } }',
  '  - { extension: "203", password: demo203 }',
  '  - { extension: "204", password: demo204, forward: { noAnswer: "205", noAnswerSeconds: 5 } }',
  '  - { extension: "205", password: demo205 }',
  '  - { extension: "206", password: demo206 }',
  '  - { extension: "207", password: demo207 }',
  '  - { extension: "208", password: demo208 }',
  '  - { extension: "209", password: demo209, callWaiting: false }',
].join('\n');

let node: TestServer;
test.before(async () => {
  // without voicemail (no voicemail channels): busy and do not disturb answer 486
  node = await startServer({ udp: port(0), users: USERS, voicemail: 'channels: 0' });
});
test.after.always(() => node?.close());

async function register(ext: string, localPort: number): Promise<void> {
  const r = await runSipp([`127.0.0.1:${port(0)}`, '-sf', REG, '-s', ext, '-au', ext, '-ap', `demo${ext}`,
    '-key', 'contact', `<sip:${ext}@127.0.0.1:${localPort}>`, '-key', 'expires', '300', '-key', 'extra', 'X-Test: 1',
    '-i', '127.0.0.1', '-p', String(localPort), '-m', '1'], { timeoutMs: 10_000 });
  if (r.code !== 0) throw new Error(`sipp ${ext} did not register`);
}

/** A sipp phone for `ext` at localPort running `scenario` (with its own media port). */
async function phone(ext: string, localPort: number, scenario: string, keys: string[] = []): Promise<SippRun> {
  await register(ext, localPort);
  const run = startSipp(['-sf', scenario, ...keys, '-i', '127.0.0.1', '-p', String(localPort), '-mi', '127.0.0.1', '-mp', String(localPort + 5), '-m', '1'], { timeoutMs: 40_000, trace: true });
  await sleep(300);
  return run;
}

function call(caller: string, callee: string, localPort: number, talkMs = 500) {
  return runSipp([`127.0.0.1:${port(0)}`, '-sf', UAC, '-s', callee, '-au', caller, '-ap', `demo${caller}`,
    '-key', 'caller', caller, '-key', 'codec_pt', '0', '-key', 'codec', 'PCMU', '-key', 'rtp_file', `${ulawSilence(node.dir)},-1,0`,
    '-key', 'info_digit', '5', '-key', 'dtmf', '1', '-d', String(talkMs),
    '-i', '127.0.0.1', '-p', String(localPort), '-mi', '127.0.0.1', '-mp', String(localPort + 5), '-m', '1'], { timeoutMs: 40_000, trace: true });
}

function feature(user: string, code: string, localPort: number) {
  return runSipp([`127.0.0.1:${port(0)}`, '-sf', FEATURE, '-s', code, '-au', user, '-ap', `demo${user}`,
    '-key', 'caller', user, '-key', 'codec_pt', '0', '-key', 'codec', 'PCMU',
    '-i', '127.0.0.1', '-p', String(localPort), '-mi', '127.0.0.1', '-mp', String(localPort + 5), '-m', '1'], { timeoutMs: 20_000, trace: true });
}

const answeredBy = () => node.server.records.query({ limit: 1 })[0]?.connectedNumber;

test.serial('forward on busy: 202 answers 486, the call goes to 203 and connects', async (t) => {
  const busy = await phone('202', port(10), uasStatusScenario(node.dir, 486, 'Busy Here'));
  const other = await phone('203', port(20), join(SCENARIOS, 'uas_answer.xml'));
  try {
    const r = await call('201', '202', port(30));
    t.is(r.code, 0, r.stderr.slice(-500) + r.messages.slice(-2500) + JSON.stringify(node.logger.records.slice(-15).map((x) => x.message)));
    t.is((await busy.done).code, 0, '202 was offered the call and refused it');
    t.is(answeredBy(), '203');
    t.true(node.logger.records.some((l) => /call forwarded \(busy\) from 202 to 203/.test(String(l.message))));
  } finally {
    await busy.stop();
    await other.stop();
  }
});

test.serial('forward on no answer: 204 rings for its no-answer time, is cancelled, and 205 answers', async (t) => {
  const ringing = await phone('204', port(40), UAS_RING);
  const other = await phone('205', port(50), join(SCENARIOS, 'uas_answer.xml'));
  try {
    const started = Date.now();
    const r = await call('201', '204', port(60));
    t.is(r.code, 0, r.stderr.slice(-500) + r.messages.slice(-2500) + JSON.stringify(node.logger.records.slice(-15).map((x) => x.message)));
    t.true(Date.now() - started >= 5000, 'rang the no-answer time first');
    t.is((await ringing.done).code, 0, '204 was cancelled properly (CANCEL, 487, ACK)');
    t.is(answeredBy(), '205');
  } finally {
    await ringing.stop();
    await other.stop();
  }
});

test.serial('feature codes from the phone: forward all on and off, do not disturb; kept in the store', async (t) => {
  const fwd = await feature('206', '*21*208', port(70));
  t.regex(fwd.messages, /SIP\/2\.0 200 OK/, `the code is confirmed (answered, beeps, hung up) ${fwd.stderr.slice(-800)}`);
  t.is(node.server.calls.settingsOf('206')?.forwardAll, '208');
  const target = await phone('208', port(80), join(SCENARIOS, 'uas_answer.xml'));
  try {
    t.is((await call('201', '206', port(90))).code, 0);
    t.is(answeredBy(), '208', 'a call to 206 rings 208');
  } finally {
    await target.stop();
  }
  await feature('206', '*20', port(70));
  t.is(node.server.calls.settingsOf('206')?.forwardAll, undefined);
  const bad = await feature('206', '*21*999', port(70));
  t.regex(bad.messages, /404 Not Found \(999 is not an extension/, 'forwarding outside is refused clearly until the dial plan lands');
  await feature('207', '*78', port(71));
  const dnd = await call('201', '207', port(91));
  t.regex(dnd.messages, /486 Busy Here \(do not disturb\)/);
  await feature('207', '*79', port(71));
  t.false(node.server.calls.settingsOf('207')?.doNotDisturb);
});

test.serial('caller ID withheld with *31*: the callee sees Anonymous, Privacy: id and no asserted identity', async (t) => {
  const callee = await phone('203', port(100), join(SCENARIOS, 'uas_answer.xml'));
  try {
    t.is((await call('201', '*31*203', port(110))).code, 0);
    const invite = (await callee.done).messages.split(/-{20,}.*\n/).find((m) => /INVITE sip:/.test(m)) ?? '';
    t.regex(invite, /From: "Anonymous" <sip:anonymous@anonymous\.invalid>/);
    t.regex(invite, /Privacy: id/);
    t.notRegex(invite, /P-Asserted-Identity/);
  } finally {
    await callee.stop();
  }
  const shown = await phone('203', port(120), join(SCENARIOS, 'uas_answer.xml'));
  try {
    t.is((await call('201', '203', port(130))).code, 0);
    const invite = (await shown.done).messages.split(/-{20,}.*\n/).find((m) => /INVITE sip:/.test(m)) ?? '';
    t.regex(invite, /From: "201" <sip:201@127\.0\.0\.1>/, 'otherwise the caller is named');
    t.regex(invite, /P-Asserted-Identity: "201" <sip:201@127\.0\.0\.1>/);
  } finally {
    await shown.stop();
  }
});

test.serial('call waiting off: a second call to a user already on a call gets busy', async (t) => {
  const uas = await phone('209', port(140), join(SCENARIOS, 'uas_answer.xml'));
  try {
    const first = call('201', '209', port(150), 4000);
    await until('the first call answered', () => node.server.calls.answeredCallsOf('209').length === 1, 10_000);
    const second = await call('203', '209', port(160));
    t.regex(second.messages, /SIP\/2\.0 486 Busy Here/, 'busy while on a call without call waiting');
    t.is((await first).code, 0, 'the call in progress goes on');
  } finally {
    await uas.stop();
  }
});
