/**
 * Conference benchmark (issue: conferencing). Participants join meet-me conferences of 3, 10 and
 * 64 parties through SIP (sipp callers: digest-authenticated INVITE, dial plan short code, the
 * conference service answers) and stream a 1 kHz tone (sipp rtp_stream, PCMU) while the media
 * engine mixes. The load is stepped up; for each size it prints the largest number of
 * participants carried with frame-clock lateness p99 < 2 ms and no loss (no RTP sequence gap on
 * any leg, every leg sent its 50 frames/s), beside the node profile's 128 conference channels.
 *
 * Honest caveats, printed too: the node (SIP and the media thread) and the sipp load generators
 * share this machine's 2 cores. The server does not (yet) configure media.realtimePriority, so
 * the bench moves the media thread to SCHED_FIFO 10 with chrt, as media.bench.ts does through
 * the engine option (BENCH_NO_RT=1: ordinary scheduling). The media thread's CPU share is read
 * from /proc. BENCH_QUICK=1: short windows and few steps (a smoke run, not figures).
 * BENCH_SIZES=3,10,64 picks the conference sizes.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server } from '../src/server.js';
import { procTicks, ROOT, startBenchNode } from './node.js';

import { BenchResults } from './results.js';

const QUICK = process.env.BENCH_QUICK === '1';
const figures = new BenchResults('conference', QUICK);
figures.chart('lateness', 'Conferences through SIP: media-thread lateness against participants', 'participants (sipp callers)', 'p99 lateness (ms)');
figures.chart('cpu', 'Conferences through SIP: media-thread CPU against participants', 'participants (sipp callers)', 'media thread CPU (% of a core)');
const WINDOW_S = QUICK ? 4 : 12;
const SIZES = (process.env.BENCH_SIZES ?? '3,10,64').split(',').map(Number);
const STEPS = QUICK ? [128, 512] : [128, 256, 512, 768, 1024, 1280, 1536, 2048];
const PROFILE_CHANNELS = 128;
const RATE = 200; // joins per second
const PER_SIPP = 512; // participants per sipp process (all of one process stream from one port)
const HOLD = join(ROOT, 'test/peers/sipp/uac_conf_hold.xml');
const PBX = 36260;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function startNode(dir: string): Promise<Server> {
  return startBenchNode({ dir, port: PBX, yaml: `users:
  - { extension: "201", password: demo201 }
dialPlan: { shortCodes: [{ code: "1XXXX", feature: meetMe, number: "1N" }] }
calls: { maxCallsPerUser: 100000 }
conference: { openRooms: { first: "10000", last: "19999" }, maxChannels: 10000, aloneRepeatSeconds: 0 }` });
}

interface Step {
  ok: boolean;
  joined: number;
  p99: number;
  lost: number;
  concealed: number;
  txShort: number;
  mediaCpu: number;
  sippCpu: number;
  failedCalls: number;
}

/** N participants in rooms of `size`; measures a WINDOW_S window once all have joined. */
async function step(server: Server, dir: string, size: number, n: number, tone: string): Promise<Step> {
  const engine = server.engine!;
  const setupMs = (n / RATE) * 1000;
  const holdMs = Math.round(setupMs + 3000 + WINDOW_S * 1000 + 2000);
  const parts = Math.ceil(n / PER_SIPP);
  const room = (i: number) => String(10000 + Math.floor(i / size));
  const procs = Array.from({ length: parts }, (_, k) => {
    const from = Math.floor((k * n) / parts);
    const to = Math.floor(((k + 1) * n) / parts);
    const csv = join(dir, `rooms-${size}-${n}-${k}.csv`);
    writeFileSync(csv, ['SEQUENTIAL', ...Array.from({ length: to - from }, (_, j) => `${room(from + j)};`)].join('\n') + '\n');
    const args = [`127.0.0.1:${PBX}`, '-sf', join(dir, 'hold.xml'), '-inf', csv, '-s', 'x', '-au', '201', '-ap', 'demo201',
      '-key', 'caller', '201', '-key', 'codec_pt', '0', '-key', 'codec', 'PCMU', '-key', 'rtp_file', `${tone},-1,0`,
      '-d', String(holdMs), '-i', '127.0.0.1', '-p', String(36300 + k * 2), '-mi', '127.0.0.1', '-mp', String(37500 + k * 10),
      '-r', String(Math.ceil(RATE / parts)), '-l', String(to - from), '-m', String(to - from), '-nostdin',
      '-timeout', `${Math.ceil(holdMs / 1000) + 30}s`, '-timeout_error', '-trace_stat', '-stf', join(dir, `stat-${k}.csv`), '-fd', '3600'];
    const p = spawn('sipp', args, { cwd: dir, stdio: 'ignore' });
    return { p, done: new Promise<number | null>((r) => p.on('close', (c) => r(c))) };
  });
  const parties = () => (server.status().conferences as { parties: number }).parties;
  const deadline = Date.now() + setupMs + 10_000;
  while (parties() < n && Date.now() < deadline) await sleep(100);
  const joined = parties();
  await sleep(2000); // alone prompts, entry tones and jitter buffers settle
  const eps = engine.endpoints;
  const sum = () => eps.reduce((a, e) => {
    if (e.closed) return a;
    const s = e.stats();
    return { lost: a.lost + s.lost, concealed: a.concealed + s.jbConcealed, tx: a.tx + s.txPackets };
  }, { lost: 0, concealed: 0, tx: 0 });
  const tid = engine.mediaThreadId;
  const sippTicks = () => procs.reduce((a, x) => a + procTicks(`/proc/${x.p.pid}/stat`), 0);
  const before = sum();
  const cpu0 = procTicks(`/proc/self/task/${tid}/stat`);
  const sipp0 = sippTicks();
  engine.resetStats();
  const t0 = Date.now();
  await sleep(WINDOW_S * 1000);
  const stats = engine.stats();
  const after = sum();
  const secs = (Date.now() - t0) / 1000;
  const mediaCpu = (procTicks(`/proc/self/task/${tid}/stat`) - cpu0) / secs; // % of one core (100 ticks/s)
  const sippCpu = (sippTicks() - sipp0) / secs;
  const expectedTx = joined * 50 * secs;
  const missing = expectedTx - (after.tx - before.tx);
  const txShort = Math.max(0, missing / expectedTx);
  // the legs' counters are read one after another, not at one instant: allow one frame per leg
  const txKept = missing <= joined + 0.001 * expectedTx;
  const codes = await Promise.all(procs.map((x) => x.done));
  let failedCalls = 0;
  for (let k = 0; k < parts; k++) {
    try {
      const rows = readFileSync(join(dir, `stat-${k}.csv`), 'utf8').trim().split('\n');
      const head = rows[0]!.split(';');
      failedCalls += Number(rows[rows.length - 1]!.split(';')[head.indexOf('FailedCall(C)')]);
    } catch {
      failedCalls += 1;
    }
  }
  const lost = after.lost - before.lost;
  const concealed = after.concealed - before.concealed;
  const ok = joined === n && codes.every((c) => c === 0) && failedCalls === 0 && stats.lateP99Ms < 2 && lost === 0 && txKept;
  return { ok, joined, p99: stats.lateP99Ms, lost, concealed, txShort, mediaCpu, sippCpu, failedCalls };
}

