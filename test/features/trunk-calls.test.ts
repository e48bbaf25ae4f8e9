/**
 * Calls through SIP trunks and the dial plan, with sipp as the carriers (UAS answering, refusing
 * or silent, each on its own loopback address) and as the phones and the carrier's callers.
 */
import test from 'ava';
import { portBlock } from '../helpers/ports.js';
import { runSipp, startSipp, SCENARIOS, uasStatusScenario, type SippRun } from '../helpers/sipp.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { ulawSilence } from '../helpers/audio.js';
import { join } from 'node:path';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { KAMAILIO_CFG, scenario } from '../helpers/peers.js';

const port = portBlock(41);
const DIAL = scenario('uac_dial.xml');
const CARRIER = scenario('uac_carrier.xml');
const REG = scenario('register_keys.xml');
const ANSWER = join(SCENARIOS, 'uas_answer.xml');

// Carriers: each sipp UAS on its own address, so the node tells them apart by source.
const A = { ip: '127.0.0.2', port: port(1) }; // answers 503, then (second test) answers
const B = { ip: '127.0.0.3', port: port(2) }; // answers
const C = { ip: '127.0.0.4', port: port(3) }; // one channel, for the busy tests
const D = { ip: '127.0.0.5', port: port(4) }; // the alternate route
const SILENT = { ip: '127.0.0.6', port: port(5) }; // nothing listens
const GUARDED = { ip: '127.0.0.10', port: port(8) }; // challenges our INVITE
const KAM = { ip: '127.0.0.7', port: port(7) }; // Kamailio: the carrier's registrar and proxy
const FAR = { ip: '127.0.0.8', port: port(6) }; // the far end behind Kamailio
const CHALLENGE = scenario('uas_challenge.xml');

const yaml = `
trunks:
  - { name: carrierA, lineGroup: 1, type: peer, host: ${A.ip}, port: ${A.port}, keepaliveSeconds: 0 }
  - { name: carrierB, lineGroup: 2, type: peer, host: ${B.ip}, port: ${B.port}, keepaliveSeconds: 0 }
  - { name: carrierC, lineGroup: 3, type: peer, host: ${C.ip}, port: ${C.port}, keepaliveSeconds: 0, maxChannels: 1 }
  - { name: carrierD, lineGroup: 4, type: peer, host: ${D.ip}, port: ${D.port}, keepaliveSeconds: 0 }
  - { name: silent, lineGroup: 5, type: peer, host: ${SILENT.ip}, port: ${SILENT.port}, keepaliveSeconds: 0, setupTimeoutSeconds: 2 }
  - { name: guarded, lineGroup: 7, type: peer, host: ${GUARDED.ip}, port: ${GUARDED.port}, keepaliveSeconds: 0, username: acct, password: s3cret }
  - { name: kam, lineGroup: 6, type: registration, host: ${KAM.ip}, port: ${KAM.port}, username: pbxtrunk, password: secret, keepaliveSeconds: 0, registerRetrySeconds: 1, registerRetryMaxSeconds: 2, registerExpires: 300 }
dialPlan:
  timeProfiles:
    - { name: never, dates: [{ date: "2000-01-01" }] }
  callClasses:
    - { name: premium, patterns: ["09N"] }
    - { name: international, patterns: ["00N"] }
    - { name: national, patterns: ["0N"] }
    - { name: local, patterns: ["N"] }
  userRights:
    - { name: local-only, classes: [internal, local] }
  shortCodes:
    - { code: "9N", feature: dial, number: "N", ars: main }
    - { code: "7N", feature: dial, number: "N", ars: busy }
    - { code: "6N", feature: dial, number: "N", ars: office }
    - { code: "5N", feature: dial, number: "N", ars: flaky }
    - { code: "3N", feature: dial, number: "N", lineGroup: 7 }
    - { code: "4N", feature: dial, number: "N", lineGroup: 6 }
  arsForms:
    - name: main
      shortCodes:
        - { code: "N", feature: dial, number: "N", lineGroup: 1 }
        - { code: "N", feature: dial, number: "N", lineGroup: 2 }
    - name: busy
      alternateRoute: alt
      alternatePriority: 3
      alternateWaitSeconds: 20
      shortCodes: [{ code: "N", feature: dial, number: "N", lineGroup: 3 }]
    - name: alt
      shortCodes: [{ code: "N", feature: dial, number: "N", lineGroup: 4 }]
    - name: office
      timeProfile: never
      outOfHoursRoute: alt
      shortCodes: [{ code: "N", feature: dial, number: "N", lineGroup: 2 }]
    - name: flaky
      shortCodes:
        - { code: "N", feature: dial, number: "N", lineGroup: 5 }
        - { code: "N", feature: dial, number: "N", lineGroup: 4 }
  incomingCallRoutes:
    - { lineGroup: 1, incomingNumber: "4567", destination: "204" }
    - { lineGroup: 1, incomingNumber: "4568", destination: "206", fallback: "207" }
    - { lineGroup: 6, destination: "209" }
`;

