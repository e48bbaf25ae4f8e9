/**
 * What the secondary serves of the primary's once it takes over, in a 3-node solution (primary,
 * secondary, expansion) of node processes in network namespaces: the primary's incoming call
 * routes answered on the secondary's trunk (a sipp carrier delivers DID calls there for a user
 * of the primary and for its hunt group), a caller waiting in the primary's hunt-group queue
 * when the primary's machine dies (kill -9), and message waiting while the secondary serves and
 * after fail-back. Phones are baresip with a
 * home registration on the primary and a standby one on the secondary (two accounts, as real
 * phones hold them); the carrier is sipp streaming a tone from an address of its own; 203's
 * phone is lit by unsolicited NOTIFYs (which the nodes log), and what a subscribing phone is told
 * is fetched with a sipp SUBSCRIBE. Short hold-down and stable times keep the wall time bounded.
 */
import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestNet } from '../helpers/netns.js';
import { NodeProcess } from '../helpers/node-process.js';
import { runSipp, scenario } from '../helpers/sipp.js';
import { Baresip, lastHeard, makeToneWav, type BaresipEvent } from '../helpers/baresip.js';
import { soxTone } from '../helpers/audio.js';
import { hasTone, toneRatio } from '../helpers/tone.js';
import { portBlock } from '../helpers/ports.js';
import { sleep, until } from '../helpers/wait.js';

const net = new TestNet('21svc', 121);
const NODES = ['pri', 'sec', 'exp1'];
const dir = mkdtempSync(join(tmpdir(), 'pbx-failover-services-'));
const file = join(dir, 'solution.yaml');
const nodes = new Map<string, NodeProcess>();
const ports = portBlock(160);
let sippPort = ports(150);
const HOLD_DOWN = 1;
const STABLE = 3;
/** The carrier's DIDs for 202 and for the hunt group 600 (202 its member), routed by incoming call routes on the secondary's trunk. */
const DID = '5550202';
const GROUP_DID = '5550600';
const CARRIER_TONE = 1700;

function document(): string {
  const entry = (name: string, role: string, profile: string) =>
    `  - { name: ${name}, role: ${role}, profile: ${profile}, address: ${net.addr(name)}, bus: { address: ${net.addr(name, 'bus')} }, dataDir: ${JSON.stringify(join(dir, name))} }`;
  return `log: { level: debug, format: json }
bus: { password: bus-secret-21, heartbeatSeconds: 0.25, holdDownSeconds: ${HOLD_DOWN} }
failover: { stableSeconds: ${STABLE}, startGraceSeconds: 5 }
links: { keepaliveSeconds: 1, responseTimeoutSeconds: 2 }
nodes:
${entry('pri', 'primary', 'DL360')}
${entry('sec', 'secondary', 'DL120')}
${entry('exp1', 'expansion', 'ExpansionL')}
trunks:
  - { name: carrier, lineGroup: 1, type: peer, host: ${net.extra(2)}, keepaliveSeconds: 0, node: sec }
dialPlan:
  incomingCallRoutes:
    - { lineGroup: 1, incomingNumber: "${DID}", destination: "202" }
    - { lineGroup: 1, incomingNumber: "${GROUP_DID}", destination: "600" }
users:
  - { extension: "201", password: secret201, node: pri }
  - { extension: "202", password: secret202, node: pri }
  - { extension: "203", password: secret203, node: pri, forward: { noAnswerSeconds: 5 }, voicemail: { pin: "2580" } }
  - { extension: "301", password: secret301, node: exp1 }
huntGroups:
  - { extension: "600", ringMode: sequential, members: ["202"], noAnswerSeconds: 10, voicemailAnswerSeconds: null, queue: { enabled: true } }
`;
}

function start(name: string): NodeProcess {
  const n = new NodeProcess({ config: file, node: name, netns: net.ns(name) });
  nodes.set(name, n);
  return n;
}

const phones: Baresip[] = [];

/**
 * A phone of `ext` with an account on each of `at` (the home node first, then the standby one),
 * answering by itself unless `manual`, sending a tone of `freq`.
 */
async function phone(ext: string, at: string[], n: number, freq: number, o: { manual?: boolean } = {}): Promise<Baresip> {
  const accounts = at.map((node) => `<sip:${ext}@${net.addr(node)}:5060>;auth_pass=secret${ext};regint=600;answermode=${o.manual ? 'manual' : 'auto'};audio_codecs=PCMU`);
  const p = await Baresip.start({
    listen: `${net.here}:${ports(20 + 10 * n)}`,
    ctrlPort: ports(n),
    source: makeToneWav(join(dir, `tone-${ext}-${n}.wav`), freq, 180),
    account: accounts.join('\n'),
  });
  phones.push(p);
  // every account registered (baresip logs each 200 with its binding count)
  await until(`${ext}'s phone registered on ${at.join(' and ')}`, () => (p.log().match(/\} 200 [^\n]*\[\d+ bindings?\]/g) ?? []).length >= at.length, 15_000, { detail: () => p.log().slice(-1500) });
  return p;
}

