/**
 * Faults beyond a clean failure, in a 3-node solution (primary, secondary, expansion), each node
 * a process in its own network namespace, the expansion backed up by the secondary:
 * - loss on the primary's link (an nftables rule in its namespace dropping a random share of
 *   what it sends and receives): moderate loss takes nothing over and flaps nothing (the
 *   secondary stays in standby, the node links stay up) and a call from the expansion to the
 *   primary connects with each side heard; total loss is a failure like a link down: the
 *   secondary serves the primary's users, and they return when the loss ends;
 * - kill -9 of the expansion: its backup serves its users, whose phones hold standby
 *   registrations there (a primary phone calls one and each hears the other), and the
 *   expansion back, they return to it after the stable time.
 * What a user notices is checked with baresip phones. Short hold-down and stable times keep the
 * file's wall time bounded.
 */
import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestNet } from '../helpers/netns.js';
import { NodeProcess, type LogLine } from '../helpers/node-process.js';
import { Baresip, lastHeard, makeToneWav } from '../helpers/baresip.js';
import { hasTone } from '../helpers/tone.js';
import { portBlock } from '../helpers/ports.js';
import { sleep, until } from '../helpers/wait.js';

const net = new TestNet('23flt', 123);
const NODES = ['pri', 'sec', 'exp1'];
const dir = mkdtempSync(join(tmpdir(), 'pbx-faults-'));
const file = join(dir, 'solution.yaml');
const nodes = new Map<string, NodeProcess>();
/** Every node process started, restarts included. */
const started: NodeProcess[] = [];
const ports = portBlock(143);
// The default hold-down: the bus reaches the primary over TCP, whose retransmissions back off
// (200, 400, 800 ms...) when a few packets in a row are lost, so at 25 % loss a stream can stall
// for over a second; 1 s (the other failover files' setting) lost the primary on the expansion
// now and then in the full suite, 2 s, what operators run with, holds.
const HOLD_DOWN = 2;
const STABLE = 3;
/** Moderate loss: this share of the packets the primary sends, and of those it receives, is dropped. */
const LOSS = 25;

function document(): string {
  const entry = (name: string, role: string, profile: string, more = '') =>
    `  - { name: ${name}, role: ${role}, profile: ${profile}, address: ${net.addr(name)}, bus: { address: ${net.addr(name, 'bus')} }, dataDir: ${JSON.stringify(join(dir, name))}${more} }`;
  return `log: { level: debug, format: json }
bus: { password: bus-secret-23, heartbeatSeconds: 0.25, holdDownSeconds: ${HOLD_DOWN} }
failover: { stableSeconds: ${STABLE}, startGraceSeconds: 60 }
links: { keepaliveSeconds: 1 }
nodes:
${entry('pri', 'primary', 'DL360')}
${entry('sec', 'secondary', 'DL120')}
${entry('exp1', 'expansion', 'ExpansionL', ', backup: sec')}
users:
  - { extension: "201", password: secret201, node: pri }
  - { extension: "202", password: secret202, node: pri }
  - { extension: "301", password: secret301, node: exp1 }
`;
}

function start(name: string): NodeProcess {
  const n = new NodeProcess({ config: file, node: name, netns: net.ns(name) });
  nodes.set(name, n);
  started.push(n);
  return n;
}

let phoneSeq = 0;
const phones: Baresip[] = [];

/** A phone of `ext` registered on `node` (at home, or its standby registration on the home's backup), answering at once and sending a tone of `freq`. */
async function phone(ext: string, node: string, freq: number): Promise<Baresip> {
  const n = phoneSeq++;
  const b = await Baresip.start({
    listen: `${net.here}:${ports(20 + 10 * n)}`,
    ctrlPort: ports(n),
    source: makeToneWav(join(dir, `tone-${ext}-${n}.wav`), freq, 120),
    account: `<sip:${ext}@${net.addr(node)}:5060>;auth_pass=secret${ext};regint=600;answermode=auto;audio_codecs=PCMU`,
  });
  phones.push(b);
  await b.waitRegistered();
  return b;
}

/** Forgets the phones' past events: the next wait sees only what follows. */
function fresh(...ps: Baresip[]): void {
  for (const p of ps) p.events.splice(0);
}

