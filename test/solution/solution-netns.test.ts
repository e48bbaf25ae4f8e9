/**
 * A 3-node solution (primary, secondary, expansion), each node a process in its own network
 * namespace, the primary and the secondary each with its own nats-server: the document reaches
 * every node and the node links come up; a baresip on the expansion calls a baresip on the
 * primary and each hears the other; a hunt group on the primary rings its member on the
 * expansion; an expansion user's unanswered call leaves a message on the primary and the user's
 * phone gets the NOTIFY; a user added on the primary is live on the expansion within a second
 * while a call across the link keeps its audio; an expansion cut from the bus keeps serving its
 * users (and calling over the link) on its last revision and catches up when it is back, and
 * restarts on its stored revision when the bus is away. Phones are baresip and sipp.
 */
import test from 'ava';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestNet } from '../helpers/netns.js';
import { NodeProcess } from '../helpers/node-process.js';
import { runSipp, scenario } from '../helpers/sipp.js';
import { Baresip, lastHeard, makeToneWav } from '../helpers/baresip.js';
import { hasTone } from '../helpers/tone.js';
import { portBlock } from '../helpers/ports.js';
import { sleep, until } from '../helpers/wait.js';

const net = new TestNet('16sol', 41);
const NODES = ['pri', 'sec', 'exp1'];
const dir = mkdtempSync(join(tmpdir(), 'pbx-solution-'));
const file = join(dir, 'solution.yaml');
const expFile = join(dir, 'solution-exp1.yaml');
const nodes = new Map<string, NodeProcess>();
/** Every node process started, restarts included. */
const started: NodeProcess[] = [];
let sippPort = 5100;
/** baresip's SIP ports (on the test's lan address) and ctrl_tcp ports (on loopback). */
const ctrl = portBlock(116);

function document(): string {
  const entry = (name: string, role: string, profile: string) =>
    `  - { name: ${name}, role: ${role}, profile: ${profile}, address: ${net.addr(name)}, bus: { address: ${net.addr(name, 'bus')} }, dataDir: ${JSON.stringify(join(dir, name))} }`;
  return `log: { level: debug, format: json }
bus: { password: bus-secret-16 }
nodes:
${entry('pri', 'primary', 'DL360')}
${entry('sec', 'secondary', 'DL120')}
${entry('exp1', 'expansion', 'ExpansionL')}
links: { keepaliveSeconds: 1 }
voicemail: { minMessageSeconds: 1 }
huntGroups:
  - { extension: "500", name: Sales, ringMode: sequential, members: ["302"], voicemailAnswerSeconds: null, queue: { enabled: false } }
users:
  - { extension: "201", password: secret201, node: pri }
  - { extension: "202", password: secret202, node: pri }
  - { extension: "301", password: secret301, node: exp1, forward: { noAnswerSeconds: 5 } }
  - { extension: "302", password: secret302, node: exp1 }
`;
}

/** A user added on the primary: the document edited, then SIGHUP (the primary publishes it). */
function addUser(ext: string, node: string): void {
  writeFileSync(file, `${readFileSync(file, 'utf8')}  - { extension: "${ext}", password: secret${ext}, node: ${node} }\n`);
  nodes.get('pri')!.proc.kill('SIGHUP');
}

/** Whether a phone of `ext` registers on `node` (sipp, digest, 200 OK). */
async function registers(ext: string, node: string): Promise<boolean> {
  const r = await runSipp(
    [`${net.addr(node)}:5060`, '-sf', scenario('register_auth.xml'), '-s', ext, '-au', ext, '-ap', `secret${ext}`, '-m', '1', '-i', net.here, '-p', String(sippPort++)],
    { timeoutMs: 10_000 },
  );
  return r.code === 0;
}

