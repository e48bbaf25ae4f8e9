/**
 * Calls benchmark (issue: calls between extensions). Prints, measured in this run:
 *  1. the highest call setup rate that sipp (uac -> pbx-core -> sipp uas, media anchored)
 *     sustains for DURATION s with no failed call, with the p99 setup time (authenticated
 *     INVITE to 200), beside sipp uac -> sipp uas directly (the ceiling) and through Kamailio
 *     as a stateful proxy, at the same rate;
 *  2. concurrent anchored calls with RTP flowing (sipp pcap play, echoed by the callee), and
 *     the packets the media engine received and relayed.
 * BENCH_QUICK=1: 10 s runs (a smoke run, not figures). BENCH_PARTS=setup,concurrent picks parts
 * (setup includes the references).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { runSippLoad } from './sipp-load.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server } from '../src/server.js';
import { ROOT, startBenchNode } from './node.js';

import { BenchResults } from './results.js';
const QUICK = process.env.BENCH_QUICK === '1';
const DURATION = QUICK ? 10 : 60;
const results = new BenchResults('calls', QUICK);
results.chart('setup', 'Call set-up latency against call rate', 'calls/s offered', 'p99 set-up time (ms)');
results.chart('concurrent', 'Concurrent anchored calls: RTP short against calls', 'concurrent calls', 'packets short (%)');
const SETUP = join(ROOT, 'bench/scenarios/uac_setup.xml');
const MEDIA = join(ROOT, 'bench/scenarios/uac_media.xml');
const REG = join(ROOT, 'test/peers/sipp/register_keys.xml');
const UAS_NOW = join(ROOT, 'bench/scenarios/uas_answer_now.xml');
const PBX = 36060;
const UAS = 36070;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function startNode(): Promise<Server> {
  const users = ['201', '202', '203'].map((e) => `  - { extension: "${e}", password: demo${e} }`).join('\n');
  return startBenchNode({ dir: mkdtempSync(join(tmpdir(), 'bench-node-')), port: PBX, yaml: `calls: { maxChannels: 20000, maxCallsPerUser: 100000 }\nusers:\n${users}` });
}

interface Run { ok: boolean; failed: number; achieved: number; p99: number | undefined }

/** sipp at `rate` calls/s for `total` calls; ok when none failed and the pace was kept. */
async function sipp(args: string[], rate: number, total: number): Promise<Run> {
  const r = await runSippLoad(args, rate, total);
  // the last calls placed still talk for the -d time (1 s) before sipp ends
  const achieved = r.elapsedS > 1.5 ? r.succeeded / (r.elapsedS - 1.5) : 0;
  return { ok: r.code === 0 && r.failed === 0 && r.succeeded === total && achieved >= 0.9 * rate, failed: r.failed, achieved, p99: r.p99 };
}

function startSipp(args: string[]) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-uas-'));
  const p = spawn('sipp', [...args, '-nostdin'], { cwd: dir, stdio: 'ignore' });
  return { stop: () => p.kill('SIGKILL') };
}

const RATES = [50, 100, 200, 300, 400, 500, 700, 1000];

async function setupRates(server: Server): Promise<{ best: number; p99: number | undefined; bestUnder50: number }> {
  const uac = ['127.0.0.1:' + PBX, '-sf', SETUP, '-s', '202', '-au', '201', '-ap', 'demo201', '-key', 'caller', '201',
    '-key', 'codec_pt', '0', '-key', 'codec', 'PCMU', '-i', '127.0.0.1', '-p', '36090', '-mi', '127.0.0.1', '-mp', '38000', '-d', '1000'];
  let best = 0;
  let bestP99: number | undefined;
  let bestUnder50 = 0;
  for (const rate of RATES) {
    const r = await sipp(uac, rate, rate * DURATION);
    const active = server.calls.active;
    if (r.ok) results.point('setup', 'pbx-core (digest, anchored media)', rate, r.p99);
    console.log(`  pbx-core: ${rate} calls/s for ${DURATION} s: ${r.failed} failed, achieved ${Math.round(r.achieved)}/s, p99 setup ${r.p99 ?? '?'} ms${r.ok ? '' : ' (not sustained)'}${active ? `, ${active} calls left` : ''}`);
    if (!r.ok) break;
    best = rate;
    bestP99 = r.p99;
    if (r.p99 !== undefined && r.p99 < 50) bestUnder50 = rate;
    await sleep(3000);
  }
  return { best, p99: bestP99, bestUnder50 };
}

