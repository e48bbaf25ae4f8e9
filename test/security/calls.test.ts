/**
 * Attacks through calls, each beside the legitimate caller it must not stop: one account holding
 * every conference channel with silent calls that never hang up (defect 7), the same with calls
 * between users (the B2BUA's anchored media), and a carrier's caller reaching an outside line
 * through a DID with no route (13).
 */
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { portBlock } from '../helpers/ports.js';
import { runSipp, startSipp, scenario, traced } from '../helpers/sipp.js';
import { startServer } from '../helpers/server.js';
import { ulawSilence } from '../helpers/audio.js';
import { eventually, sleep, until } from '../helpers/wait.js';

const port = portBlock(134);
const UNTIL_BYE = scenario('uac_until_bye.xml');
const HOLD = scenario('uac_conf_hold.xml');
const CARRIER = scenario('uac_carrier.xml');
const ANSWER = scenario('uas_answer.xml');
const REG = scenario('register_keys.xml');

/** Final answers to INVITEs in a sipp trace (the 407 challenge left out). */
const finals = (trace: string) => [...trace.matchAll(/^SIP\/2\.0 ([2-6]\d\d) (.*)$/gm)].filter((m) => m[1] !== '407').map((m) => `${m[1]} ${m[2]!.trim()}`);

test.serial('defect 7: one account cannot hold every conference channel with silent calls; they are hung up and others get in', async (t) => {
  const node = await startServer({
    udp: port(0), media: 'rtpTimeoutSeconds: 2',
    yaml: 'calls: { maxCallsPerUser: 4 }\nconference: { maxChannels: 6 }',
  });
  try {
    const conf = () => node.server.status().conferences as { parties: number; channelsInUse: number };
    // 201 opens ten calls to room 8000, sends one packet of audio and then nothing, and never hangs up
    const blip = join(node.dir, 'blip.ulaw');
    writeFileSync(blip, Buffer.alloc(160, 0xff));
    const attack = startSipp([`127.0.0.1:${port(0)}`, '-sf', UNTIL_BYE, '-s', '8000', '-au', '201', '-ap', 'demo201',
      '-key', 'caller', '201', '-key', 'rtp_file', `${blip},1,0`,
      '-i', '127.0.0.1', '-p', String(port(10)), '-mi', '127.0.0.1', '-mp', String(port(12)), '-r', '20', '-l', '10', '-m', '10'], { timeoutMs: 30_000, trace: true });
    await until('the attacker to hold its calls', () => conf().parties === 4, 10_000, { detail: () => JSON.stringify(conf()) + node.logger.records.slice(-30).map((r) => r.message).join('\n') });
    // the legitimate caller joins the same room and talks (RTP) while the silent ones are held
    const legit = startSipp([`127.0.0.1:${port(0)}`, '-sf', HOLD, '-s', '8000', '-au', '202', '-ap', 'demo202',
      '-key', 'caller', '202', '-key', 'codec_pt', '0', '-key', 'codec', 'PCMU', '-key', 'rtp_file', `${ulawSilence(node.dir)},-1,0`,
      '-d', '4000', '-i', '127.0.0.1', '-p', String(port(20)), '-mi', '127.0.0.1', '-mp', String(port(22)), '-m', '1'], { timeoutMs: 20_000, trace: true });
    const a = await attack.done;
    const refused = finals(a.messages).filter((s) => s.startsWith('403'));
    t.is(refused.length, 6, finals(a.messages).join(' | '));
    t.is(refused[0], '403 Forbidden (at most 4 calls at once for 201)');
    t.is((a.messages.match(/^BYE sip:/gm) ?? []).length, 4, 'the four silent calls were hung up by the server');
    const l = await legit.done;
    t.is(l.code, 0, 'the legitimate caller was answered, talked for 4 s and hung up itself');
    t.deepEqual(finals(l.messages).slice(0, 1), ['200 OK']);
    t.regex(l.messages, /^Session-Expires: 1800;refresher=uas/m, 'a session timer runs on every answered call (RFC 4028): we refresh, sipp cannot');
    t.true(await eventually(() => conf().channelsInUse === 0, 3000), 'every channel free again');
    t.truthy(node.server.alarms.list('calls.user-limit').find((x) => x.key === '201'));
  } finally {
    await node.close();
  }
});