let phoneSeq = 0;
/** A baresip phone of `ext` registered on `node`, sending a tone of `freq`. */
async function phone(ext: string, node: string, freq: number, o: { answer?: 'auto' | 'manual'; mwi?: boolean } = {}): Promise<Baresip> {
  const n = phoneSeq++;
  const b = await Baresip.start({
    listen: `${net.here}:${ctrl(20 + 10 * n)}`,
    ctrlPort: ctrl(n),
    source: makeToneWav(join(dir, `tone-${ext}-${freq}.wav`), freq, 120),
    account: `<sip:${ext}@${net.addr(node)}:5060>;auth_pass=secret${ext};regint=600;answermode=${o.answer ?? 'auto'};audio_codecs=PCMU${o.mwi ? ';mwi=yes' : ''}`,
    extraConfig: o.mwi ? ['module_app\t\tmwi.so'] : [],
  });
  try {
    await b.waitRegistered();
  } catch (e) {
    await b.stop();
    throw e;
  }
  return b;
}

/** The last `s` seconds of what a phone heard. */
const tail = (x: Int16Array, s = 2) => x.subarray(Math.max(0, x.length - 8000 * s));

function start(name: string, config = file): NodeProcess {
  const n = new NodeProcess({ config, node: name, netns: net.ns(name) });
  nodes.set(name, n);
  started.push(n);
  return n;
}

test.before(async () => {
  net.up(NODES);
  writeFileSync(file, document());
  // the expansion's machine has its own copy of the document, which the primary's later edits never reach
  copyFileSync(file, expFile);
  start('pri');
  start('sec');
  start('exp1', expFile);
  // (a node's start takes long on a machine busy with other work: a wait, not a measurement)
  for (const n of nodes.values()) await n.waitFor('solution: configuration applied', (l) => l.revision === 1, 60_000);
  // every node's links up: the expansion's to both cores, the primary's to the secondary
  await nodes.get('exp1')!.waitFor('solution: node link up', (l) => l.link === 'pri');
  await nodes.get('exp1')!.waitFor('solution: node link up', (l) => l.link === 'sec');
  await nodes.get('pri')!.waitFor('solution: node link up', (l) => l.link === 'sec');
});

test.after.always(async () => {
  // every run of every node (a restarted node is a new process) its own file
  if (process.env.PBX_KEEP_LOGS) started.forEach((n, i) => writeFileSync(join(process.env.PBX_KEEP_LOGS!, `${n.name}-${i}.log`), n.lines.map((l) => JSON.stringify(l)).join('\n')));
  await Promise.all([...nodes.values()].map((n) => n.stop()));
  net.down(NODES);
});

test.serial('the primary publishes the document and every node applies it and serves its own users', async (t) => {
  const pri = nodes.get('pri')!;
  t.true(pri.has('solution: configuration published', (l) => l.revision === 1));
  // nodes starting together are not taken over while they boot, however long that takes
  t.false(nodes.get('sec')!.has('failover: node declared down, serving its users'), 'the secondary took nothing over');
  t.false(pri.has("failover: this node's users are served by its backup; new calls refused until they return"), 'the primary serves its users');
  for (const n of nodes.values()) t.is(n.revision, 1, n.name);
  t.true(await registers('301', 'exp1'), '301 is at home on the expansion');
  t.true(await registers('201', 'pri'), '201 is at home on the primary');
  t.false(await registers('201', 'exp1'), "the expansion does not serve the primary's users");
  t.false(await registers('303', 'exp1'), '303 is not a user yet');
  // heartbeats: every node hears the others
  await nodes.get('exp1')!.waitFor('solution: node up', (l) => l.node === 'sec');
});

test.serial('a phone on the expansion calls a phone on the primary over the node link: each hears the other', async (t) => {
  const a = await phone('301', 'exp1', 1000);
  const b = await phone('201', 'pri', 440);
  try {
    a.command('dial', `sip:201@${net.addr('exp1')}:5060`);
    await b.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 15_000);
    await sleep(2500);
    a.command('hangup');
    await b.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
    await sleep(300);
    t.true(hasTone(await lastHeard(a), 440, 0.3), '301 on the expansion hears 201 on the primary');
    t.true(hasTone(await lastHeard(b), 1000, 0.3), '201 on the primary hears 301 on the expansion');
  } finally {
    await a.stop();
    await b.stop();
  }
  t.true(nodes.get('exp1')!.has('call out on trunk link-pri to 201'), 'the call went over the link to the primary');
});

