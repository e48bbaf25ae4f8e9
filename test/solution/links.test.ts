/**
 * Node links between two nodes of a solution in this process (a primary and an expansion on
 * loopback addresses of their own), with baresip phones and sipp: the link comes up with its
 * credentials, a call crosses it with both parties hearing each other and the caller's name and
 * number, DTMF and hold intact; the link's credentials are refused from anywhere but the
 * peer's address, and a wrong password is refused from there. Each node's admin API shows the
 * links and the other nodes; a change through the primary's API reaches the expansion. The
 * primary stopped, the expansion's link to it goes down.
 */
import test from 'ava';
import { MOH_FREQUENCIES } from '../../src/features/calls/tones.js';
import { linkPassword } from '../../src/solution/links.js';
import { portBlock } from '../helpers/ports.js';
import { startPhone, lastHeard, type Baresip } from '../helpers/baresip.js';
import { runSipp, scenario } from '../helpers/sipp.js';
import { ulawSilence } from '../helpers/audio.js';
import { hasTone, toneRatio } from '../helpers/tone.js';
import { TestSolution } from '../helpers/solution.js';
import { ADMIN_PASSWORD, http, login } from '../helpers/admin.js';
import { sleep, until, untilValue } from '../helpers/wait.js';

const port = portBlock(117);
const ADMIN = { pri: port(150), exp1: port(151) };
const sol = new TestSolution(7, [
  // the primary relays one call at a time: a second call over the link finds its channels in use
  { name: 'pri', role: 'primary', profile: 'DL360', overrides: `{ admin: { enabled: true, port: ${ADMIN.pri} }, calls: { maxChannels: 1 } }` },
  { name: 'exp1', role: 'expansion', profile: 'ExpansionL', overrides: `{ admin: { enabled: true, port: ${ADMIN.exp1} } }` },
], `bus: { heartbeatSeconds: 1, holdDownSeconds: 3, password: links-test-16 }
links: { keepaliveSeconds: 1 }
admin: { enabled: false }
media: { portMin: 41000, portMax: 41999 }
users:
  - { extension: "201", name: "Alice Primary", password: demo201 }
  - { extension: "301", name: "Bob Expansion", password: demo301, node: exp1 }
`);

let phoneSeq = 0;
async function phone(ext: string, node: string, freq: number): Promise<Baresip> {
  const i = phoneSeq++;
  return startPhone({ dir: sol.dir, ext, listen: `${sol.here}:${port(10 + 4 * i)}`, ctrlPort: port(100 + i), freq, server: `${sol.addr(node)}:5060`, answer: 'auto' });
}

const idle = () => until('the calls are over on both nodes', () => sol.node('pri').calls.active === 0 && sol.node('exp1').calls.active === 0);

test.before(async () => {
  await sol.start();
  await sol.linksUp();
});

test.after.always(async () => {
  await sol.close();
});

test.serial('the link is up on both nodes, with its peer', (t) => {
  t.like(sol.node('exp1').solution!.linkStatus()[0], { node: 'pri', role: 'primary', state: 'up', address: `${sol.addr('pri')}:5060` });
  t.like(sol.node('pri').solution!.linkStatus()[0], { node: 'exp1', role: 'expansion', state: 'up', address: `${sol.addr('exp1')}:5060` });
  t.like(sol.node('pri').status().solution, { links: [{ node: 'exp1', state: 'up' }] });
});

test.serial('a phone on the expansion calls a phone on the primary: each hears the other, the callee sees who calls', async (t) => {
  const a = await phone('301', 'exp1', 1000);
  const b = await phone('201', 'pri', 440);
  try {
    a.command('dial', `sip:201@${sol.addr('exp1')}:5060`);
    const established = await b.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 15_000);
    t.like(established, { peerdisplayname: 'Bob Expansion' });
    t.regex(String(established.peeruri), /^sip:301@/, "the callee's phone shows the caller's number");
    await sleep(2500);
    a.command('hangup');
    await b.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
    await sleep(300);
    t.true(hasTone(await lastHeard(a), 440, 0.3), '301 hears 201');
    t.true(hasTone(await lastHeard(b), 1000, 0.3), '201 hears 301');
    await idle();
    t.like(sol.node('exp1').records.query({ number: '301' })[0], { callerNumber: '301', connectedNumber: '201', disposition: 'answered' });
    t.like(sol.node('pri').records.query({ number: '201' })[0], { callerNumber: '301', connectedNumber: '201', disposition: 'answered' });
  } finally {
    await a.stop();
    await b.stop();
  }
});