const users = [
  '  - { extension: "201", password: demo201, priority: 1 }',
  '  - { extension: "202", password: demo202, priority: 5 }',
  '  - { extension: "203", password: demo203 }',
  '  - { extension: "204", password: demo204 }',
  '  - { extension: "205", password: demo205, rights: local-only }',
  '  - { extension: "206", password: demo206, doNotDisturb: true }',
  '  - { extension: "207", password: demo207 }',
  '  - { extension: "208", password: demo208, rights: local-only, forward: { all: "900441234567" } }',
  '  - { extension: "209", password: demo209 }',
  '  - { extension: "210", password: demo210, forward: { busy: "91234567" } }',
  '  - { extension: "211", password: demo211, rights: local-only, forward: { noAnswer: "91234568", noAnswerSeconds: 5 } }',
  '  - { extension: "212", password: demo212, rights: local-only, forward: { busy: "900441234567" } }',
].join('\n');

let node: TestServer;
let silence: string;
test.before(async () => {
  node = await startServer({ udp: port(0), yaml, users: `${users}` });
  silence = `${ulawSilence(node.dir)},-1,0`;
});
test.after.always(() => node?.close());

/** A user dials `number`; resolves with the final statuses the phone saw. */
async function dial(user: string, number: string, localPort: number, talkMs = 500) {
  const r = await runSipp([`127.0.0.1:${port(0)}`, '-sf', DIAL, '-s', number, '-au', user, '-ap', `demo${user}`,
    '-key', 'caller', user, '-key', 'rtp_file', silence, '-d', String(talkMs),
    '-i', '127.0.0.1', '-p', String(localPort), '-mi', '127.0.0.1', '-mp', String(localPort + 100), '-m', '1'], { timeoutMs: 40_000, trace: true });
  return { code: r.code, statuses: finals(r.messages), messages: r.messages };
}

const finals = (trace: string) => [...trace.matchAll(/^SIP\/2\.0 ([2-6]\d\d) (.*)$/gm)].map((m) => `${m[1]} ${m[2].trim()}`).filter((s) => !s.startsWith('407'));

/** A carrier answering calls (sipp UAS) on `at`, for `calls` calls. */
function carrier(at: { ip: string; port: number }, calls: number, scenario = ANSWER): SippRun {
  return startSipp(['-sf', scenario, '-i', at.ip, '-p', String(at.port), '-m', String(calls)], { timeoutMs: 40_000, trace: true });
}

const logged = (re: RegExp) => node.logger.records.filter((r) => re.test(String(r.message)));
const settle = () => new Promise((r) => setTimeout(r, 300));

test.serial('9N through ARS: the first trunk answers 503, the call moves to the second trunk and connects', async (t) => {
  const a = carrier(A, 1, uasStatusScenario(node.dir, 503, 'Service Unavailable'));
  const b = carrier(B, 1);
  await settle();
  const r = await dial('201', '9012345', port(10));
  t.true(r.statuses.some((s) => s.startsWith('200')), r.statuses.join(', '));
  t.is((await a.done).code, 0, 'carrier A refused once, its 503 ACKed');
  const rb = await b.done;
  t.is(rb.code, 0, 'carrier B answered and got BYE');
  t.regex(rb.messages, /INVITE sip:012345@/, 'the number after the 9 reached the carrier');
  t.is(node.server.calls.active, 0);
});