let kamailioBest = 0;

async function references(rate: number): Promise<void> {
  if (!rate) return;
  const direct = startSipp(['-sn', 'uas', '-i', '127.0.0.1', '-p', '36100']);
  await sleep(500);
  const d = await sipp(['127.0.0.1:36100', '-sn', 'uac', '-s', '202', '-i', '127.0.0.1', '-p', '36101', '-d', '1000'], rate, rate * DURATION);
  direct.stop();
  if (d.ok) results.point('setup', 'sipp -> sipp (ceiling)', rate, d.p99, true);
  console.log(`  sipp -> sipp directly (ceiling): ${rate} calls/s: ${d.failed} failed, achieved ${Math.round(d.achieved)}/s, p99 setup ${d.p99 ?? '?'} ms`);
  if (spawnSync('sh', ['-c', 'command -v kamailio']).status !== 0) return;
  const kdir = mkdtempSync(join(tmpdir(), 'bench-kam-'));
  const uas = startSipp(['-sf', UAS_NOW, '-i', '127.0.0.1', '-p', '36110']);
  const k = spawnSync('kamailio', ['-f', join(ROOT, 'test/peers/kamailio/kamailio.cfg'), '-A', 'LISTEN=udp:127.0.0.1:36120', '-A', 'PBX_URI="sip:127.0.0.1:36110"', '-Y', kdir, '-P', join(kdir, 'k.pid'), '-E'], { stdio: 'ignore' });
  if (k.status !== 0) {
    uas.stop();
    return;
  }
  await sleep(1500);
  // the same caller as for pbx-core: users named auth* are challenged by this Kamailio (407)
  let kbest = 0;
  for (const r of RATES.filter((x) => x <= Math.max(rate, 50) * 2)) {
    const kr = await sipp(['127.0.0.1:36120', '-sf', SETUP, '-s', 'authbench', '-au', 'bench', '-ap', 'secret', '-key', 'caller', 'bench',
      '-key', 'codec_pt', '0', '-key', 'codec', 'PCMU', '-i', '127.0.0.1', '-p', '36121', '-mi', '127.0.0.1', '-mp', '38200', '-d', '1000'], r, r * DURATION);
    if (kr.ok) results.point('setup', 'Kamailio proxy with digest', r, kr.p99, true);
    console.log(`  through Kamailio (stateful proxy, digest on INVITE, media not anchored): ${r} calls/s: ${kr.failed} failed, achieved ${Math.round(kr.achieved)}/s, p99 setup ${kr.p99 ?? '?'} ms${kr.ok ? '' : ' (not sustained)'}`);
    if (!kr.ok) break;
    kbest = r;
    await sleep(2000);
  }
  console.log(`  Kamailio sustained ${kbest} calls/s`);
  kamailioBest = kbest;
  spawnSync('sh', ['-c', `kill $(cat ${join(kdir, 'k.pid')})`]);
  uas.stop();
}

