/**
 * Solution benchmark (issue 16, phase 1): a 32-node solution (primary, secondary, 30
 * expansions; 1000 users) started as 32 node processes on loopback, each core with its own
 * nats-server. Measures, in this run:
 *  1. configuration propagation: ROUNDS changes published by the primary (a user's password
 *     on a changing expansion, SIGHUP), the time from publication to "configuration applied" on
 *     each of the 32 nodes (every node's log line carries both times): p50, p99, max; then
 *     ROUNDS_ALL changes of a section every node runs (each node validates that section and the
 *     checks that read it, and applies it: src/solution/validator.ts);
 *  2. the reference: a bare KV put on the primary's nats-server seen by a KV watcher connected
 *     to the secondary's server (through the leaf link), the path underneath (p50, p99);
 *  3. calls (bench/solution-calls.ts): the 1000 users registered by sipp on their home nodes,
 *     then calls from a user of expansion e1 to a user of e2 (over the links through the
 *     primary) beside calls between two users of e1, at the seed's rate (an expansion's busy
 *     hour: DL120, 10,800 calls an hour, 3/s) and at 20/s: set-up p50 and p99 of each;
 *  4. memory: RSS of each node process and of each nats-server, after the calls.
 * BENCH_QUICK=1: 5 rounds, 8 nodes, 10 s of calls per rate (a smoke run, not figures).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { ROOT } from './node.js';
import { callRuns, registerAll } from './solution-calls.js';

const QUICK = process.env.BENCH_QUICK === '1';
const NODES = QUICK ? 8 : 32;
const ROUNDS = QUICK ? 5 : 30;
const ROUNDS_ALL = QUICK ? 3 : 10;
/** Seconds of calls at each rate: the seed's rate (an expansion's busy hour, 3/s), then 20/s. */
const CALL_SECONDS = QUICK ? 10 : 40;
const CALL_RATES = [3, 20];
const USERS = 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const dir = mkdtempSync(join(tmpdir(), 'pbx-bench-solution-'));
const file = join(dir, 'solution.yaml');
const names = ['pri', 'sec', ...Array.from({ length: NODES - 2 }, (_, i) => `e${i + 1}`)];
const addr = (i: number) => `127.0.16.${11 + i}`;
const PASSWORD = 'bus-bench-16';

function homeOf(u: number): string {
  // 100 on the primary, the rest spread over the expansions
  return u < 100 ? 'pri' : names[2 + ((u - 100) % (NODES - 2))]!;
}

/** User u's password in the document of `round` (each round changes one user's). */
function password(u: number, round: number): string {
  return u === 100 + (round % (NODES - 2)) ? `changed-${round}` : `pw-${2000 + u}`;
}

function document(round: number, everyNode = 0): string {
  const nodes = names.map((n, i) => `  - { name: ${n}, role: ${i === 0 ? 'primary' : i === 1 ? 'secondary' : 'expansion'}, profile: ${i < 2 ? 'DL360' : 'DL120'}, address: ${addr(i)}, dataDir: ${JSON.stringify(join(dir, n))} }`);
  const users = Array.from({ length: USERS }, (_, u) => {
    // each round changes the password of one user, homed on a different node each time
    return `  - { extension: "${2000 + u}", password: ${password(u, round)}, node: ${homeOf(u)}, voicemail: { enabled: false } }`;
  });
  // One sipp caller places every call to one callee (1 s each: 20 at once at 20/s): the per-user
  // limit (calls.maxCallsPerUser, 8 by default, a defence against a stolen account) would refuse
  // the calls above 8 and the figure would be the limit's, not the set-up time's.
  return `log: { level: info, format: json }
bus: { password: ${PASSWORD} }
security: { lockout: { maxFailures: 10000 } }
admin: { enabled: false }
media: { portMin: 40000, portMax: 40999 }
calls: { ringTimeoutSeconds: ${30 + everyNode}, maxCallsPerUser: 200 }
nodes:
${nodes.join('\n')}
users:
${users.join('\n')}
`;
}

interface Applied {
  node: string;
  revision: number;
  latencyMs: number;
}

const applied: Applied[] = [];
const procs = new Map<string, ChildProcess>();
let stopping = false;

function start(name: string): void {
  const p = spawn(process.execPath, [join(ROOT, 'dist/src/cli.js'), 'start', '--config', file, '--node', name], { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] });
  let buf = '';
  p.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      // a node's own account of what went wrong (its logs are otherwise only read for this)
      if (line.includes('"level":"error"')) console.error(`${name}: ${line}`);
      // the bus revision's line (the node's own reconfigure logs "configuration applied" with its own counter)
      if (!line.includes('"message":"solution: configuration applied"')) continue;
      const l = JSON.parse(line) as { revision: number; publishedAt: string; timestamp: string };
      applied.push({ node: name, revision: l.revision, latencyMs: Date.parse(l.timestamp) - Date.parse(l.publishedAt) });
    }
  });
  p.once('exit', (code, signal) => {
    if (!stopping) console.error(`node ${name} exited (${signal ?? `code ${code}`})`);
  });
  procs.set(name, p);
}

const revisionEverywhere = (r: number) => names.every((n) => applied.some((a) => a.node === n && a.revision >= r));