async function main(): Promise<void> {
  console.log(`# conference benchmark (${new Date().toISOString()}, node ${process.version}${QUICK ? ', QUICK' : ''})`);
  if (spawnSync('sh', ['-c', 'command -v sipp && command -v sox']).status !== 0) {
    console.log('conference: sipp or sox not installed (run scripts/peers.sh): skipped');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'bench-conf-'));
  // each call's conference ID comes from the injection file (field0) instead of -s
  writeFileSync(join(dir, 'hold.xml'), readFileSync(HOLD, 'utf8').replaceAll('[service]', '[field0]'));
  const tone = join(dir, 'tone1k.ulaw');
  spawnSync('sox', ['-n', '-r', '8000', '-c', '1', '-t', 'ul', tone, 'synth', '10', 'sine', '1000', 'vol', '0.3']);
  const server = await startNode(dir);
  const tid = server.engine!.mediaThreadId;
  const rt = process.env.BENCH_NO_RT !== '1' && spawnSync('chrt', ['-f', '-p', '10', String(tid)]).status === 0;
  console.log(`  media thread ${tid}: ${rt ? 'SCHED_FIFO 10' : 'ordinary scheduling'}`);
  const results: string[] = [];
  try {
    for (const size of SIZES) {
      let best = 0;
      for (const raw of STEPS) {
        const n = Math.max(size, Math.floor(raw / size) * size); // whole rooms only
        const r = await step(server, dir, size, n, tone);
        console.log(`  rooms of ${size}: ${n} participants (${n / size} rooms): joined ${r.joined}, failed calls ${r.failedCalls}, lateness p99 ${r.p99} ms, ` +
          `lost ${r.lost}, concealed ${r.concealed}, tx short ${(100 * r.txShort).toFixed(2)}%, media thread ${r.mediaCpu.toFixed(0)}% of a core, sipp ${r.sippCpu.toFixed(0)}%${r.ok ? '' : '  (not carried)'}`);
        figures.point('lateness', `rooms of ${size}`, n, r.p99);
        figures.point('cpu', `rooms of ${size}`, n, r.mediaCpu);
        await sleep(2000);
        if (!r.ok) break;
        best = n;
      }
      figures.figure({ label: `participants in rooms of ${size} through SIP, p99 lateness < 2 ms, no loss`, value: best, unit: '', reference: { label: 'the profile\'s conference channels', value: PROFILE_CHANNELS }, goal: '≥ 1,024' });
      results.push(`${size}-party: ${best} (${(best / PROFILE_CHANNELS).toFixed(1)}x)`);
    }
  } finally {
    await server.close();
  }
  figures.save();
  console.log(`conference: largest number of participants carried through SIP with p99 lateness < 2 ms and no loss: ${results.join(', ')} ` +
    `beside the profile's ${PROFILE_CHANNELS} conference channels (goal >= 1,024 on one core; sipp load generators share the machine's 2 cores; media thread ${rt ? 'SCHED_FIFO' : 'not realtime'})`);
}

await main();