/** Forgets the phones' past events: the next wait sees only what follows. */
function fresh(...ps: Baresip[]): void {
  for (const p of ps) p.events.splice(0);
}

let carrierTone: string;

/**
 * The carrier delivers a call for `did` on the secondary's trunk and streams its tone for
 * `talkMs`; resolves with sipp's result (0: the call was answered and ended cleanly).
 */
function carrierCall(did: string, talkMs: number) {
  const p = sippPort;
  sippPort += 4;
  return runSipp([`${net.addr('sec')}:5060`, '-sf', scenario('uac_carrier.xml'), '-s', did, '-key', 'caller', '02079460000',
    '-key', 'rtp_file', `${carrierTone},-1,0`, '-d', String(talkMs), '-i', net.extra(2), '-p', String(p), '-mi', net.extra(2), '-mp', String(p + 2), '-m', '1'],
  { timeoutMs: 40_000, trace: true });
}

/** The carrier calls `did` (202's, or its group's): 202's phone answers and hears the carrier's tone. */
async function didReaches202(t: { true(v: boolean, m?: string): void; is(a: unknown, b: unknown, m?: string): void }, b: Baresip, did = DID): Promise<void> {
  fresh(b);
  const r = await carrierCall(did, 3000);
  t.is(r.code, 0, `the carrier's call was answered and ended cleanly\n${r.messages.slice(-1500)}`);
  await b.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
  await sleep(300);
  const heard = await lastHeard(b);
  t.true(hasTone(heard, CARRIER_TONE, 0.3), `202 hears the carrier (ratio ${toneRatio(heard, CARRIER_TONE).toFixed(2)})`);
}

/** The message summary of 203's mailbox on `node`, fetched by a phone of 203 (sipp, SUBSCRIBE with Expires: 0). */
async function fetchSummary(node: string): Promise<string> {
  const r = await runSipp([`${net.addr(node)}:5060`, '-sf', scenario('uac_mwi_fetch.xml'), '-s', '203', '-au', '203', '-ap', 'secret203',
    '-i', net.here, '-p', String(sippPort++), '-m', '1'], { timeoutMs: 15_000, trace: true });
  if (r.code !== 0) throw new Error(`the fetch on ${node} failed (${r.code}):\n${r.messages.slice(-2000)}`);
  const m = /Messages-Waiting:\s*(yes|no)[\s\S]*?Voice-Message:\s*(\d+\/\d+)/i.exec(r.messages);
  if (!m) throw new Error(`no message summary in the NOTIFY from ${node}:\n${r.messages.slice(-2000)}`);
  return `${m[1]!.toLowerCase()} ${m[2]}`;
}

/** Whether `node` sent 203's phone (registered there, not subscribed) an unsolicited NOTIFY with these counts, after log line `from`. */
const notified = (node: string, from: number, counts: { new: number; saved: number }) => () =>
  nodes.get(node)!.lines.slice(from).some((l) => l.message === 'unsolicited message-summary NOTIFY sent' && l.user === '203' && l.new === counts.new && l.saved === counts.saved);

async function keys(p: Baresip, digits: string): Promise<void> {
  for (const d of digits) {
    p.command('sndcode', d);
    await sleep(250);
  }
}

test.before(async () => {
  carrierTone = await soxTone(dir, { freq: CARRIER_TONE, seconds: 30, format: 'ulaw-raw', name: 'carrier.ul' });
  net.up(NODES);
  writeFileSync(file, document());
  for (const name of NODES) start(name);
  // three nodes starting at once on a shared machine: a generous wait for the first revision
  for (const n of nodes.values()) await n.waitFor('solution: configuration applied', (l) => l.revision === 1, 40_000);
  await nodes.get('pri')!.waitFor('failover: this node serves its own users', () => true, 20_000);
  await nodes.get('exp1')!.waitFor('solution: node link up', (l) => l.link === 'pri', 15_000);
  await nodes.get('sec')!.waitFor('solution: node link up', (l) => l.link === 'pri', 15_000);
});