test.serial('a call to a hunt group on the primary rings its member on the expansion', async (t) => {
  const member = await phone('302', 'exp1', 1700);
  const caller = await phone('202', 'pri', 1000);
  try {
    // (the expansion told the primary at once, on the bus, that the member registered)
    caller.command('dial', `sip:500@${net.addr('pri')}:5060`);
    await member.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 15_000);
    await sleep(2500);
    caller.command('hangup');
    await member.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
    await sleep(300);
    t.true(hasTone(await lastHeard(caller), 1700, 0.3), 'the caller hears the member on the expansion');
    t.true(hasTone(await lastHeard(member), 1000, 0.3), 'the member hears the caller');
  } finally {
    await member.stop();
    await caller.stop();
  }
});

test.serial("an expansion user's unanswered call leaves a message on the primary, and the user's phone gets the NOTIFY", async (t) => {
  const pri = nodes.get('pri')!;
  const user = await phone('301', 'exp1', 440, { answer: 'manual', mwi: true });
  const caller = await phone('201', 'pri', 1000);
  const waiting = (e: { type?: string; param?: string }) => e.type === 'MWI_NOTIFY' && /Messages-Waiting:\s*yes/i.test(String(e.param));
  try {
    caller.command('dial', `sip:301@${net.addr('pri')}:5060`);
    await user.waitEvent((e) => e.type === 'CALL_INCOMING', 10_000);
    // 301 lets it ring: after its 5 s no-answer time the caller reaches its mailbox on the primary
    await caller.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 20_000);
    await pri.waitFor('voicemail 301: recording message 1 from 201', () => true, 20_000);
    await sleep(3000);
    caller.command('hangup');
    await until('the message to be kept on the primary', () => pri.lines.some((l) => /^voicemail 301: message 1 kept/.test(l.message)), 10_000);
    await user.waitEvent(waiting, 10_000);
    t.pass("301's phone on the expansion was told Messages-Waiting: yes");
  } finally {
    await user.stop();
    await caller.stop();
  }
});

test.serial('a user added on the primary is live on the expansion within a second, while a call across the link keeps its audio', async (t) => {
  const exp = nodes.get('exp1')!;
  const a = await phone('301', 'exp1', 1000);
  const b = await phone('201', 'pri', 440);
  try {
    a.command('dial', `sip:201@${net.addr('exp1')}:5060`);
    await b.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 15_000);
    await sleep(1500);
    const before = exp.revision;
    addUser('303', 'exp1');
    const applied = await exp.waitFor('solution: configuration applied', (l) => l.revision === before + 1);
    t.deepEqual(applied.applied, ['users']);
    const published = Date.parse(String(applied.publishedAt));
    const at = Date.parse(String(applied.timestamp));
    t.true(at - published < 1000, `applied on the expansion ${at - published} ms after the primary published it`);
    await sleep(2500);
    a.command('hangup');
    await b.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
    await sleep(300);
    // the last two seconds of the call: after the revision was applied
    t.true(hasTone(tail(await lastHeard(a)), 440, 0.3), '301 still hears 201');
    t.true(hasTone(tail(await lastHeard(b)), 1000, 0.3), '201 still hears 301');
  } finally {
    await a.stop();
    await b.stop();
  }
  await nodes.get('sec')!.waitFor('solution: configuration applied', (l) => l.revision === exp.revision);
  t.true(await registers('303', 'exp1'), 'the new user registers on the expansion');
  t.true(await registers('301', 'exp1'), 'the users it had are still served');
});