test.serial('a route that never answers fails over after its setup time, not the no-answer time', async (t) => {
  const d = carrier(D, 1);
  await settle();
  const started = Date.now();
  const r = await dial('201', '5777', port(20));
  t.true(r.statuses.some((s) => s.startsWith('200')), r.statuses.join(', '));
  t.is((await d.done).code, 0);
  t.true(Date.now() - started < 15_000, 'moved on after about 2 s of silence');
  t.true(logged(/silent gave no answer within its setup time/).length > 0);
});

test.serial('every route busy: a priority-1 user takes the alternate route at once, a priority-5 user camps on and takes the freed route', async (t) => {
  const c = carrier(C, 2);
  const d = carrier(D, 1);
  await settle();
  // 203 holds carrierC's only channel for 5 s
  const holder = dial('203', '7111', port(30), 5000);
  await new Promise((r) => setTimeout(r, 1500));
  t.false(node.server.trunks.available(3), 'carrierC is full');
  const quick = await dial('201', '7222', port(40));
  t.true(quick.statuses.some((s) => s.startsWith('200')), quick.statuses.join(', '));
  const rd = await d.done;
  t.regex(rd.messages, /INVITE sip:222@/, 'priority 1 went to the alternate route (carrierD) at once');
  const waitStart = Date.now();
  const patient = dial('202', '7333', port(50));
  const held = await holder;
  t.true(held.statuses.some((s) => s.startsWith('200')));
  const p = await patient;
  t.true(p.statuses.some((s) => s.startsWith('200')), p.statuses.join(', '));
  t.regex(p.messages, /^SIP\/2\.0 183 /m, 'camp-on tone as early media');
  const rc = await c.done;
  t.regex(rc.messages, /INVITE sip:333@/, 'priority 5 waited and took carrierC when it freed up');
  t.true(Date.now() - waitStart < 15_000, 'it did not wait out the 20 s alternate wait');
  t.true(logged(/camping on/).length > 0);
});

test.serial('out of hours: the form with an inactive time profile sends the call to its out-of-hours route', async (t) => {
  const d = carrier(D, 1);
  await settle();
  const r = await dial('201', '6444', port(60));
  t.true(r.statuses.some((s) => s.startsWith('200')), r.statuses.join(', '));
  t.regex((await d.done).messages, /INVITE sip:444@/, 'carrierD (the out-of-hours route) got the call');
});

test.serial('an incoming DID reaches its extension; one whose extension is busy reaches the fallback', async (t) => {
  const phone = async (ext: string, p: number) => {
    const r = await runSipp([`127.0.0.1:${port(0)}`, '-sf', REG, '-s', ext, '-au', ext, '-ap', `demo${ext}`,
      '-key', 'contact', `<sip:${ext}@127.0.0.1:${p}>`, '-key', 'expires', '300', '-key', 'extra', 'X-Test: 1',
      '-i', '127.0.0.1', '-p', String(p), '-m', '1'], { timeoutMs: 10_000 });
    if (r.code !== 0) throw new Error(`${ext} did not register`);
    return startSipp(['-sf', ANSWER, '-i', '127.0.0.1', '-p', String(p), '-m', '1'], { timeoutMs: 30_000, trace: true });
  };
  const p204 = await phone('204', port(70));
  const p207 = await phone('207', port(71));
  await settle();
  const call = (did: string, p: number) => runSipp([`127.0.0.1:${port(0)}`, '-sf', CARRIER, '-s', did, '-key', 'caller', '02079460000',
    '-key', 'rtp_file', silence, '-d', '500', '-i', A.ip, '-p', String(p), '-mi', A.ip, '-mp', String(p + 100), '-m', '1'], { timeoutMs: 30_000, trace: true });
  const r1 = await call('01234567', port(72));
  t.true(finals(r1.messages).some((s) => s.startsWith('200')), finals(r1.messages).join(', '));
  t.regex((await p204.done).messages, /From: .*02079460000/, '204 sees the caller\'s number');
  const r2 = await call('01234568', port(73));
  t.true(finals(r2.messages).some((s) => s.startsWith('200')), finals(r2.messages).join(', '));
  t.is((await p207.done).code, 0, '206 is in do not disturb: the fallback 207 answered');
  t.like(node.server.records.query({ number: '01234568' })[0], { direction: 'incoming', disposition: 'answered' });
});