async function concurrent(server: Server): Promise<number> {
  let best = 0;
  for (const n of QUICK ? [100] : [250, 500, 1000, 1500]) {
    const engine = server.engine!;
    const before = engine.stats();
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, server.calls.active)), 200);
    // sipp plays pcap media with a thread per call: past ~500 calls one sipp falls behind, so
    // the callers are spread over several sipp processes of up to 500 calls each
    const parts = Math.ceil(n / 500);
    const runs = await Promise.all(Array.from({ length: parts }, (_, i) => sipp(['127.0.0.1:' + PBX, '-sf', MEDIA, '-s', '202', '-au', '201', '-ap', 'demo201', '-key', 'caller', '201',
      '-key', 'codec_pt', '8', '-key', 'codec', 'PCMA', '-i', '127.0.0.1', '-p', String(36091 + i * 2), '-mi', '127.0.0.1', '-mp', String(38100 + i * 4000)], 100 / parts, Math.ceil(n / parts))));
    const r = { failed: runs.reduce((a, x) => a + x.failed, 0) };
    clearInterval(sampler);
    await sleep(1000);
    const after = engine.stats();
    const rx = after.rxPackets - before.rxPackets;
    const tx = after.txPackets - before.txPackets;
    // each call: 3 x 236 packets from the caller, echoed back by the callee
    const expected = n * 3 * 236 * 2;
    const lost = expected - Math.min(rx, tx);
    results.point('concurrent', 'pbx-core', peak, (100 * lost) / expected);
    console.log(`  ${n} calls (peak ${peak} at once), RTP echoed: ${r.failed} failed calls; engine received ${rx} and relayed ${tx} of ${expected} packets (${(100 * lost / expected).toFixed(2)}% short); frame lateness p99 ${after.lateP99Ms} ms`);
    if (r.failed !== 0 || lost > expected * 0.001) break;
    best = peak;
    await sleep(3000);
  }
  return best;
}

async function main(): Promise<void> {
  console.log(`# calls benchmark (${new Date().toISOString()}, node ${process.version}${QUICK ? ', QUICK' : ''})`);
  if (spawnSync('sh', ['-c', 'command -v sipp']).status !== 0) {
    console.log('calls: sipp not installed (run scripts/peers.sh): skipped');
    return;
  }
  const server = await startNode();
  // the node runs in this process: sipp must run alongside, not block the event loop
  const reg = await runSippLoad([`127.0.0.1:${PBX}`, '-sf', REG, '-s', '202', '-au', '202', '-ap', 'demo202', '-key', 'contact', `<sip:202@127.0.0.1:${UAS}>`,
    '-key', 'expires', '3600', '-key', 'extra', 'X-Bench: 1', '-i', '127.0.0.1', '-p', String(UAS)], 1, 1, { timeoutS: 10 });
  if (reg.code !== 0) throw new Error(`the bench callee could not register (sipp exit ${reg.code})`);
  const uas = startSipp(['-sf', UAS_NOW, '-i', '127.0.0.1', '-p', String(UAS), '-mi', '127.0.0.1', '-mp', '37000', '-rtp_echo']);
  await sleep(500);
  try {
    const parts = (process.env.BENCH_PARTS ?? 'setup,concurrent').split(',');
    const setup = parts.includes('setup') ? await setupRates(server) : { best: 0, p99: undefined, bestUnder50: 0 };
    if (parts.includes('setup')) await references(setup.best);
    const conc = parts.includes('concurrent') ? await concurrent(server) : 0;
    results.figure({ label: `call set-ups/s sustained ${DURATION} s (anchored media)`, value: setup.best, unit: '/s', ...(kamailioBest ? { reference: { label: 'Kamailio proxy with digest', value: kamailioBest } } : {}), goal: '≥ 200/s' });
    results.figure({ label: 'highest rate with p99 set-up < 50 ms', value: setup.bestUnder50, unit: '/s', goal: '≥ 200/s' });
    if (conc) results.figure({ label: 'concurrent anchored calls, RTP echoed, no loss', value: conc, unit: 'calls', goal: '≥ 1,000' });
    results.save();
    console.log(`calls: ${setup.best} call setups/s sustained for ${DURATION} s with no failed call, p99 setup ${setup.p99 ?? '?'} ms; highest rate with p99 < 50 ms: ${setup.bestUnder50}/s (goals >= 200/s with p99 < 50 ms); ${conc} concurrent anchored calls with RTP and no loss (goal >= 1,000)`);
  } finally {
    uas.stop();
    await server.close();
  }
}

await main();
