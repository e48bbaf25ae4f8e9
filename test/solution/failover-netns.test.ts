/**
 * Failover in a 3-node solution (primary, secondary, expansion), each node a process in its own
 * network namespace: the primary's phones hold standby registrations on the secondary; a
 * primary cut only from the secondary is not taken over (the expansion still sees it); a
 * primary killed outright (every process of its machine, kill -9) is declared down and the
 * secondary serves its users; the primary back, its users return to it after the stable time.
 * What a user notices is checked with baresip phones: a call connects and each side hears the
 * other's tone. Short hold-down and stable times keep the file's wall time bounded.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestNet } from '../helpers/netns.js';
import { NodeProcess } from '../helpers/node-process.js';
import { runSipp, scenario } from '../helpers/sipp.js';
import { Baresip, lastHeard, makeToneWav } from '../helpers/baresip.js';
import { hasTone } from '../helpers/tone.js';
import { portBlock } from '../helpers/ports.js';
import { sleep, until } from '../helpers/wait.js';
import { readWav } from '../helpers/wav.js';

const net = new TestNet('17fo', 117);
const NODES = ['pri', 'sec', 'exp1'];
const dir = mkdtempSync(join(tmpdir(), 'pbx-failover-'));
const file = join(dir, 'solution.yaml');
const nodes = new Map<string, NodeProcess>();
const ports = portBlock(117);
let sippPort = ports(80);
const HOLD_DOWN = 1;
const STABLE = 3;

function document(): string {
  const entry = (name: string, role: string, profile: string) =>
    `  - { name: ${name}, role: ${role}, profile: ${profile}, address: ${net.addr(name)}, bus: { address: ${net.addr(name, 'bus')} }, dataDir: ${JSON.stringify(join(dir, name))} }`;
  return `log: { level: debug, format: json }
bus: { password: bus-secret-17, heartbeatSeconds: 0.25, holdDownSeconds: ${HOLD_DOWN} }
failover: { stableSeconds: ${STABLE}, startGraceSeconds: 5 }
nodes:
${entry('pri', 'primary', 'DL360')}
${entry('sec', 'secondary', 'DL120')}
${entry('exp1', 'expansion', 'ExpansionL')}
users:
  - { extension: "201", password: secret201, node: pri }
  - { extension: "202", password: secret202, node: pri }
  - { extension: "203", password: secret203, node: pri, voicemail: { pin: "2580" } }
  - { extension: "301", password: secret301, node: exp1 }
huntGroups:
  - { extension: "600", ringMode: sequential, members: ["202"], noAnswerSeconds: 10, voicemailAnswerSeconds: null, queue: { enabled: false } }
`;
}

function start(name: string): NodeProcess {
  const n = new NodeProcess({ config: file, node: name, netns: net.ns(name) });
  nodes.set(name, n);
  return n;
}

/** Whether a phone of `ext` registers on `node` (sipp, digest, 200 OK). */
async function registers(ext: string, node: string): Promise<boolean> {
  const r = await runSipp(
    [`${net.addr(node)}:5060`, '-sf', scenario('register_auth.xml'), '-s', ext, '-au', ext, '-ap', `secret${ext}`, '-m', '1', '-i', net.here, '-p', String(sippPort++)],
    { timeoutMs: 10_000 },
  );
  return r.code === 0;
}

/** A phone of `ext` registered on `node` (its standby registration, for a user of the primary on the secondary). */
function phone(ext: string, node: string, n: number, freq: number): Promise<Baresip> {
  return Baresip.start({
    listen: `${net.here}:${ports(20 + 10 * n)}`,
    ctrlPort: ports(n),
    source: makeToneWav(join(dir, `tone-${ext}-${n}.wav`), freq, 120),
    account: `<sip:${ext}@${net.addr(node)}:5060>;auth_pass=secret${ext};regint=600;answermode=auto;audio_codecs=PCMU`,
  });
}

