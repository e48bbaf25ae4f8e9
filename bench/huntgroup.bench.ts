/**
 * Hunt group benchmark (issue: hunt groups). Prints, measured in this run, the highest call
 * setup rate sipp sustains for DURATION s with no failed call:
 *  1. to a 100-member hunt group (rotary: the member is chosen for every call, availability of
 *     each member looked up), and
 *  2. to one extension (the reference: extension-to-extension calls, same node, same caller),
 * and their ratio (goal: the hunt group within 10 % of the extension). The 100 members and the
 * extension register (real REGISTERs) with one sipp UAS that answers at once. Calls hang up at once,
 * so the members are never all busy (a busy member is skipped; an extension takes any number).
 * BENCH_QUICK=1: 10 s steps (a smoke run, not figures).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server } from '../src/server.js';
import { ROOT, startBenchNode } from './node.js';
import { runSippLoad } from './sipp-load.js';

import { BenchResults } from './results.js';

const QUICK = process.env.BENCH_QUICK === '1';
const results = new BenchResults('huntgroup', QUICK);
results.chart('setup', 'Hunt group against extension: set-up latency against call rate', 'calls/s offered', 'p99 set-up time (ms)');
const DURATION = QUICK ? 10 : 30;
const SETUP = join(ROOT, 'bench/scenarios/uac_setup.xml');
const REG = join(ROOT, 'bench/scenarios/register_inf.xml');
const UAS_NOW = join(ROOT, 'bench/scenarios/uas_answer_now.xml');
const PBX = 36160;
const UAS = 36170;
const MEMBERS = Array.from({ length: 100 }, (_, i) => String(300 + i));
const RATES = process.env.BENCH_RATES ? process.env.BENCH_RATES.split(',').map(Number) : QUICK ? [50, 100, 200] : [50, 100, 150, 200, 250, 300, 400, 500, 700];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function startNode(dir: string): Promise<Server> {
  const users = ['201', '202', ...MEMBERS].map((e) => `  - { extension: "${e}", password: demo${e}, voicemail: { enabled: false } }`).join('\n');
  return startBenchNode({ dir, port: PBX, yaml: `calls: { maxChannels: 20000, maxCallsPerUser: 100000 }
users:
${users}
huntGroups:
  - { extension: "600", name: Sales, ringMode: rotary, members: [${MEMBERS.map((m) => `"${m}"`).join(', ')}], voicemail: { enabled: false } }` });
}

/** One step: calls to `number` at `rate` for DURATION s; ok when all succeed at the pace asked. */
async function step(number: string, label: string, rate: number): Promise<boolean> {
  const uac = ['127.0.0.1:' + PBX, '-sf', SETUP, '-s', number, '-au', '201', '-ap', 'demo201', '-key', 'caller', '201',
    '-key', 'codec_pt', '0', '-key', 'codec', 'PCMU', '-i', '127.0.0.1', '-p', '36190', '-mi', '127.0.0.1', '-mp', '38600', '-d', '0', ...(process.env.BENCH_TRACE ? ['-trace_err'] : [])];
  const r = await runSippLoad(uac, rate, rate * DURATION);
  const achieved = r.elapsedS > 1.5 ? r.succeeded / (r.elapsedS - 1.5) : 0;
  const ok = r.code === 0 && r.failed === 0 && r.succeeded === rate * DURATION && achieved >= 0.9 * rate;
  if (ok) results.point('setup', number === '202' ? 'extension 202 (reference)' : 'hunt group of 100 members, rotary', rate, r.p99, number === '202');
  console.log(`  ${label}: ${rate} calls/s for ${DURATION} s: ${r.failed} failed, achieved ${Math.round(achieved)}/s, p99 setup ${r.p99 ?? '?'} ms${ok ? '' : ' (not sustained)'}`);
  await sleep(2000);
  return ok;
}

/**
 * The two paths step up together, extension first, then the group at the same rate, so both
 * meet the same machine state; each stops at its first failed step.
 */
async function bestRates(): Promise<{ ext: number; hunt: number }> {
  let ext = 0;
  let hunt = 0;
  let extOk = true;
  let huntOk = true;
  for (const rate of RATES) {
    if (process.env.BENCH_ONLY !== 'hunt' && extOk && (extOk = await step('202', 'extension 202', rate))) ext = rate;
    if (huntOk && (huntOk = await step('600', 'hunt group 600 (100 members, rotary)', rate))) hunt = rate;
    if (!extOk && !huntOk) break;
  }
  return { ext, hunt };
}

async function main(): Promise<void> {
  console.log(`# hunt group benchmark (${new Date().toISOString()}, node ${process.version}${QUICK ? ', QUICK' : ''})`);
  const dir = mkdtempSync(join(tmpdir(), 'bench-hunt-'));
  const server = await startNode(dir);
  const inf = join(dir, 'users.csv');
  writeFileSync(inf, ['SEQUENTIAL', ...['202', ...MEMBERS].map((e) => `${e};[authentication username=${e} password=demo${e}];`)].join('\n') + '\n');
  const reg = await runSippLoad([`127.0.0.1:${PBX}`, '-sf', REG, '-inf', inf, '-key', 'contact_port', String(UAS), '-i', '127.0.0.1', '-p', String(UAS)], 50, MEMBERS.length + 1, { timeoutS: 30 });
  if (reg.code !== 0 || reg.succeeded !== MEMBERS.length + 1) throw new Error(`members did not register (sipp exit ${reg.code}, ${reg.succeeded} registered)`);
  const uasDir = mkdtempSync(join(tmpdir(), 'bench-uas-'));
  const uas = spawn('sipp', ['-sf', UAS_NOW, '-i', '127.0.0.1', '-p', String(UAS), '-mi', '127.0.0.1', '-mp', '37600', '-nostdin'], { cwd: uasDir, stdio: 'ignore' });
  await sleep(500);
  try {
    const { ext, hunt } = await bestRates();
    const ratio = ext ? hunt / ext : 0;
    // the member choice really moves: rotary spreads the group's calls over every member
    const answeredBy = new Set(server.records.query({ number: '600', limit: 1000 }).map((r) => r.connectedNumber).filter((n) => n !== undefined));
    console.log(`  the last ${Math.min(1000, server.records.count())} calls to 600 were answered by ${answeredBy.size} different members`);
    results.figure({ label: 'calls/s through a 100-member rotary group, none failed', value: hunt, unit: '/s', reference: { label: 'calls to one extension', value: ext }, goal: '≥ 0.90× the extension' });
    results.save();
    console.log(`huntgroup: ${hunt} calls/s through a 100-member group (member chosen per call) vs ${ext} calls/s to an extension in the same run: ratio ${ratio.toFixed(2)} (goal >= 0.90)`);
  } finally {
    uas.kill('SIGKILL');
    await server.close();
  }
}

await main();