async function waitFor(what: string, cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

function rssMb(pid: number | undefined): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

function natsPids(): number[] {
  const out: number[] = [];
  for (const n of ['pri', 'sec']) {
    const parent = procs.get(n)?.pid;
    try {
      const kids = readFileSync(`/proc/${parent}/task/${parent}/children`, 'utf8').trim().split(/\s+/).map(Number);
      out.push(...kids.filter((k) => readFileSync(`/proc/${k}/cmdline`, 'utf8').startsWith('nats-server')));
    } catch {
      // gone
    }
  }
  return out;
}

/** The reference: KV put on the primary's server, watched through the secondary's. */
async function kvReference(rounds: number): Promise<number[]> {
  const opts = { user: 'pbx', pass: PASSWORD };
  const a = await connect({ servers: `${addr(0)}:4222`, ...opts });
  const b = await connect({ servers: `${addr(1)}:4222`, ...opts });
  const kv = await new Kvm(a).create('bench-reference', { history: 1 });
  const watched = await new Kvm(jetstream(b, { domain: 'pri' })).open('bench-reference');
  const seen = new Map<string, number>();
  const w = await watched.watch({ key: '>' });
  void (async () => {
    for await (const e of w) seen.set(e.string(), performance.now());
  })();
  const out: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const tag = `v${i}`;
    const t0 = performance.now();
    await kv.put('k', tag);
    await waitFor('reference watch', () => seen.has(tag), 5000);
    out.push(seen.get(tag)! - t0);
  }
  w.stop();
  await a.close();
  await b.close();
  return out;
}

async function main(): Promise<void> {
  writeFileSync(file, document(0));
  const t0 = Date.now();
  for (const n of names) start(n);
  await waitFor(`revision 1 on ${NODES} nodes`, () => revisionEverywhere(1), 400_000);
  console.log(`${NODES} nodes up, revision 1 applied everywhere in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  await sleep(2000);
  const from = applied.length;
  for (let r = 1; r <= ROUNDS; r++) {
    writeFileSync(file, document(r));
    procs.get('pri')!.kill('SIGHUP');
    await waitFor(`revision ${r + 1} everywhere`, () => revisionEverywhere(r + 1), 30_000);
    await sleep(200);
  }
  const lat = applied.slice(from).map((a) => a.latencyMs);
  const fromAll = applied.length;
  for (let r = 1; r <= ROUNDS_ALL; r++) {
    writeFileSync(file, document(ROUNDS, r));
    procs.get('pri')!.kill('SIGHUP');
    await waitFor(`revision ${ROUNDS + r + 1} everywhere`, () => revisionEverywhere(ROUNDS + r + 1), 30_000);
    await sleep(200);
  }
  const latAll = applied.slice(fromAll).map((a) => a.latencyMs);
  const ref = await kvReference(ROUNDS * 4);
  console.log(`config propagation to ${NODES} nodes (${ROUNDS} changes, ${lat.length} applications): p50 ${pct(lat, 50)} ms, p99 ${pct(lat, 99)} ms, max ${Math.max(...lat)} ms`);
  console.log(`config propagation, a section every node applies (${ROUNDS_ALL} changes, ${latAll.length} applications): p50 ${pct(latAll, 50)} ms, p99 ${pct(latAll, 99)} ms, max ${Math.max(...latAll)} ms`);
  console.log(`reference, bare KV put -> watch through the leaf link: p50 ${pct(ref, 50).toFixed(1)} ms, p99 ${pct(ref, 99).toFixed(1)} ms`);
  console.log(`ratio (p99 propagation / p99 reference): ${(pct(lat, 99) / Math.max(0.1, pct(ref, 99))).toFixed(1)}`);

  const users = new Map(Array.from({ length: USERS }, (_, u) => [String(2000 + u), { node: homeOf(u), password: password(u, ROUNDS) }]));
  const solution = { names, addr, users };
  const t1 = Date.now();
  const registered = await registerAll(solution);
  console.log(`${registered} users registered by sipp on their ${NODES - 1} home nodes in ${((Date.now() - t1) / 1000).toFixed(1)} s`);
  // e1's first user calls e1's second user (same node) and e2's first user (across)
  const runs = await callRuns(solution, { caller: '2100', sameNode: String(2100 + NODES - 2), otherNode: '2101', rates: CALL_RATES, seconds: CALL_SECONDS });
  for (const rate of CALL_RATES) {
    const [cross, same] = runs.filter((r) => r.rate === rate).map((r) => r.result);
    console.log(`call set-up at ${rate}/s: cross-node p50 ${cross!.p50} ms, p99 ${cross!.p99} ms (${cross!.failed} failed) | same node p50 ${same!.p50} ms, p99 ${same!.p99} ms (${same!.failed} failed) | ratio p99 ${((cross!.p99 ?? 0) / Math.max(1, same!.p99 ?? 0)).toFixed(1)}`);
  }

  const nodeRss = names.map((n) => rssMb(procs.get(n)?.pid));
  const natsRss = natsPids().map(rssMb);
  console.log(`memory: node RSS p50 ${pct(nodeRss, 50).toFixed(0)} MB, max ${Math.max(...nodeRss).toFixed(0)} MB (primary ${nodeRss[0]!.toFixed(0)} MB); nats-server RSS ${natsRss.map((m) => `${m.toFixed(0)} MB`).join(', ')}`);
}

try {
  await main();
} finally {
  stopping = true;
  for (const p of procs.values()) p.kill('SIGTERM');
  await Promise.all([...procs.values()].map((p) => (p.exitCode === null && p.signalCode === null ? new Promise((d) => p.once('close', d)) : undefined)));
}