/** `a` (201, or 301 on the expansion) calls `to` (202, or a hunt group 202 answers) through `node`: the call connects, and each hears the other. */
async function call(t: { true(v: boolean, m?: string): void }, a: Baresip, b: Baresip, node: string, to = '202'): Promise<void> {
  fresh(a, b);
  a.command('dial', `sip:${to}@${net.addr(node)}:5060`);
  await a.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 15_000);
  await sleep(2500);
  a.command('hangup');
  await b.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
  await sleep(300);
  t.true(hasTone(await lastHeard(a), 440, 0.3), 'the caller hears 202');
  t.true(hasTone(await lastHeard(b), 1000, 0.3), '202 hears the caller');
}

const phones: Baresip[] = [];

/** The messages in 203's mailbox on `node`: file -> sha256 of its bytes. */
function mailbox203(node: string): Map<string, string> {
  const folder = join(dir, node, 'voicemail', '203');
  const files = existsSync(folder) ? readdirSync(folder).filter((f) => f.endsWith('.wav')) : [];
  return new Map(files.map((f) => [join(folder, f), createHash('sha256').update(readFileSync(join(folder, f))).digest('hex')]));
}

const digests = (node: string) => [...mailbox203(node).values()].sort();

/** `p` calls 203 (no phone: voicemail answers at once) through `node` and leaves a 4-second message of its tone. */
async function leaveMessage(p: Baresip, node: string): Promise<void> {
  const n = nodes.get(node)!;
  const from = n.lines.length;
  fresh(p);
  p.command('dial', `sip:203@${net.addr(node)}:5060`);
  await p.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 15_000);
  const recording = () => n.lines.slice(from).some((l) => /^voicemail 203: recording message/.test(l.message));
  await until(`${node}: recording a message for 203`, recording, 15_000);
  await sleep(4000);
  p.command('hangup');
  await until(`${node}: the message kept`, () => n.lines.slice(from).some((l) => /^voicemail 203: message \d+ kept/.test(l.message)), 10_000, { detail: () => n.tail() });
}

/** Whether every message file holds `freq` (the caller's tone, intact after the trip between the cores). */
async function allHoldTone(node: string, freq: number): Promise<boolean> {
  for (const path of mailbox203(node).keys()) {
    const rec = (await readWav(path)).samples;
    if (!hasTone(rec.subarray(4000, rec.length - 4000), freq, 0.5)) return false;
  }
  return true;
}

/** Forgets the phones' past events: the next wait sees only what follows. */
function fresh(...ps: Baresip[]): void {
  for (const p of ps) p.events.splice(0);
}

test.before(async () => {
  net.up(NODES);
  writeFileSync(file, document());
  for (const name of NODES) start(name);
  // (a node's start takes long on a machine busy with other work: a wait, not a measurement)
  for (const n of nodes.values()) await n.waitFor('solution: configuration applied', (l) => l.revision === 1, 60_000);
  await nodes.get('pri')!.waitFor("failover: this node serves its own users", () => true, 20_000);
});

test.after.always(async () => {
  if (process.env.PBX_KEEP_LOGS) for (const n of nodes.values()) writeFileSync(join(process.env.PBX_KEEP_LOGS, `${n.name}.log`), n.lines.map((l) => JSON.stringify(l)).join('\n'));
  await Promise.all(phones.map((p) => p.stop()));
  await Promise.all([...nodes.values()].map((n) => n.stop()));
  net.down(NODES);
});

test.serial("the primary's phones hold standby registrations on the secondary, which refuses their calls while the primary serves them", async (t) => {
  t.true(await registers('201', 'pri'), '201 registers at home');
  t.true(await registers('201', 'sec'), '201 registers in standby on the secondary');
  t.false(await registers('301', 'sec'), 'an expansion user without a backup node has no standby registration there');
  phones.push(await phone('201', 'sec', 0, 1000), await phone('202', 'sec', 1, 440));
  const [a] = phones;
  for (const p of phones) await p.waitRegistered();
  a.command('dial', `sip:202@${net.addr('sec')}:5060`);
  const ev = await a.waitEvent((e) => e.type === 'CALL_CLOSED' || e.type === 'CALL_ESTABLISHED', 15_000);
  t.is(ev.type, 'CALL_CLOSED', 'the standby node does not serve 201 yet');
  t.false(nodes.get('sec')!.has('failover: node declared down, serving its users'));
});