test.serial('defect 13: a DID without a route never reaches an outside line; the default destination and the line\'s rights apply', async (t) => {
  const carrierIp = '127.0.7.1';
  const trunk = port(40);
  const yaml = `trunks:
  - { name: carrier, lineGroup: 1, type: peer, host: ${carrierIp}, port: ${trunk}, keepaliveSeconds: 0, allowTrunkToTrunk: true, rights: local-only }
dialPlan:
  incomingDefault: "8000"
  callClasses: [{ name: local, patterns: ["1N"] }, { name: international, patterns: ["00N"] }]
  userRights: [{ name: local-only, classes: [internal, local] }]
  shortCodes:
    - { code: "80XX", feature: meetMe, number: "80N" }
    - { code: "9N", feature: dial, number: "N", lineGroup: 1 }
  incomingCallRoutes:
    - { lineGroup: 1, incomingNumber: "5555", destination: "90044123456" }
    - { lineGroup: 1, incomingNumber: "6666", destination: "9123456" }`;
  const node = await startServer({ udp: port(30), yaml });
  const silence = `${ulawSilence(node.dir)},-1,0`;
  const call = (did: string, p: number) => runSipp([`127.0.0.1:${port(30)}`, '-sf', CARRIER, '-s', did, '-key', 'caller', '0800123',
    '-key', 'rtp_file', silence, '-d', '500', '-i', carrierIp, '-p', String(p), '-mi', carrierIp, '-mp', String(p + 2), '-m', '1'], { timeoutMs: 15_000, trace: true });
  try {
    // the carrier's own registrar side: anything routed out would ring here
    const out = startSipp(['-sf', ANSWER, '-i', carrierIp, '-p', String(trunk), '-m', '1'], { timeoutMs: 30_000, trace: true });
    await sleep(300);
    const dialOut = await call('9012345678', port(50));
    t.is(finals(dialOut.messages)[0], '200 OK', 'the dial-out code is not reached: the call goes to the default (the operator room)');
    t.true(node.logger.records.some((r) => /^incoming call on trunk carrier: 0800123 -> 9012345678 routed to 8000$/.test(String(r.message))));
    const barred = await call('5555', port(60));
    t.regex(finals(barred.messages)[0] ?? '', /^403 Forbidden \(international calls are barred for trunk carrier\)/, 'a route out is barred by the line\'s rights');
    // a route out that the line's rights allow does go out: the carrier's far end answers
    const allowed = await call('6666', port(70));
    t.is(finals(allowed.messages)[0], '200 OK');
    const far = await out.done;
    t.regex(far.messages, /INVITE sip:123456@/, 'only the routed, allowed number went out');
    t.is((far.messages.match(/^INVITE /gm) ?? []).length, 1);
  } finally {
    await node.close();
  }
});

test.serial('defect 7, calls between users: an answered call whose parties went silent is hung up on both sides; a talking call goes on', async (t) => {
  const node = await startServer({ udp: port(100), media: 'rtpTimeoutSeconds: 2' });
  const register = (ext: string, p: number) => runSipp([`127.0.0.1:${port(100)}`, '-sf', REG, '-s', ext, '-au', ext, '-ap', `demo${ext}`,
    '-key', 'contact', `<sip:${ext}@127.0.0.1:${p}>`, '-key', 'expires', '300', '-key', 'extra', 'X-Test: 1', '-i', '127.0.0.1', '-p', String(p), '-m', '1'], { timeoutMs: 10_000 });
  // the callees echo what they are sent: a call's parties are silent together, or talk together
  const callee = (p: number) => startSipp(['-sf', ANSWER, '-i', '127.0.0.1', '-p', String(p), '-mi', '127.0.0.1', '-mp', String(p + 2), '-rtp_echo', '-m', '1'], { timeoutMs: 30_000, trace: true });
  try {
    t.is((await register('202', port(110))).code, 0);
    t.is((await register('204', port(120))).code, 0);
    const silentCallee = callee(port(110));
    const talkingCallee = callee(port(120));
    const blip = join(node.dir, 'blip.ulaw');
    writeFileSync(blip, Buffer.alloc(160, 0xff));
    // 201 calls 202, sends one packet and then nothing, and never hangs up
    const silent = startSipp([`127.0.0.1:${port(100)}`, '-sf', UNTIL_BYE, '-s', '202', '-au', '201', '-ap', 'demo201', '-key', 'caller', '201',
      '-key', 'rtp_file', `${blip},1,0`, '-i', '127.0.0.1', '-p', String(port(130)), '-mi', '127.0.0.1', '-mp', String(port(132)), '-m', '1'], { timeoutMs: 20_000, trace: true });
    // 203 calls 204 and talks for 6 s (three times the timeout), then hangs up itself
    const talking = startSipp([`127.0.0.1:${port(100)}`, '-sf', HOLD, '-s', '204', '-au', '203', '-ap', 'demo203', '-key', 'caller', '203',
      '-key', 'codec_pt', '0', '-key', 'codec', 'PCMU', '-key', 'rtp_file', `${ulawSilence(node.dir)},-1,0`,
      '-d', '6000', '-i', '127.0.0.1', '-p', String(port(140)), '-mi', '127.0.0.1', '-mp', String(port(142)), '-m', '1'], { timeoutMs: 20_000, trace: true });
    const s = await silent.done;
    t.is(s.code, 0, 'the silent caller was hung up by the server (BYE)');
    t.true(traced((await silentCallee.done).messages).some((m) => m.received && m.text.startsWith('BYE ')), 'and so was the callee');
    t.true(node.logger.records.some((r) => /^call ended: .*no RTP for \d+ s$/.test(String(r.message))), 'the log says why');
    const l = await talking.done;
    t.is(l.code, 0, 'the talking call went on until its caller hung up');
    t.false(traced(l.messages).some((m) => m.received && m.text.startsWith('BYE ')), 'the server sent the talking caller no BYE');
    await talkingCallee.done;
    t.true(await eventually(() => node.server.status().calls === 0, 3000));
  } finally {
    await node.close();
  }
});
