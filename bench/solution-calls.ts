/**
 * The calls part of the solution benchmark: every user registered by sipp on its home node,
 * then calls from one expansion's user to another expansion's user (over the links, through the
 * primary: the star) beside calls between two users of the same expansion, one after the other
 * at the same rate, each timed by sipp from the authenticated INVITE to the 200.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './node.js';
import { runSippLoad, type LoadResult } from './sipp-load.js';

const REG = join(ROOT, 'bench/scenarios/register_inf.xml');
const SETUP = join(ROOT, 'bench/scenarios/uac_setup.xml');
const UAS_NOW = join(ROOT, 'bench/scenarios/uas_answer_now.xml');
/** Register sipp i uses port REG_PORT + i; the callee nodes' UAS take over the same ports. */
const REG_PORT = 36300;
const UAC_PORT = 36390;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface SolutionUsers {
  /** Node names, in the document's order. */
  names: readonly string[];
  /** SIP address of node i (port 5060). */
  addr: (i: number) => string;
  /** Users by extension: home node and password in force. */
  users: ReadonlyMap<string, { node: string; password: string }>;
}

/** Registers every user on its home node (several sipp at once); the number registered. */
export async function registerAll(s: SolutionUsers, parallel = 8): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-solution-reg-'));
  const jobs = s.names.map((name, i) => async () => {
    const mine = [...s.users].filter(([, u]) => u.node === name);
    if (mine.length === 0) return 0;
    const inf = join(dir, `${name}.csv`);
    writeFileSync(inf, ['SEQUENTIAL', ...mine.map(([e, u]) => `${e};[authentication username=${e} password=${u.password}];`)].join('\n') + '\n');
    const r = await runSippLoad([`${s.addr(i)}:5060`, '-sf', REG, '-inf', inf, '-key', 'contact_port', String(REG_PORT + i), '-i', '127.0.0.1', '-p', String(REG_PORT + i)],
      50, mine.length, { timeoutS: 60 });
    if (r.code !== 0 || r.succeeded !== mine.length) throw new Error(`node ${name}: ${r.succeeded} of ${mine.length} users registered (sipp exit ${r.code})`);
    return r.succeeded;
  });
  let done = 0;
  for (let k = 0; k < jobs.length; k += parallel) done += (await Promise.all(jobs.slice(k, k + parallel).map((j) => j()))).reduce((a, b) => a + b, 0);
  return done;
}

export interface CallRun {
  label: string;
  rate: number;
  calls: number;
  result: LoadResult;
}

/**
 * Calls from `caller` (a user of node `from`) to `sameNode` (a user of that node too) and to
 * `otherNode` (a user of node `to`), at each rate for `seconds`; the callees' phones are sipp
 * UAS on the ports their users registered from.
 */
export async function callRuns(s: SolutionUsers, o: { caller: string; sameNode: string; otherNode: string; rates: readonly number[]; seconds: number }): Promise<CallRun[]> {
  const from = s.names.indexOf(s.users.get(o.caller)!.node);
  const to = s.names.indexOf(s.users.get(o.otherNode)!.node);
  if (s.users.get(o.sameNode)!.node !== s.names[from]) throw new Error(`${o.sameNode} is not on node ${s.names[from]}`);
  const phones: ChildProcess[] = [from, to].map((i, k) => spawn('sipp', ['-sf', UAS_NOW, '-i', '127.0.0.1', '-p', String(REG_PORT + i), '-mi', '127.0.0.1', '-mp', String(37700 + k * 200), '-nostdin'],
    { cwd: mkdtempSync(join(tmpdir(), 'bench-solution-uas-')), stdio: 'ignore' }));
  const password = s.users.get(o.caller)!.password;
  const runs: CallRun[] = [];
  try {
    await sleep(500);
    for (const rate of o.rates) {
      for (const [label, callee] of [['cross-node (expansion -> primary -> expansion)', o.otherNode], ['same node', o.sameNode]] as const) {
        const total = rate * o.seconds;
        const result = await runSippLoad([`${s.addr(from)}:5060`, '-sf', SETUP, '-s', callee, '-au', o.caller, '-ap', password, '-key', 'caller', o.caller,
          '-key', 'codec_pt', '0', '-key', 'codec', 'PCMU', '-i', '127.0.0.1', '-p', String(UAC_PORT), '-mi', '127.0.0.1', '-mp', '38000', '-d', '1000'], rate, total);
        runs.push({ label, rate, calls: total, result });
        console.log(`  ${label}, ${rate} calls/s for ${o.seconds} s: ${result.succeeded} of ${total} connected, ${result.failed} failed; set-up p50 ${result.p50 ?? '?'} ms, p99 ${result.p99 ?? '?'} ms`);
        await sleep(2000);
      }
    }
  } finally {
    for (const p of phones) p.kill('SIGKILL');
  }
  return runs;
}