/** `a` (sending `fa`) calls `to` through `node`, and `b` (sending `fb`) answers: the call connects and each hears the other. */
async function call(t: { true(v: boolean, m?: string): void }, a: Baresip, fa: number, b: Baresip, fb: number, node: string, to: string): Promise<void> {
  fresh(a, b);
  a.command('dial', `sip:${to}@${net.addr(node)}:5060`);
  // (the callee's own CALL_ESTABLISHED waits for the ACK, which loss may delay: its audio is what counts)
  await a.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 20_000);
  await sleep(3000);
  a.command('hangup');
  await b.waitEvent((e) => e.type === 'CALL_CLOSED', 15_000);
  await sleep(300);
  t.true(hasTone(await lastHeard(a), fb, 0.3), `the caller hears ${to} (${fb} Hz, through ${node})`);
  t.true(hasTone(await lastHeard(b), fa, 0.3), `${to} hears the caller (${fa} Hz, through ${node})`);
}

/** Node `name`'s log lines from index `from` on with this message (and `match`). */
function said(name: string, from: number, message: string, match: (l: LogLine) => boolean = () => true): LogLine[] {
  return nodes.get(name)!.lines.slice(from).filter((l) => l.message === message && match(l));
}

const marks = () => new Map([...nodes].map(([name, n]) => [name, n.lines.length]));

test.before(async () => {
  net.up(NODES);
  writeFileSync(file, document());
  for (const name of NODES) start(name);
  // (a node's start takes long on a machine busy with other work: these are waits, not measurements)
  for (const n of nodes.values()) await n.waitFor('solution: configuration applied', (l) => l.revision === 1, 60_000);
  await nodes.get('pri')!.waitFor('failover: this node serves its own users', () => true, 20_000);
  await nodes.get('exp1')!.waitFor('failover: this node serves its own users', () => true, 20_000);
  await nodes.get('exp1')!.waitFor('solution: node link up', (l) => l.link === 'pri');
  await nodes.get('exp1')!.waitFor('solution: node link up', (l) => l.link === 'sec');
  await nodes.get('pri')!.waitFor('solution: node link up', (l) => l.link === 'sec');
});

test.after.always(async () => {
  // every run of every node (a restarted node is a new process) its own file
  if (process.env.PBX_KEEP_LOGS) started.forEach((n, i) => writeFileSync(join(process.env.PBX_KEEP_LOGS!, `${n.name}-${i}.log`), n.lines.map((l) => JSON.stringify(l)).join('\n')));
  await Promise.all(phones.map((p) => p.stop()));
  await Promise.all([...nodes.values()].map((n) => n.stop()));
  net.down(NODES);
});

test.serial(`${LOSS} % loss on the primary's link: no takeover and nothing flaps, and a call from the expansion to the primary connects with each side heard`, async (t) => {
  const a = await phone('301', 'exp1', 1000);
  const b = await phone('201', 'pri', 440);
  // stopped even when a check fails: a phone left registered would answer the next test's call
  t.teardown(() => Promise.all([a.stop(), b.stop()]));
  const from = marks();
  const lossAt = Date.now();
  let dropped = 0;
  net.setLoss('pri', LOSS);
  try {
    // several hold-downs under loss before the call, and more during and after it
    await sleep(3000);
    await call(t, a, 1000, b, 440, 'exp1', '201');
    await sleep(Math.max(0, lossAt + 15 * HOLD_DOWN * 1000 - Date.now()));
    // the loss was real: a share of the heartbeats, OPTIONS, bus and call traffic went missing
    dropped = net.dropped('pri');
  } finally {
    net.setLoss('pri', 0);
  }
  t.log(`${dropped} packets dropped on the primary's link in ${Math.round((Date.now() - lossAt) / 1000)} s`);
  t.true(dropped > 100, `packets dropped: ${dropped}`);
  const lostPri = (name: string) => said(name, from.get(name)!, 'failover: watched nodes seen here changed', (l) => (l.lost as string[]).includes('pri'));
  const detail = (name: string) => lostPri(name).map((l) => `${String(l.timestamp)} ${JSON.stringify(l.sees)}`).join(', ');
  t.deepEqual(said('sec', from.get('sec')!, 'failover: node declared down, serving its users'), [], 'the secondary stays in standby');
  t.deepEqual(said('pri', from.get('pri')!, "failover: this node's users are served by its backup; new calls refused until they return"), [], 'the primary keeps serving its users');
  t.is(lostPri('sec').length, 0, `the secondary never lost the primary: ${detail('sec')}`);
  t.is(lostPri('exp1').length, 0, `the expansion never lost the primary: ${detail('exp1')}`);
  t.deepEqual(said('exp1', from.get('exp1')!, 'solution: node link down').map((l) => l.reason), [], "the expansion's link to the primary stayed up");
  t.true(nodes.get('exp1')!.has('call out on trunk link-pri to 201'), 'the call went over the link to the primary');
  await Promise.all([a.stop(), b.stop()]);
});

