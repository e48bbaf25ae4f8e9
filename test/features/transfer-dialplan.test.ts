/**
 * Blind transfer through the dial plan (RFC 3515 REFER), with baresip phones that send a tone
 * and record what they hear, and sipp as the carrier: the transferor's Refer-To goes where the
 * transferor could dial, with its barring, and the target's do not disturb and mailbox apply.
 */
import test from 'ava';
import { portBlock } from '../helpers/ports.js';
import { startSipp } from '../helpers/sipp.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { lastHeard, startPhone, type Baresip } from '../helpers/baresip.js';
import { soxTone } from '../helpers/audio.js';
import { bestRatio, findWindow, hasTone, lacksTone } from '../helpers/tone.js';
import { scenario } from '../helpers/peers.js';
import { sleep, until } from '../helpers/wait.js';

const port = portBlock(28);
const CARRIER = { ip: '127.0.0.70', port: port(1) };

const USERS = [
  '  - { extension: "231", password: demo231 }',
  '  - { extension: "232", password: demo232 }',
  '  - { extension: "233", password: demo233 }',
  '  - { extension: "234", password: demo234, doNotDisturb: true }',
  '  - { extension: "235", password: demo235, rights: local-only }',
].join('\n');

const YAML = `
trunks:
  - { name: carrier, lineGroup: 1, type: peer, host: ${CARRIER.ip}, port: ${CARRIER.port}, keepaliveSeconds: 0 }
huntGroups:
  - { extension: "330", ringMode: sequential, members: ["233"], voicemailAnswerSeconds: null, queue: { enabled: false } }
dialPlan:
  callClasses:
    - { name: international, patterns: ["00N"] }
    - { name: local, patterns: ["N"] }
  userRights:
    - { name: local-only, classes: [internal, local] }
  shortCodes:
    - { code: "9N", feature: dial, number: "N", lineGroup: 1 }
`;

let node: TestServer;
test.before(async () => {
  node = await startServer({ udp: port(0), users: USERS, yaml: YAML, voicemail: 'minMessageSeconds: 1' });
});
test.after.always(() => node?.close());

const logged = (re: RegExp) => () => node.logger.records.some((r) => re.test(String(r.message)));

function phone(ext: string, n: number, freq: number): Promise<Baresip> {
  return startPhone({ dir: node.dir, ext, listen: `127.0.0.${70 + n}:${port(10 + n)}`, ctrlPort: port(30 + n), freq, server: `127.0.0.1:${port(0)}`, answer: 'auto' });
}

/** `a` calls `b`; resolves once `b` answered. */
async function connect(a: Baresip, b: Baresip, ext: string): Promise<void> {
  a.command('dial', `sip:${ext}@127.0.0.1:${port(0)}`);
  await b.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 15_000);
  await sleep(1000);
}

test.serial('a blind transfer to a hunt group number: its member answers, the transferee and the member hear each other', async (t) => {
  const a = await phone('231', 1, 1000);
  const b = await phone('232', 2, 440);
  const c = await phone('233', 3, 1700);
  try {
    await connect(a, b, '232');
    b.command('transfer', `sip:330@127.0.0.1:${port(0)}`);
    await c.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 15_000);
    await until('the transfer to complete', logged(/transfer to 330 completed/));
    await b.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
    await sleep(3000); // the transferee and the member talk
    a.command('hangup');
    await c.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
    // found by what A's recording holds, not by where its end falls (see findWindow)
    const heardA = await lastHeard(a);
    const member = findWindow(heardA, 8000, (w) => hasTone(w, 1700, 0.3) && lacksTone(w, 440, 0.05));
    t.true(member >= 0, `the transferee hears the hunt group member for a second (best ${bestRatio(heardA, 1700, 8000).toFixed(3)})`);
    t.is(findWindow(heardA, 1600, (w) => hasTone(w, 440, 0.3), { from: member }), -1, 'and never the transferor again');
    t.true(hasTone(await lastHeard(c), 1000, 0.3, { skip: 4000 }), 'the member hears the transferee');
    await until('the call record', () => node.server.calls.active === 0);
    t.like(node.server.records.query({ number: '232' })[0], { callerNumber: '231', connectedNumber: '233', disposition: 'answered' });
  } finally {
    await Promise.all([a.stop(), b.stop(), c.stop()]);
  }
});

test.serial('a blind transfer to an outside number goes out through the dial plan: the carrier answers and the transferee hears it', async (t) => {
  const tone = await soxTone(node.dir, { freq: 1700, seconds: 30, format: 'ulaw-raw', name: 'carrier-1700' });
  const carrier = startSipp(['-sf', scenario('uas_play.xml'), '-i', CARRIER.ip, '-p', String(CARRIER.port), '-mi', CARRIER.ip, '-mp', String(port(2)),
    '-key', 'rtp_file', `${tone},-1,0`, '-m', '1'], { timeoutMs: 40_000, trace: true });
  const a = await phone('231', 4, 1000);
  const b = await phone('232', 5, 440);
  try {
    await connect(a, b, '232');
    b.command('transfer', `sip:9012345@127.0.0.1:${port(0)}`);
    await b.waitEvent((e) => e.type === 'CALL_CLOSED', 15_000);
    await until('the transfer to complete', logged(/transfer to 9012345 completed/));
    await sleep(2500);
    a.command('hangup');
    const r = await carrier.done;
    t.regex(r.messages, /INVITE sip:012345@/, 'the carrier got the number after the 9');
    t.true(hasTone((await lastHeard(a)).slice(-8000 * 2), 1700, 0.3), 'the transferee hears the far end');
  } finally {
    await carrier.stop();
    await Promise.all([a.stop(), b.stop()]);
  }
});

test.serial('a blind transfer to a user in do not disturb reaches that user\'s mailbox: the transferee leaves a message', async (t) => {
  const a = await phone('231', 6, 1000);
  const b = await phone('232', 7, 440);
  try {
    await connect(a, b, '232');
    b.command('transfer', `sip:234@127.0.0.1:${port(0)}`);
    await until('the recording to start', logged(/voicemail 234: recording message/), 20_000);
    await sleep(2500);
    a.command('hangup');
    await until('the message to be kept', logged(/voicemail 234: message \d+ kept/), 10_000);
    t.is(node.server.voicemail!.store.counts('234').new, 1);
    t.is(node.server.calls.active, 0);
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
});

test.serial('a transfer to a number the transferor may not call is refused with 403 and nothing goes out', async (t) => {
  const a = await phone('231', 8, 1000);
  const b = await phone('235', 9, 440);
  try {
    await connect(a, b, '235');
    b.command('transfer', `sip:900441234567@127.0.0.1:${port(0)}`);
    await until('the refusal', logged(/transfer to 900441234567 refused: 403 Forbidden \(international calls are barred for 235\)/));
    t.true(logged(/403 Forbidden for REFER/)(), 'the REFER is answered 403');
    // baresip 1.0.0 hangs up itself when its transfer is refused
    await until('the call to end', () => node.server.calls.active === 0);
    t.false(logged(/call out on trunk carrier to 00441234567/)(), 'no INVITE went to the carrier');
    t.like(node.server.records.query({ number: '235' })[0], { callerNumber: '231', connectedNumber: '235' });
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
});
