/**
 * Offers and answers as trunks and other PBXs make them, against real peers: a sipp caller
 * with a delayed offer (an INVITE without SDP, RFC 3261 13.2.1) or with a video stream, and a
 * baresip callee that records what it hears, so each test checks that the caller's tone arrives.
 */
import test from 'ava';
import { portBlock } from '../helpers/ports.js';
import { runSipp, SCENARIOS, startSipp, traced } from '../helpers/sipp.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { lastHeard, startPhone, type Baresip } from '../helpers/baresip.js';
import { soxTone } from '../helpers/audio.js';
import { hasTone } from '../helpers/tone.js';
import { scenario } from '../helpers/peers.js';
import { sleep, until } from '../helpers/wait.js';
import { join } from 'node:path';

const port = portBlock(27);
const DELAYED = scenario('uac_delayed.xml');
const VIDEO = scenario('uac_video.xml');
const REG = scenario('register_keys.xml');
const UAC = scenario('uac_call.xml');

const USERS = [
  ...['201', '202', '203'].map((e) => `  - { extension: "${e}", password: demo${e} }`),
  ...['211', '212'].map((e) => `  - { extension: "${e}", password: demo${e}, media: direct }`),
].join('\n');

let node: TestServer;
let tone: string;
test.before(async () => {
  node = await startServer({ udp: port(0), users: USERS, voicemail: 'channels: 0' });
  tone = await soxTone(node.dir, { freq: 1000, seconds: 20, format: 'ulaw-raw', name: 'caller-1k' });
});
test.after.always(() => node?.close());

/** A baresip callee that answers at once and sends 440 Hz. */
function callee(ext: string, n: number): Promise<Baresip> {
  return startPhone({ dir: node.dir, ext, listen: `127.0.0.${60 + n}:${port(10 + n)}`, ctrlPort: port(30 + n), freq: 440, server: `127.0.0.1:${port(0)}`, answer: 'auto' });
}

/** A sipp caller running `sf`: `caller` calls `to`, sending a 1 kHz tone for `talkMs`. */
function call(sf: string, caller: string, to: string, local: number, talkMs = 3000) {
  return runSipp([`127.0.0.1:${port(0)}`, '-sf', sf, '-s', to, '-au', caller, '-ap', `demo${caller}`, '-key', 'caller', caller,
    '-key', 'rtp_file', `${tone},-1,0`, '-d', String(talkMs), '-i', '127.0.0.1', '-p', String(local), '-mi', '127.0.0.1', '-mp', String(local + 2), '-m', '1'],
  { timeoutMs: 30_000, trace: true });
}

/** The final response to the caller's (authenticated) INVITE, as sipp received it. */
const ok = (trace: string) => traced(trace).find((m) => m.received && /^SIP\/2\.0 200 OK/.test(m.text) && /CSeq: 2 INVITE/i.test(m.text))?.text ?? '';

test.serial('a delayed offer (INVITE without SDP), anchored media: our 200 offers, the caller answers in its ACK, and the callee hears it', async (t) => {
  const b = await callee('202', 1);
  try {
    const r = await call(DELAYED, '201', '202', port(50));
    t.is(r.code, 0, r.messages.slice(-2500));
    t.regex(ok(r.messages), /m=audio \d+ RTP\/AVP/, 'the 200 carries our offer');
    await until('the call recorded', () => node.server.records.query({ number: '202' }).length > 0);
    t.like(node.server.records.query({ number: '202' })[0], { disposition: 'answered', connectedNumber: '202' });
    t.true(hasTone(await lastHeard(b), 1000, 0.3, { skip: 4000 }), 'the callee hears the caller\'s tone');
  } finally {
    await b.stop();
  }
});

test.serial('a delayed offer between two users with direct media: the callee\'s offer goes to the caller, the answer in the ACK back to the callee', async (t) => {
  const b = await callee('212', 2);
  try {
    const before = node.server.engine!.endpoints.length;
    const r = await call(DELAYED, '211', '212', port(60));
    t.is(r.code, 0, r.messages.slice(-2500));
    t.regex(ok(r.messages), /c=IN IP4 127\.0\.0\.62/, 'the 200 carries the callee\'s own offer');
    t.is(node.server.engine!.endpoints.length, before, 'no engine port in the call');
    t.true(hasTone(await lastHeard(b), 1000, 0.3, { skip: 4000 }), 'the callee hears the caller directly');
  } finally {
    await b.stop();
  }
});

test.serial('a video offer: the answer has both m= lines, the video one rejected with port 0, and the call connects', async (t) => {
  const b = await callee('203', 3);
  try {
    const r = await call(VIDEO, '201', '203', port(70));
    t.is(r.code, 0, r.messages.slice(-2500));
    const mlines = ok(r.messages).split(/\r?\n/).filter((l) => l.startsWith('m='));
    t.is(mlines.length, 2, mlines.join(' | '));
    t.regex(mlines[0]!, /^m=video 0 RTP\/AVP 97$/);
    t.regex(mlines[1]!, /^m=audio [1-9]\d* RTP\/AVP 0/);
    t.true(hasTone(await lastHeard(b), 1000, 0.3, { skip: 4000 }), 'the callee hears the caller');
  } finally {
    await b.stop();
  }
});

test.serial('a registration made on another device\'s behalf (its Contact on another port of the same address) is reached at that Contact, not at the registering source', async (t) => {
  // a provisioning tool at port 80 registers the phone listening at port 81 of the same address
  const reg = await runSipp([`127.0.0.1:${port(0)}`, '-sf', REG, '-s', '203', '-au', '203', '-ap', 'demo203',
    '-key', 'contact', `<sip:203@127.0.0.1:${port(81)}>`, '-key', 'expires', '300', '-key', 'extra', 'X-Test: 1',
    '-i', '127.0.0.1', '-p', String(port(80)), '-m', '1'], { timeoutMs: 10_000 });
  t.is(reg.code, 0);
  const phone = startSipp(['-sf', join(SCENARIOS, 'uas_answer.xml'), '-i', '127.0.0.1', '-p', String(port(81)), '-mi', '127.0.0.1', '-mp', String(port(85)), '-m', '1'], { timeoutMs: 20_000, trace: true });
  try {
    await sleep(300);
    const r = await runSipp([`127.0.0.1:${port(0)}`, '-sf', UAC, '-s', '203', '-au', '201', '-ap', 'demo201', '-key', 'caller', '201', '-key', 'codec_pt', '0', '-key', 'codec', 'PCMU',
      '-key', 'rtp_file', `${tone},-1,0`, '-key', 'info_digit', '5', '-key', 'dtmf', '1', '-d', '300',
      '-i', '127.0.0.1', '-p', String(port(90)), '-mi', '127.0.0.1', '-mp', String(port(92)), '-m', '1'], { timeoutMs: 30_000, trace: true });
    t.is(r.code, 0, r.messages.slice(-1500));
    t.is((await phone.done).code, 0, 'the phone at the Contact answered');
  } finally {
    await phone.stop();
  }
});
