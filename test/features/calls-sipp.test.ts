/**
 * Call handling driven by sipp phones (a caller that authenticates, callees that answer or
 * refuse), with baresip where digits must be heard.
 */
import test from 'ava';
import { join } from 'node:path';
import { portBlock } from '../helpers/ports.js';
import { runSipp, startSipp, SCENARIOS, uasStatusScenario } from '../helpers/sipp.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { Baresip, makeToneWav } from '../helpers/baresip.js';
import { soxTone, ulawSilence } from '../helpers/audio.js';
import { scenario } from '../helpers/peers.js';
import { sleep, until } from '../helpers/wait.js';

const port = portBlock(8);
const UAC = scenario('uac_call.xml');
const REG = scenario('register_keys.xml');

/** A sipp caller `caller` calling `callee`; returns sipp's result with its message trace. */
function call(node: TestServer, serverPort: number, caller: string, callee: string, localPort: number, o: { codec?: [number, string]; rtpFile?: string; talkMs?: number; info?: string; dtmf?: string } = {}) {
  const [pt, codec] = o.codec ?? [0, 'PCMU'];
  return runSipp([`127.0.0.1:${serverPort}`, '-sf', UAC, '-s', callee, '-au', caller, '-ap', `demo${caller}`,
    '-key', 'caller', caller, '-key', 'codec_pt', String(pt), '-key', 'codec', codec,
    '-key', 'rtp_file', o.rtpFile ?? `${ulawSilence(node.dir)},-1,0`, '-key', 'info_digit', o.info ?? '5', '-key', 'dtmf', o.dtmf ?? '1',
    '-d', String(o.talkMs ?? 500), '-i', '127.0.0.1', '-p', String(localPort), '-mi', '127.0.0.1', '-mp', String(localPort + 5),
    '-m', '1'], { timeoutMs: 30_000, trace: true });
}

/** Registers a sipp phone for `ext` at 127.0.0.1:localPort. */
async function registerSipp(serverPort: number, ext: string, localPort: number): Promise<void> {
  const r = await runSipp([`127.0.0.1:${serverPort}`, '-sf', REG, '-s', ext, '-au', ext, '-ap', `demo${ext}`,
    '-key', 'contact', `<sip:${ext}@127.0.0.1:${localPort}>`, '-key', 'expires', '300', '-key', 'extra', 'X-Test: 1',
    '-i', '127.0.0.1', '-p', String(localPort), '-m', '1'], { timeoutMs: 10_000 });
  if (r.code !== 0) throw new Error(`sipp ${ext} did not register`);
}

const finalStatus = (trace: string) => [...trace.matchAll(/^SIP\/2\.0 ([2-6]\d\d) /gm)].map((m) => Number(m[1])).filter((s) => s !== 407);

let node: TestServer;
test.before(async () => {
  // a node without voicemail (no voicemail channels): busy and unregistered callees answer as such
  node = await startServer({ udp: port(0), yaml: 'calls: { maxChannels: 1 }', voicemail: 'channels: 0' });
});
test.after.always(() => node?.close());

test.serial('no common codec: the caller gets 488 and no call is set up', async (t) => {
  await registerSipp(port(0), '202', port(10));
  const r = await call(node, port(0), '201', '202', port(11), { codec: [18, 'G729'] });
  t.deepEqual(finalStatus(r.messages), [488]);
  t.is(node.server.calls.active, 0);
  t.is(node.server.engine!.endpoints.length, 0, 'no media port left allocated');
});

test.serial('a busy callee: the caller gets 486 and the record says busy', async (t) => {
  await registerSipp(port(0), '203', port(20));
  const uas = startSipp(['-sf', uasStatusScenario(node.dir, 486, 'Busy Here'), '-i', '127.0.0.1', '-p', String(port(20)), '-m', '1'], { timeoutMs: 20_000 });
  try {
    await sleep(300); // sipp listening
    const r = await call(node, port(0), '201', '203', port(21));
    t.deepEqual(finalStatus(r.messages).filter((s) => s !== 180 && s !== 100), [486], r.messages.slice(-1200) + JSON.stringify(node.logger.records.slice(-12).map((x) => x.message)));
    t.is((await uas.done).code, 0, 'the callee saw its 486 ACKed');
    t.like(node.server.records.query({ number: '203' })[0], { disposition: 'busy', cause: '486' });
  } finally {
    await uas.stop();
  }
});

test.serial('an unknown number gets 404, an extension with no phone registered 480', async (t) => {
  t.deepEqual(finalStatus((await call(node, port(0), '201', '999', port(30))).messages), [404]);
  t.deepEqual(finalStatus((await call(node, port(0), '201', '209', port(31))).messages), [480]);
});

test.serial('the channel limit: the next call gets 503 with Retry-After and a warning is logged', async (t) => {
  await registerSipp(port(0), '204', port(40));
  const uas = startSipp(['-sf', join(SCENARIOS, 'uas_answer.xml'), '-i', '127.0.0.1', '-p', String(port(40)), '-mi', '127.0.0.1', '-mp', String(port(150)), '-m', '1'], { timeoutMs: 30_000 });
  try {
    await sleep(300); // sipp listening
    const first = call(node, port(0), '201', '204', port(42), { talkMs: 4000 });
    await until('the first call answered', () => node.server.calls.answeredCallsOf('204').length === 1, 10_000);
    const second = await call(node, port(0), '205', '204', port(63));
    t.deepEqual(finalStatus(second.messages), [503], second.stderr.slice(-600) + JSON.stringify(node.logger.records.slice(-12).map((x) => x.message)));
    t.regex(second.messages, /Retry-After: \d+/);
    t.true(node.logger.records.some((l) => l.message === 'call refused: node channel limit reached'));
    t.is((await first).code, 0, 'the call in progress is not disturbed');
  } finally {
    await uas.stop();
  }
});

test.serial('digits from a sipp caller reach a baresip callee: SIP INFO and RFC 2833 both arrive as telephone-events', async (t) => {
  const wav = makeToneWav(join(node.dir, 'b206.wav'), 440, 60);
  const bs = await Baresip.start({
    listen: `127.0.0.31:${port(50)}`, ctrlPort: port(51), source: wav,
    account: `<sip:206@127.0.0.1:${port(0)}>;auth_pass=demo206;regint=600;answermode=auto;audio_codecs=PCMU,PCMA`,
  });
  try {
    await bs.waitRegistered();
    const tone = await soxTone(node.dir, { freq: 1000, seconds: 10, format: 'ulaw-raw', name: 'k1' });
    const r = await call(node, port(0), '201', '206', port(52), { rtpFile: `${tone},-1,0`, talkMs: 1500, info: '5', dtmf: '12' });
    t.is(r.code, 0, r.messages.slice(-1500));
    const digits = () => bs.events.filter((e) => e.type === 'CALL_DTMF_START').map((e) => e.param);
    await bs.waitEvent(() => digits().length >= 3, 5000).catch(() => undefined);
    t.deepEqual(digits(), ['5', '1', '2'], 'INFO 5 interworked to RFC 4733, then RFC 2833 1 and 2 renumbered 96 -> 101');
  } finally {
    await bs.stop();
  }
});