test.after.always(async () => {
  if (process.env.PBX_KEEP_LOGS) for (const n of nodes.values()) writeFileSync(join(process.env.PBX_KEEP_LOGS, `${n.name}.log`), n.lines.map((l) => JSON.stringify(l)).join('\n'));
  await Promise.all(phones.map((p) => p.stop()));
  await Promise.all([...nodes.values()].map((n) => n.stop()));
  net.down(NODES);
});

const established = (e: BaresipEvent) => e.type === 'CALL_ESTABLISHED';
const closed = (e: BaresipEvent) => e.type === 'CALL_CLOSED';
/** 202's phone: home registration on the primary, standby one on the secondary. */
let b202: Baresip;
/** 203's phone, registered in standby on the secondary: it lights its lamp from unsolicited NOTIFYs. */
let m203: Baresip;
/** 201's phone registered in standby on the secondary only (it calls once the secondary serves). */
let s201: Baresip;

/** `a` calls `to` through `node`: it connects, and `a` and `b` hear each other's tones. */
async function call(t: { true(v: boolean, m?: string): void }, a: Baresip, b: Baresip, node: string, to: string, tones: [number, number]): Promise<void> {
  fresh(a, b);
  a.command('dial', `sip:${to}@${net.addr(node)}:5060`);
  await a.waitEvent(established, 15_000);
  await sleep(2500);
  a.command('hangup');
  await b.waitEvent(closed, 10_000);
  await sleep(300);
  t.true(hasTone(await lastHeard(a), tones[1], 0.3), `the caller hears ${to}`);
  t.true(hasTone(await lastHeard(b), tones[0], 0.3), `${to} hears the caller`);
}

test.serial("DID calls on the secondary's trunk reach the primary's user and hunt group over the node link while the primary serves", async (t) => {
  b202 = await phone('202', ['pri', 'sec'], 0, 440);
  // 203's desk phone, in standby on the secondary, never subscribes (baresip 1.0.0's mwi module at
  // times re-sent its SUBSCRIBE here without end after the first challenge): it is told by
  // unsolicited NOTIFYs, which the nodes log; a subscribing phone's view is fetched with sipp
  m203 = await phone('203', ['sec'], 4, 600, { manual: true });
  const sec = nodes.get('sec')!;
  for (const [did, to] of [[DID, '202'], [GROUP_DID, '600']] as const) {
    const from = sec.lines.length;
    await didReaches202(t, b202, did);
    t.true(sec.lines.slice(from).some((l) => l.message === `incoming call on trunk carrier: 02079460000 -> ${did} routed to ${to}`), `the incoming call route took it to ${to}`);
    t.true(sec.lines.slice(from).some((l) => l.message === 'call answered' && l.by === 'trunk link-pri'), `answered over the link to the primary, which serves ${to}`);
  }
});

test.serial("kill -9 of the primary's machine while an expansion caller waits in its hunt group's queue: that caller gets a clean end, and after the takeover the group answers through the secondary", async (t) => {
  const pri = nodes.get('pri')!;
  const sec = nodes.get('sec')!;
  const exp = nodes.get('exp1')!;
  // 202, the group's only member, is busy on a call with 201 on the primary
  const a = await phone('201', ['pri'], 1, 1000);
  fresh(a, b202);
  a.command('dial', `sip:202@${net.addr('pri')}:5060`);
  await a.waitEvent(established, 15_000);
  // 301 on the expansion calls the group: it waits in the queue on the primary
  const c = await phone('301', ['exp1'], 2, 1700);
  const fromPri = pri.lines.length;
  const fromExp = exp.lines.length;
  fresh(c);
  c.command('dial', `sip:600@${net.addr('exp1')}:5060`);
  await until('the caller queued on the primary', () => pri.lines.slice(fromPri).some((l) => /^hunt group 600: call queued at position 1/.test(l.message)), 15_000, { detail: () => pri.tail(20) });
  await sleep(1500);
  t.true(net.signalAll('pri', 'SIGKILL') > 0);
  const killed = Date.now();
  // the queued call was anchored on the dead node: lost, and its caller told so
  const end = await c.waitEvent(closed, 30_000);
  t.log(`the queued caller's call ended ${Date.now() - killed} ms after the kill: ${String(end.param)}`);
  t.regex(String(end.param), /^503 /, 'the caller is told the service is unavailable');
  // nothing of it is left on the expansion
  await until("the expansion's call to end", () => exp.lines.slice(fromExp).some((l) => l.message === 'call ended: every link to node pri failed: Service Unavailable (the link to node pri went down)'), 5000, { detail: () => exp.tail(20) });
  await sec.waitFor('failover: node declared down, serving its users', (l) => l.node === 'pri', 30_000);
  await pri.exited;
  // the call anchored on the dead node is lost: its phones hang up
  a.command('hangup');
  b202.command('hangup');
  await b202.waitEvent(closed, 10_000);
  await sleep(500);
  // a new call to the group, through the secondary: answered by 202's standby registration
  s201 = await phone('201', ['sec'], 3, 1000);
  await call(t, s201, b202, 'sec', '600', [1000, 440]);
});