test.serial('an INVITE from an address that is no trunk peer is challenged like any user (407, one packet) and makes no call', async (t) => {
  const r = await runSipp([`127.0.0.1:${port(0)}`, '-sf', CARRIER, '-s', '01234567', '-key', 'caller', '0800123',
    '-key', 'rtp_file', silence, '-i', '127.0.0.9', '-p', String(port(80)), '-mi', '127.0.0.9', '-mp', String(port(81)), '-m', '1'], { timeoutMs: 15_000, trace: true });
  t.deepEqual(finals(r.messages), [], 'no other answer than the challenge');
  t.is((r.messages.match(/^SIP\/2\.0 407 /gm) ?? []).length, 1, 'one challenge, not retransmitted');
  t.regex(r.messages, /^Proxy-Authenticate: Digest /m);
  t.is(node.server.calls.active, 0);
});

test.serial('barring: an international number is refused to a local-only user, also through call forwarding; a user without limits gets through', async (t) => {
  const barred = await dial('205', '900441234567', port(90));
  t.deepEqual(barred.statuses.map((s) => s.slice(0, 3)), ['403'], barred.statuses.join(', '));
  t.regex(barred.statuses[0], /international/);
  // a local number is allowed to 205: main's first route, carrierA, answers
  const a = carrier(A, 1);
  await settle();
  const ok = await dial('205', '91234567', port(91));
  t.true(ok.statuses.some((s) => s.startsWith('200')), ok.statuses.join(', '));
  t.regex((await a.done).messages, /INVITE sip:1234567@/);
  // 208 (local-only) forwards everything to 9 00441234567: a call to 208 does not go out
  const fwd = await dial('201', '208', port(92));
  t.deepEqual(fwd.statuses.map((s) => s.slice(0, 3)), ['403'], fwd.statuses.join(', '));
  t.regex(fwd.statuses[0], /international/);
  // 201 has no rights limits: the same number connects
  const b = carrier(A, 1);
  await settle();
  const free = await dial('201', '900441234567', port(93));
  t.true(free.statuses.some((s) => s.startsWith('200')), free.statuses.join(', '));
  await b.done;
});

/** A phone for `ext` at 127.0.0.1:p running `sf` (registered first). */
async function phoneAt(ext: string, p: number, sf: string) {
  const reg = await runSipp([`127.0.0.1:${port(0)}`, '-sf', REG, '-s', ext, '-au', ext, '-ap', `demo${ext}`,
    '-key', 'contact', `<sip:${ext}@127.0.0.1:${p}>`, '-key', 'expires', '300', '-key', 'extra', 'X-Test: 1',
    '-i', '127.0.0.1', '-p', String(p), '-m', '1'], { timeoutMs: 10_000 });
  if (reg.code !== 0) throw new Error(`${ext} did not register`);
  return startSipp(['-sf', sf, '-i', '127.0.0.1', '-p', String(p), '-mi', '127.0.0.1', '-mp', String(p + 100), '-m', '1'], { timeoutMs: 30_000, trace: true });
}

test.serial('forward on busy and on no answer to a number outside go out through ARS with the forwarding user\'s rights', async (t) => {
  // 210 is busy (its phone answers 486): forwarded to 9 1234567, carrierA answers
  const busy = await phoneAt('210', port(120), uasStatusScenario(node.dir, 486, 'Busy Here'));
  const a = carrier(A, 1);
  await settle();
  const r = await dial('201', '210', port(121));
  t.true(r.statuses.some((s) => s.startsWith('200')), r.statuses.join(', '));
  t.is((await busy.done).code, 0, '210 was offered the call and said busy');
  t.regex((await a.done).messages, /INVITE sip:1234567@/, 'the forward-on-busy number reached the carrier');
  t.true(logged(/210 forwards calls while busy to 91234567: out through the dial plan/).length > 0);
  // 211 (local-only) does not answer within 5 s: forwarded to 9 1234568, a local number it may call
  const ringing = await phoneAt('211', port(122), scenario('uas_ring.xml'));
  const a2 = carrier(A, 1);
  await settle();
  const started = Date.now();
  const r2 = await dial('202', '211', port(123));
  t.true(r2.statuses.some((s) => s.startsWith('200')), r2.statuses.join(', '));
  t.true(Date.now() - started >= 5000, 'it rang the no-answer time first');
  t.regex((await a2.done).messages, /INVITE sip:1234568@/);
  await ringing.stop();
  // 212 (local-only) forwards busy to an international number: barred, the caller gets 403
  const busy2 = await phoneAt('212', port(124), uasStatusScenario(node.dir, 486, 'Busy Here'));
  const r3 = await dial('201', '212', port(125));
  t.deepEqual(r3.statuses.map((s) => s.slice(0, 3)).filter((s) => s !== '181'), ['403'], r3.statuses.join(', '));
  t.regex(r3.statuses.at(-1)!, /international calls are barred for 212/);
  await busy2.stop();
});