test.serial('DTMF and hold cross the link: digits reach the far phone, the held party hears music, then the other again', async (t) => {
  const a = await phone('201', 'pri', 1000);
  const b = await phone('301', 'exp1', 440);
  try {
    a.command('dial', `sip:301@${sol.addr('pri')}:5060`);
    await b.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 15_000);
    await sleep(1000);
    for (const d of '57') {
      a.command('sndcode', d);
      await sleep(300);
    }
    const digits = () => b.events.filter((e) => e.type === 'CALL_DTMF_START').map((e) => e.param);
    await b.waitEvent(() => digits().length >= 2, 5000).catch(() => undefined);
    t.deepEqual(digits(), ['5', '7'], 'the digits 201 pressed reach 301 over the link');
    // 201 holds: 301, on the other node, hears music on hold and not 201
    a.command('hold');
    await sleep(3000);
    a.command('resume');
    await sleep(2000);
    a.command('hangup');
    await b.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
    await sleep(300);
    const heard = await lastHeard(b);
    const blocks: { moh: number; caller: number }[] = [];
    for (let i = 0; i + 4000 <= heard.length; i += 4000) {
      const blk = heard.subarray(i, i + 4000);
      blocks.push({ moh: MOH_FREQUENCIES.reduce((sum, f) => sum + toneRatio(blk, f), 0), caller: toneRatio(blk, 1000) });
    }
    const held = (x: { moh: number; caller: number }) => x.moh > 0.3 && x.caller < 0.05;
    const firstHeld = blocks.findIndex((x, i) => held(x) && blocks[i + 1] && held(blocks[i + 1]!) && blocks[i + 2] && held(blocks[i + 2]!));
    t.true(firstHeld > 0, `music on hold, and not the holding party, heard while held: ${blocks.map((x) => `${x.moh.toFixed(2)}/${x.caller.toFixed(2)}`).join(' ')}`);
    t.true(blocks.slice(firstHeld + 3).some((x) => x.caller > 0.5 && x.moh < 0.05), 'after resume 201 is heard again, without music');
    await idle();
  } finally {
    await a.stop();
    await b.stop();
  }
});

test.serial("the link's credentials are taken only from the peer's address, and a wrong password is refused there", async (t) => {
  const good = linkPassword('links-test-16', 'pri', 'exp1');
  const invite = (from: string, password: string, p: number) => runSipp([
    `${sol.addr('pri')}:5060`, '-sf', scenario('uac_link_refused.xml'), '-s', '201', '-au', 'link-exp1', '-ap', password,
    '-i', from, '-p', String(p), '-m', '1', '-key', 'caller', '301',
  ], { timeoutMs: 15_000, trace: true });
  const log = sol.logs.get('pri')!;
  // from the test's own address: no link; the link's credentials are no user's, so the caller is only challenged again
  const elsewhere = await invite(sol.here, good, port(60));
  t.is(elsewhere.code, 0, elsewhere.stderr);
  t.is([...elsewhere.messages.matchAll(/^SIP\/2\.0 407 /gm)].length >= 2, true, 'challenged again after answering with the link credentials');
  t.notRegex(elsewhere.messages, /^SIP\/2\.0 (18\d|200) /m, 'never rings or connects');
  // from the expansion's address with a wrong password: refused, and said so
  const wrong = await invite(sol.addr('exp1'), 'not-the-link-password', port(61));
  t.regex(wrong.messages, /SIP\/2\.0 407/, wrong.stderr);
  t.regex(wrong.messages, /SIP\/2\.0 403 Forbidden \(node link credentials refused\)/);
  t.true(log.records.some((r) => r.message === 'security: node link credentials refused' && r.link === 'exp1'));
  await idle();
});

test.serial("the primary's channels all in use: a call from the expansion is refused with the primary's reason, and the primary logs a warning", async (t) => {
  const a = await phone('301', 'exp1', 1000);
  const b = await phone('201', 'pri', 440);
  try {
    a.command('dial', `sip:201@${sol.addr('exp1')}:5060`);
    await b.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 15_000);
    const silence = `${ulawSilence(sol.dir)},-1,0`;
    const r = await runSipp([`${sol.addr('exp1')}:5060`, '-sf', scenario('uac_dial.xml'), '-s', '201', '-au', '301', '-ap', 'demo301', '-key', 'caller', '301',
      '-key', 'rtp_file', silence, '-d', '500', '-i', sol.here, '-p', String(port(63)), '-mi', sol.here, '-mp', String(port(64)), '-m', '1'], { timeoutMs: 20_000, trace: true });
    t.regex(r.messages, /^SIP\/2\.0 503 Service Unavailable \(all 1 channels of this node in use\)/m, 'the caller on the expansion hears why');
    t.true(sol.logs.get('pri')!.records.some((l) => l.level === 'warn' && l.message === 'call refused: node channel limit reached'));
    t.is(sol.node('pri').calls.active, 1, 'the call in progress is untouched');
    a.command('hangup');
    await b.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
    await idle();
  } finally {
    await a.stop();
    await b.stop();
  }
});

/** The node's admin API, logged in (the default password changed first). */
async function admin(node: 'pri' | 'exp1'): Promise<{ base: string; token: string }> {
  const base = `http://127.0.0.1:${ADMIN[node]}`;
  const first = await login(base, 'admin', 'admin').catch(() => undefined);
  if (first) await http(base, 'POST', '/api/account/password', { token: first.token, body: { current: 'admin', password: ADMIN_PASSWORD } });
  const { token } = await login(base, 'admin', ADMIN_PASSWORD);
  return { base, token };
}