test.serial('a message left on the primary reaches the secondary byte for byte', async (t) => {
  const home = await phone('201', 'pri', 2, 1000);
  phones.push(home);
  await home.waitRegistered();
  await leaveMessage(home, 'pri');
  t.is(mailbox203('pri').size, 1);
  await until('the message on the secondary', () => digests('sec').length === 1, 15_000);
  t.deepEqual(digests('sec'), digests('pri'), 'sha256-identical on both cores');
  t.true(await allHoldTone('sec', 1000));
});

test.serial('the path between primary and secondary cut while the expansion still sees both: no takeover', async (t) => {
  const sec = nodes.get('sec')!;
  const from = sec.lines.length;
  net.setPath('pri', 'sec', false);
  try {
    await sec.waitFor('failover: watched nodes seen here changed', (l) => (l.lost as string[]).includes('pri'), 15_000);
    // the hold-down passes several times over: the secondary must still not take the primary over
    await sleep(HOLD_DOWN * 4000);
    t.false(sec.lines.slice(from).some((l) => l.message === 'failover: node declared down, serving its users'), 'no takeover');
    t.true(await registers('202', 'pri'), 'the primary still serves its users');
  } finally {
    net.setPath('pri', 'sec', true);
  }
  await sec.waitFor('failover: watched nodes seen here changed', (l) => (l.found as string[]).includes('pri') && sec.lines.indexOf(l) > from, 20_000);
});

test.serial("kill -9 of the primary's machine during a recording: the secondary declares it down and serves its users, who call and are heard, from the expansion too", async (t) => {
  const sec = nodes.get('sec')!;
  const pri = nodes.get('pri')!;
  // a caller is leaving a message on the primary when its machine dies
  const home = phones[2]!;
  const from = pri.lines.length;
  fresh(home);
  home.command('dial', `sip:203@${net.addr('pri')}:5060`);
  await home.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 15_000);
  await until('pri: recording a message for 203', () => pri.lines.slice(from).some((l) => /^voicemail 203: recording message/.test(l.message)), 15_000);
  await sleep(3000);
  t.true(net.signalAll('pri', 'SIGKILL') > 0);
  const down = await sec.waitFor('failover: node declared down, serving its users', (l) => l.node === 'pri', 30_000).catch((e: Error) => {
    throw new Error(`${e.message}\nexp1:\n${nodes.get('exp1')!.tail(30)}`);
  });
  t.like(down, { from: 'standby', to: 'serving' });
  await nodes.get('pri')!.exited;
  await sleep(500);
  const [a, b] = phones;
  await call(t, a, b, 'sec');
  // it runs the primary's hunt groups: a call to the group is answered by its member
  await call(t, a, b, 'sec', '600');
  // the expansion sends calls for the primary's users and hunt groups over its link to the
  // secondary, which serves them now (the group has no phone registered anywhere: it follows the primary)
  const far = await phone('301', 'exp1', 3, 1000);
  phones.push(far);
  await far.waitRegistered();
  await call(t, far, b, 'exp1');
  await call(t, far, b, 'exp1', '600');
  // the secondary is the voicemail server now: a message left there
  await leaveMessage(a, 'sec');
  t.is(mailbox203('sec').size, 2, 'the message from before the failure and the new one');
});