test.serial("with the primary down, DID calls for 202 and its hunt group on the secondary's trunk ring 202's standby registration and are heard", async (t) => {
  const sec = nodes.get('sec')!;
  for (const did of [DID, GROUP_DID]) {
    const from = sec.lines.length;
    await didReaches202(t, b202, did);
    const answered = sec.lines.slice(from).find((l) => l.message === 'call answered');
    t.regex(String(answered?.by), /^sip:202-/, `${did}: answered by 202's phone on the secondary, not over a link`);
  }
});

test.serial("a message left for 203 while the secondary serves lights 203's phone through its standby registration", async (t) => {
  const sec = nodes.get('sec')!;
  const from = sec.lines.length;
  fresh(m203, s201);
  s201.command('dial', `sip:203@${net.addr('sec')}:5060`);
  await m203.waitEvent((e) => e.type === 'CALL_INCOMING', 10_000);
  // 203 lets it ring: after its 5 s no-answer time voicemail answers, on the secondary
  await s201.waitEvent(established, 20_000);
  await until('sec: recording a message for 203', () => sec.lines.slice(from).some((l) => /^voicemail 203: recording message/.test(l.message)), 15_000);
  await sleep(3000);
  s201.command('hangup');
  await until('sec: the message kept', () => sec.lines.slice(from).some((l) => /^voicemail 203: message \d+ kept/.test(l.message)), 10_000, { detail: () => sec.tail() });
  await until("the secondary's NOTIFY to 203's standby registration: 1 new message", notified('sec', from, { new: 1, saved: 0 }), 10_000, { detail: () => sec.tail() });
  t.is(await fetchSummary('sec'), 'yes 1/0');
});

test.serial("after fail-back the primary says the same of 203's mailbox; the message listened to and deleted on the primary, the light goes out on both cores", async (t) => {
  const sec = nodes.get('sec')!;
  const fromSec = sec.lines.length;
  const pri = start('pri');
  await sec.waitFor('failover: node stable and caught up, its users returned to it', (l) => l.node === 'pri' && sec.lines.indexOf(l) >= fromSec, 40_000);
  await pri.waitFor('failover: this node serves its own users', (l) => l.from === 'displaced', 15_000);
  t.is(await fetchSummary('pri'), 'yes 1/0', "the primary's NOTIFY after fail-back");
  t.is(await fetchSummary('sec'), 'yes 1/0', 'the secondary, back in standby, says the same');
  t.false(notified('sec', fromSec, { new: 0, saved: 0 })(), "the secondary, handing back, did not tell 203's phone the light is out");
  // 203 calls its mailbox from a phone at home: the PIN, a new one (the configured one must be
  // replaced), 1 listens, 3 deletes while it plays
  const h = await phone('203', ['pri'], 5, 600);
  const fromPri = pri.lines.length;
  const logged = (re: RegExp) => () => pri.lines.slice(fromPri).some((l) => re.test(l.message));
  const fromSecDelete = sec.lines.length;
  fresh(h);
  h.command('dial', `sip:*17@${net.addr('pri')}:5060`);
  await h.waitEvent(established, 10_000);
  await sleep(1000);
  await keys(h, '2580#');
  await sleep(1500);
  await keys(h, '4739#');
  await sleep(1500);
  await keys(h, '4739#');
  await until('the PIN change', logged(/^voicemail 203: PIN changed/), 10_000, { detail: () => pri.tail() });
  await sleep(1000);
  await keys(h, '1');
  await sleep(3000);
  await keys(h, '3');
  await until('the delete', logged(/^voicemail 203: message \d+ deleted/), 10_000, { detail: () => pri.tail() });
  h.command('hangup');
  t.is(await fetchSummary('pri'), 'no 0/0', 'the primary: no messages');
  await until("the secondary's NOTIFY to 203's phone: no messages (the delete replicated)", notified('sec', fromSecDelete, { new: 0, saved: 0 }), 10_000, { detail: () => sec.tail() });
  let secSays = '';
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(500)) if ((secSays = await fetchSummary('sec')) === 'no 0/0') break;
  t.is(secSays, 'no 0/0', 'the secondary says the same (the delete replicated)');
});