test.serial("each node's admin API shows its links and the other nodes; pbx_link_up in /metrics", async (t) => {
  const { base, token } = await admin('pri');
  const s = (await http(base, 'GET', '/api/status', { token })).body;
  t.like(s.links[0], { node: 'exp1', role: 'expansion', state: 'up', address: `${sol.addr('exp1')}:5060` });
  const exp = await untilValue('exp1 in the primary\'s nodes', async () => (await http(base, 'GET', '/api/status', { token })).body.nodes.find((n: { name: string }) => n.name === 'exp1'));
  t.like(exp, { role: 'expansion', state: 'up', revision: sol.node('exp1').solution!.revision });
  t.regex((await http(base, 'GET', '/metrics', { token })).text, /pbx_link_up\{peer="exp1",node="pri"\} 1/);
});

test.serial("explain on each node names the node that serves a number and the link the call takes", async (t) => {
  const exp = await admin('exp1');
  const e = await http(exp.base, 'GET', '/api/explain?from=301&number=201', { token: exp.token });
  t.is(e.status, 200, e.text);
  t.regex(e.body.text, /result: extension 201, served by node pri, over link pri \(up\)/);
  const pri = await admin('pri');
  const p = await http(pri.base, 'GET', '/api/explain?from=201&number=301', { token: pri.token });
  t.regex(p.body.text, /result: extension 301, served by node exp1, over link exp1 \(up\)/);
  const own = await http(pri.base, 'GET', '/api/explain?from=201&number=201', { token: pri.token });
  t.regex(own.body.text, /result: extension 201$/m, 'a number served here names no node');
});

test.serial("a live change raising a node's channels above its profile is refused by path on the primary, and no node moves from its revision", async (t) => {
  const pri = await admin('pri');
  const before = (await http(pri.base, 'GET', '/api/config', { token: pri.token })).body;
  const revision = sol.node('exp1').solution!.revision;
  const conference = { ...(before.document.conference ?? {}), maxChannels: 200 };
  const r = await http(pri.base, 'PUT', '/api/config/sections/conference', { token: pri.token, body: { revision: before.revision, value: conference } });
  t.is(r.status, 422, r.text);
  t.true(r.text.includes('conference.maxChannels: 200 is above the conference channels of nodes[0] pri (DL360: 128), nodes[1] exp1 (ExpansionL: 128)'), r.text);
  const nodes = structuredClone(before.document.nodes) as { overrides?: Record<string, Record<string, unknown>> }[];
  nodes[1]!.overrides = { ...nodes[1]!.overrides, calls: { maxChannels: 129 } };
  const o = await http(pri.base, 'PUT', '/api/config/sections/nodes', { token: pri.token, body: { revision: before.revision, value: nodes } });
  t.is(o.status, 422, o.text);
  t.true(o.text.includes("nodes[1].overrides.calls.maxChannels: 129 is above the ExpansionL profile's 128 relayed calls (trunk channels) (node exp1)"), o.text);
  t.is((await http(pri.base, 'GET', '/api/config', { token: pri.token })).body.revision, before.revision, 'nothing published');
  t.is(sol.node('exp1').solution!.revision, revision);
});

test.serial("a user added through the primary's admin API is published and served on the expansion; the expansion refuses changes and names the primary", async (t) => {
  const pri = await admin('pri');
  const exp = await admin('exp1');
  const before = (await http(pri.base, 'GET', '/api/config', { token: pri.token })).body;
  t.is(before.path, sol.file, "the primary's API edits the solution document");
  const r = await http(pri.base, 'POST', '/api/config/users', { token: pri.token, body: { revision: before.revision, item: { extension: '305', password: 'demo305', node: 'exp1' } } });
  t.is(r.status, 200, r.text);
  t.like(r.body, { status: 'applied', revision: before.revision + 1, changes: ['users[305]: added'] });
  await until('the expansion applied it', () => sol.node('exp1').solution!.revision === before.revision + 1);
  const reg = await runSipp([`${sol.addr('exp1')}:5060`, '-sf', scenario('register_auth.xml'), '-s', '305', '-au', '305', '-ap', 'demo305', '-m', '1', '-i', sol.here, '-p', String(port(62))], { timeoutMs: 10_000 });
  t.is(reg.code, 0, 'the new user registers on the expansion');
  const refused = await http(exp.base, 'POST', '/api/config/users', { token: exp.token, body: { item: { extension: '306', password: 'demo306', node: 'exp1' } } });
  t.is(refused.status, 409);
  t.regex(refused.body.error, new RegExp(`on the solution's primary \\(node pri at ${sol.addr('pri').replaceAll('.', '\\.')}\\)`));
});

test.serial("the primary stopped: the expansion's link to it goes down although keepalives go out more often than the response timeout", async (t) => {
  // keepaliveSeconds 1 < responseTimeoutSeconds 2 (the default): the deadline runs from the first unanswered probe
  await sol.stop('pri');
  const exp = sol.node('exp1');
  await until("the expansion's link to the primary down", () => exp.solution!.linkStatus()[0]?.state === 'down', 10_000);
  t.like(exp.solution!.linkStatus()[0], { node: 'pri', state: 'down', lastError: 'no answer to OPTIONS within 2 s' });
});