test.serial("the primary back: its users return to it after the stable time, and the secondary refuses their calls again", async (t) => {
  const sec = nodes.get('sec')!;
  const from = sec.lines.length;
  const pri = start('pri');
  const displaced = await pri.waitFor("failover: this node's users are served by its backup; new calls refused until they return", () => true, 30_000);
  t.is(displaced.to, 'displaced');
  await sec.waitFor('failover: node back, its users return after the stable time', (l) => l.node === 'pri' && sec.lines.indexOf(l) >= from, 30_000);
  await sec.waitFor('failover: node stable and caught up, its users returned to it', (l) => l.node === 'pri', 30_000);
  await pri.waitFor('failover: this node serves its own users', (l) => l.from === 'displaced', 15_000);
  t.true(await registers('201', 'pri'), '201 registers at home again');
  // nothing lost: the message left on the secondary during the outage is on the primary, and the
  // one cut short by the failure (recovered at the primary's start) is on the secondary, byte for byte
  await until('both cores to hold the three messages', () => digests('pri').length === 3 && digests('sec').length === 3, 20_000, {
    detail: () => `pri ${digests('pri').length}, sec ${digests('sec').length}`,
  });
  t.deepEqual(digests('pri'), digests('sec'));
  t.true(await allHoldTone('pri', 1000));
  const [a] = phones;
  await sleep(500);
  fresh(a);
  a.command('dial', `sip:202@${net.addr('sec')}:5060`);
  const ev = await a.waitEvent((e) => e.type === 'CALL_CLOSED' || e.type === 'CALL_ESTABLISHED', 15_000);
  t.is(ev.type, 'CALL_CLOSED', 'the secondary is back in standby for 201');
});

/** Waits until the secondary serves the primary's users (after log line `from`), and a call between two of them connects with audio. */
async function takenOver(t: { true(v: boolean, m?: string): void }, from: number): Promise<void> {
  const sec = nodes.get('sec')!;
  await until('the secondary to serve the primary\'s users', () => sec.lines.slice(from).some((l) => l.message === 'failover: node declared down, serving its users' && l.node === 'pri'), 30_000, {
    detail: () => `\nsec:\n${sec.tail(20)}\nexp1:\n${nodes.get('exp1')!.tail(20)}`,
  });
  await sleep(500);
  const [a, b] = phones;
  await call(t, a, b, 'sec');
}

/** Waits until the primary serves its own users again (after log lines `fromPri`, `fromSec`): no split brain on the way. */
async function handedBack(fromPri: number, fromSec: number): Promise<void> {
  const pri = nodes.get('pri')!;
  const sec = nodes.get('sec')!;
  await until('the secondary to hand the users back', () => sec.lines.slice(fromSec).some((l) => l.message === 'failover: node stable and caught up, its users returned to it'), 30_000, { detail: () => sec.tail(20) });
  await until('the primary to serve its users', () => pri.lines.slice(fromPri).some((l) => l.message === 'failover: this node serves its own users' && l.from === 'displaced'), 15_000, { detail: () => pri.tail(20) });
}

test.serial('a hung primary (SIGSTOP): the secondary serves its users; resumed, the primary yields until it gets them back', async (t) => {
  const pri = nodes.get('pri')!;
  const fromPri = pri.lines.length;
  const fromSec = nodes.get('sec')!.lines.length;
  pri.proc.kill('SIGSTOP');
  try {
    await takenOver(t, fromSec);
  } finally {
    pri.proc.kill('SIGCONT');
  }
  // resumed: it learns from the secondary's heartbeats that it is displaced, and refuses calls meanwhile
  const displaced = await pri.waitFor("failover: this node's users are served by its backup; new calls refused until they return", (l) => pri.lines.indexOf(l) >= fromPri, 15_000);
  t.is(displaced.from, 'serving');
  await handedBack(fromPri, fromSec);
  t.true(await registers('202', 'pri'));
});

test.serial("the primary's network links down: the secondary serves its users; links up, they return", async (t) => {
  const pri = nodes.get('pri')!;
  const fromPri = pri.lines.length;
  const fromSec = nodes.get('sec')!.lines.length;
  net.setLinks('pri', false);
  try {
    await takenOver(t, fromSec);
  } finally {
    net.setLinks('pri', true);
  }
  await handedBack(fromPri, fromSec);
  t.true(await registers('202', 'pri'));
});