test.serial('a carrier that challenges our INVITE gets the trunk account\'s digest credentials and connects', async (t) => {
  const g = startSipp(['-sf', CHALLENGE, '-i', GUARDED.ip, '-p', String(GUARDED.port), '-set', 'user', 'acct', '-set', 'pass', 's3cret', '-m', '1'], { timeoutMs: 30_000, trace: true });
  await settle();
  const r = await dial('201', '3555', port(100));
  const rg = await g.done;
  t.true(r.statuses.some((s) => s.startsWith('200')), r.statuses.join(', ') + rg.messages.slice(0, 3000));
  t.is(rg.code, 0, 'the carrier verified our credentials');
  t.regex(rg.messages, /Authorization: Digest username="acct"/);
  t.false(node.logger.records.some((x) => JSON.stringify(x).includes('s3cret')), 'no password in the logs');
});

test.serial('Kamailio as the carrier: the registration trunk registers, a call goes out through it and one comes in to the routed extension', async (t) => {
  const kdir = mkdtempSync(join(tmpdir(), 'kam-'));
  const far = startSipp(['-sf', ANSWER, '-i', FAR.ip, '-p', String(FAR.port), '-m', '1'], { timeoutMs: 40_000, trace: true });
  const k = spawnSync('kamailio', ['-f', KAMAILIO_CFG, '-A', `LISTEN=udp:${KAM.ip}:${KAM.port}`, '-A', `PBX_URI="sip:${FAR.ip}:${FAR.port}"`,
    '-Y', kdir, '-P', join(kdir, 'k.pid'), '-E'], { stdio: 'ignore' });
  t.is(k.status, 0, 'kamailio started');
  try {
    const kam = () => node.server.trunks.status().find((s) => s.name === 'kam')!;
    for (let i = 0; i < 100 && kam().registration !== 'registered'; i++) await new Promise((r) => setTimeout(r, 100));
    t.like(kam(), { registration: 'registered', state: 'in-service' });
    // out: 201 dials 4 0123 -> line group 6 -> Kamailio -> the far end
    const out = await dial('201', '40123', port(110));
    t.true(out.statuses.some((s) => s.startsWith('200')), out.statuses.join(', '));
    t.regex((await far.done).messages, /INVITE sip:0123@/, 'the far end got the number through Kamailio');
    // in: a caller at the carrier calls our account; Kamailio finds our registration and relays
    const phone = await runSipp([`127.0.0.1:${port(0)}`, '-sf', REG, '-s', '209', '-au', '209', '-ap', 'demo209',
      '-key', 'contact', `<sip:209@127.0.0.1:${port(111)}>`, '-key', 'expires', '300', '-key', 'extra', 'X-Test: 1',
      '-i', '127.0.0.1', '-p', String(port(111)), '-m', '1'], { timeoutMs: 10_000 });
    t.is(phone.code, 0);
    const p209 = startSipp(['-sf', ANSWER, '-i', '127.0.0.1', '-p', String(port(111)), '-m', '1'], { timeoutMs: 30_000, trace: true });
    await settle();
    const inc = await runSipp([`${KAM.ip}:${KAM.port}`, '-sf', CARRIER, '-s', 'pbxtrunk', '-key', 'caller', '0161496000',
      '-key', 'rtp_file', silence, '-d', '500', '-i', '127.0.0.11', '-p', String(port(112)), '-mi', '127.0.0.11', '-mp', String(port(113)), '-m', '1'], { timeoutMs: 30_000, trace: true });
    t.true(finals(inc.messages).some((s) => s.startsWith('200')), finals(inc.messages).join(', '));
    t.regex((await p209.done).messages, /From: .*0161496000/, '209 answered the call from the carrier and saw the caller');
  } finally {
    try {
      process.kill(Number(readFileSync(join(kdir, 'k.pid'), 'utf8')));
    } catch { /* not running */ }
    await far.stop();
  }
});