test.serial('a document the primary refuses (a 1001st user, a home node that does not exist) is not published', async (t) => {
  const pri = nodes.get('pri')!;
  const good = readFileSync(file, 'utf8');
  const many = Array.from({ length: 1000 }, (_, i) => `  - { extension: "${5000 + i}", password: pw-${5000 + i}, node: exp1 }`).join('\n');
  writeFileSync(file, `${good}  - { extension: "399", password: secret399, node: nowhere }\n${many}\n`);
  pri.proc.kill('SIGHUP');
  const refused = await pri.waitFor('SIGHUP: document refused, nothing published');
  const problems = refused.problems as string[];
  t.true(problems.includes('users[5].node: no node named nowhere (nodes: pri, sec, exp1)'), problems.join('\n'));
  t.true(problems.includes('users: 1006 users exceed the solution limit of 1000'), problems.join('\n'));
  t.true(problems.includes('nodes[2]: 1003 users have their home here, the ExpansionL profile allows 250'), problems.join('\n'));
  const revision = pri.revision;
  writeFileSync(file, good);
  t.is(nodes.get('exp1')!.revision, revision, 'nothing new reached the expansion');
  t.false(pri.has('solution: configuration published', (l) => Number(l.revision) > revision));
});

test.serial('an expansion cut from the bus keeps serving its users on its last revision, and catches up when back', async (t) => {
  const exp = nodes.get('exp1')!;
  const before = exp.revision;
  net.setBus('exp1', false);
  await exp.waitFor('bus: unreachable, running on the last applied configuration; retrying');
  t.true(await registers('301', 'exp1'), 'still serving while cut off');
  // the links are SIP on the lan, not the bus: calls to the primary go on
  const a = await phone('301', 'exp1', 1000);
  const b = await phone('201', 'pri', 440);
  try {
    a.command('dial', `sip:201@${net.addr('exp1')}:5060`);
    await b.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 15_000);
    await sleep(2000);
    a.command('hangup');
    await b.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
    await sleep(300);
    t.true(hasTone(await lastHeard(a), 440, 0.3), 'a call from the cut-off expansion to the primary still connects');
  } finally {
    await a.stop();
    await b.stop();
  }
  addUser('304', 'exp1');
  await nodes.get('sec')!.waitFor('solution: configuration applied', (l) => l.revision === before + 1);
  t.is(exp.revision, before);
  t.false(await registers('304', 'exp1'), 'the cut-off node has not seen the new revision');
  net.setBus('exp1', true);
  await exp.waitFor('solution: configuration applied', (l) => l.revision === before + 1);
  t.true(await registers('304', 'exp1'));
});

test.serial('an expansion restarted while the bus is away starts on the revision it stored', async (t) => {
  const stored = nodes.get('exp1')!.revision;
  await nodes.get('exp1')!.stop();
  net.setBus('exp1', false);
  const exp = start('exp1', expFile);
  const starting = await exp.waitFor('solution: node starting');
  t.like(starting, { source: 'store', revision: stored });
  await exp.waitFor('bus: unreachable, running on the last applied configuration; retrying');
  t.true(await registers('304', 'exp1'), "304 is not in the expansion's own file, only in the stored revision");
  net.setBus('exp1', true);
  await exp.waitFor('bus: connected');
});

test.serial("with the primary gone, a new expansion reads the document from the secondary's mirror", async (t) => {
  const latest = nodes.get('sec')!.revision;
  await nodes.get('exp1')!.stop();
  await nodes.get('pri')!.stop();
  // a fresh machine: nothing stored, only the first copy of the document
  rmSync(join(dir, 'exp1'), { recursive: true, force: true });
  const exp = start('exp1', expFile);
  t.like(await exp.waitFor('solution: node starting'), { source: 'file', revision: 0 });
  t.like(await exp.waitFor('bus: following the configuration'), { from: 'sec' });
  await exp.waitFor('solution: configuration applied', (l) => l.revision === latest);
  t.true(await registers('304', 'exp1'));
});