test.serial("total loss on the primary's link: the secondary serves its users, who call and are heard; the loss over, they return", async (t) => {
  const a = await phone('201', 'sec', 1000);
  const b = await phone('202', 'sec', 440);
  t.teardown(() => Promise.all([a.stop(), b.stop()]));
  const from = marks();
  net.setLoss('pri', 100);
  try {
    const sec = nodes.get('sec')!;
    await until("the secondary to serve the primary's users", () => said('sec', from.get('sec')!, 'failover: node declared down, serving its users', (l) => l.node === 'pri').length > 0, 30_000, {
      detail: () => `\nsec:\n${sec.tail(20)}\nexp1:\n${nodes.get('exp1')!.tail(20)}`,
    });
    await sleep(500);
    await call(t, a, 1000, b, 440, 'sec', '202');
    // silence takes the node links down too (after several keepalives in a row, each asked again)
    const linkDown = () => said('exp1', from.get('exp1')!, 'solution: node link down', (l) => l.link === 'pri');
    await until("the expansion's link to the primary to go down", () => linkDown().length > 0, 20_000);
    t.regex(String(linkDown()[0]!.reason), /no answer to OPTIONS|timed out/);
  } finally {
    net.setLoss('pri', 0);
  }
  await nodes.get('exp1')!.waitFor('solution: node link up', (l) => l.link === 'pri' && nodes.get('exp1')!.lines.indexOf(l) > from.get('exp1')!, 20_000);
  await until('the secondary to hand the users back', () => said('sec', from.get('sec')!, 'failover: node stable and caught up, its users returned to it', (l) => l.node === 'pri').length > 0, 30_000, { detail: () => nodes.get('sec')!.tail(20) });
  await until('the primary to serve its users', () => said('pri', from.get('pri')!, 'failover: this node serves its own users', (l) => l.from === 'displaced').length > 0, 15_000, { detail: () => nodes.get('pri')!.tail(20) });
  await Promise.all([a.stop(), b.stop()]);
});

test.serial("kill -9 of the expansion: the secondary, its backup, serves its users (a primary phone reaches one there, each heard); the expansion back, they return after the stable time", async (t) => {
  const caller = await phone('201', 'pri', 1000);
  // 301's phone holds its standby registration on the secondary, the expansion's backup
  const standby = await phone('301', 'sec', 440);
  const from = marks();
  t.true(net.signalAll('exp1', 'SIGKILL') > 0);
  await nodes.get('exp1')!.exited;
  const sec = nodes.get('sec')!;
  await until("the secondary to serve the expansion's users", () => said('sec', from.get('sec')!, 'failover: node declared down, serving its users', (l) => l.node === 'exp1').length > 0, 30_000, {
    detail: () => `\nsec:\n${sec.tail(20)}\npri:\n${nodes.get('pri')!.tail(20)}`,
  });
  await sleep(500);
  await call(t, caller, 1000, standby, 440, 'pri', '301');
  t.true(said('pri', from.get('pri')!, 'call out on trunk link-sec to 301').length > 0, 'the primary sent the call to the secondary');

  // the expansion back: displaced until the secondary hands its users back after the stable time
  const back = marks();
  const exp = start('exp1');
  const displaced = await exp.waitFor("failover: this node's users are served by its backup; new calls refused until they return", () => true, 30_000);
  t.is(displaced.to, 'displaced');
  await until('the secondary to hand the users back', () => said('sec', back.get('sec')!, 'failover: node stable and caught up, its users returned to it', (l) => l.node === 'exp1').length > 0, 30_000, { detail: () => sec.tail(20) });
  const served = await exp.waitFor('failover: this node serves its own users', (l) => l.from === 'displaced', 15_000);
  const seenBack = said('sec', back.get('sec')!, 'failover: node back, its users return after the stable time', (l) => l.node === 'exp1')[0];
  t.true(Date.parse(String(served.timestamp)) - Date.parse(String(seenBack?.timestamp)) >= STABLE * 1000, 'not before the stable time');
  // at home again: a call to 301 reaches its phone on the expansion, over the primary's link to it
  const home = await phone('301', 'exp1', 1700);
  await sleep(500);
  await call(t, caller, 1000, home, 1700, 'pri', '301');
  t.true(said('pri', back.get('pri')!, 'call out on trunk link-exp1 to 301').length > 0, 'the primary sent the call to the expansion');
});
