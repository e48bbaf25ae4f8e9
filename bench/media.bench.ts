/**
 * Media engine benchmark (run: node --import tsx bench/media.bench.ts [--quick]).
 *
 * 1. Mix kernel: ns per participant-frame, native (timed in C++) vs the TS reference, same run.
 * 2. Conference capacity: participants in conferences of 3, 10 and 64 carried by the media thread
 *    with frame-clock lateness p99 < 2 ms and no loss, stepping the load up.
 * 3. Relay capacity: bridged calls (two legs each) carried with no loss.
 * Options: --quick, --no-rt, --sizes=3,10,64, --steps=256,512,..., --calls=250,500,..., --no-relay.
 * Load: the addon's RTP generator (its own thread, one socket, sendmmsg on a 20 ms clock spread
 * over 4 bursts) sends real RTP over UDP on 127.0.0.1 and counts what comes back.
 */
import { readFileSync } from 'node:fs';
import { MediaEngine } from '../src/media/index.js';
import { native } from '../src/media/native.js';
import { mixMinus } from '../src/media/reference/mix.js';
import { encodeUlaw } from '../src/media/reference/g711.js';

const ADDR = '127.0.0.1';
const PORT_MIN = 10000;
const PORT_MAX = 29999;
import { BenchResults } from './results.js';

const quick = process.argv.includes('--quick') || process.env.BENCH_QUICK === '1';
const figures = new BenchResults('media', quick);
figures.chart('lateness', 'Media thread: frame-clock lateness against load (own RTP generator)', 'participants mixed, or relayed legs', 'p99 lateness (ms)');
figures.chart('cpu', 'Media thread CPU against load', 'participants mixed, or relayed legs', 'media thread CPU (% of a core)');
// The media thread runs SCHED_FIFO 10 (as a production media engine would) unless --no-rt:
// on this shared 2-core machine, other processes otherwise dominate the frame-clock lateness.
const rtPriority = process.argv.includes('--no-rt') ? 0 : 10;
const argList = (name: string): number[] | undefined => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3).split(',').map(Number) : undefined;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function threadCpuTicks(tid: number): number {
  const f = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime (fields 14, 15), in clock ticks
}

function udpErrors(): number {
  const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
  const names = lines[0]!.split(/\s+/);
  const vals = lines[1]!.split(/\s+/).map(Number);
  const get = (n: string) => vals[names.indexOf(n)] ?? 0;
  return get('RcvbufErrors') + get('SndbufErrors') + get('InErrors');
}

/** Kernel drop counters of UDP sockets, split: engine sockets (our port range) vs the generator's. */
function socketDrops(genPort: number): { engine: number; sink: number } {
  let engine = 0;
  let sink = 0;
  for (const l of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const f = l.trim().split(/\s+/);
    if (f.length < 13) continue;
    const port = parseInt(f[1]!.split(':')[1]!, 16);
    const drops = Number(f[12]);
    if (port === genPort) sink += drops;
    else if (port >= PORT_MIN && port <= PORT_MAX) engine += drops;
  }
  return { engine, sink };
}

function p99(hist: number[]): number {
  const total = hist.reduce((a, b) => a + b, 0);
  let acc = 0;
  for (let i = 0; i < hist.length; i++) {
    acc += hist[i]!;
    if (acc >= 0.99 * total) return (i + 1) / 10;
  }
  return Infinity;
}

// ---- 1. kernel ----
function kernel(): void {
  console.log('# mix-minus kernel, ns per participant-frame (160 samples)');
  for (const n of [3, 10, 64]) {
    const frames = quick ? 2000 : 20000;
    native().benchMix(n, 200); // warm
    const nat = native().benchMix(n, frames);
    const inputs = Array.from({ length: n }, (_, i) => Int16Array.from({ length: 160 }, (_, s) => ((s * 37 + i * 101) % 16000) - 8000));
    const tsFrames = Math.max(200, Math.floor(frames / 20));
    for (let i = 0; i < 100; i++) mixMinus(inputs); // warm the JIT
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < tsFrames; i++) mixMinus(inputs);
    const ts = Number(process.hrtime.bigint() - t0) / (tsFrames * n);
    figures.figure({ label: `mix-minus kernel, ns per participant-frame, n=${n}`, value: nat, unit: 'ns', reference: { label: 'TypeScript reference', value: ts }, goal: '≤ 0.4× the reference' });
    console.log(`  n=${String(n).padStart(3)}: native ${nat.toFixed(1)} ns, TS reference ${ts.toFixed(1)} ns, ratio ${(nat / ts).toFixed(3)}x (goal <= 0.4x)`);
  }
}

let realtime = false;

interface RunResult {
  ok: boolean;
  p99Ms: number;
  maxMs: number;
  inLoss: number;
  outLoss: number;
  udpErr: number;
  engineDrops: number;
  sinkDrops: number;
  cpu: number;
  pps: number;
}

const payload = encodeUlaw(Int16Array.from({ length: 160 }, (_, i) => Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 8000))));

/** One measured run: build the topology, run the generator, measure, tear down. */
async function run(kind: 'conference' | 'relay', legs: number, confSize: number): Promise<RunResult> {
  const engine = new MediaEngine({ address: ADDR, portMin: PORT_MIN, portMax: PORT_MAX, realtimePriority: rtPriority });
  const gen = new (native().Generator)(ADDR);
  const eps = Array.from({ length: legs }, () => engine.createEndpoint({ codec: 'PCMU', latching: false }));
  for (const e of eps) e.setRemote({ address: ADDR, port: gen.port });
  if (kind === 'conference') {
    for (let i = 0; i < legs; i += confSize) {
      const c = engine.createConference();
      for (const e of eps.slice(i, i + confSize)) c.add(e);
    }
  } else {
    for (let i = 0; i + 1 < legs; i += 2) engine.createBridge(eps[i]!, eps[i + 1]!);
  }
  await sleep(300);
  const tid = engine.mediaThreadId;
  realtime = engine.stats().realtime;
  gen.start(eps.map((e) => e.port), 0, payload, 4, rtPriority ? rtPriority - 1 : 0);
  await sleep(1000); // warm-up: jitter buffers fill, caches warm
  const h0 = engine.stats().lateHist100us;
  const c0 = threadCpuTicks(tid);
  const u0 = udpErrors();
  const t0 = Date.now();
  await sleep(quick ? 1500 : 3000);
  const h1 = engine.stats().lateHist100us;
  const cpu = (threadCpuTicks(tid) - c0) / 100 / ((Date.now() - t0) / 1000);
  gen.pause();
  await sleep(300);
  const rx = engine.stats().rxPackets;
  const drops = socketDrops(gen.port);
  engine.close(); // stops the media thread: nothing more is sent
  await sleep(300);
  const g = gen.stats();
  const tx = engine.stats().txPackets;
  gen.stop();
  const udpErr = udpErrors() - u0;
  const hist = h1.map((v, i) => v - h0[i]!);
  const lastBucket = hist.reduce((m, v, i) => (v > 0 ? i : m), 0);
  const inLoss = g.sent - rx;
  const outLoss = tx - g.received;
  const pp99 = p99(hist);
  const ok = inLoss === 0 && outLoss === 0 && udpErr === 0 && g.errors === 0 && (kind === 'relay' || pp99 < 2);
  return { ok, p99Ms: pp99, maxMs: (lastBucket + 1) / 10, inLoss, outLoss, udpErr, engineDrops: drops.engine, sinkDrops: drops.sink, cpu, pps: legs * 50 * 2 };
}

const ms = (v: number) => (v >= 6.4 ? '>6.3' : v.toFixed(1)); // the histogram ends at 6.3 ms

function line(label: string, r: RunResult): string {
  return `  ${label}: ${r.ok ? 'OK  ' : 'FAIL'} p99 late ${ms(r.p99Ms)} ms (max ${ms(r.maxMs)}), loss in/out ${r.inLoss}/${r.outLoss} (socket drops engine ${r.engineDrops}, sink ${r.sinkDrops}), media thread CPU ${(r.cpu * 100).toFixed(0)}%, ${r.pps} pkt/s through`;
}

async function capacity(kind: 'conference' | 'relay', steps: number[], confSize = 0): Promise<number> {
  let best = 0;
  for (const n of steps) {
    const legs = kind === 'relay' ? n * 2 : n - (n % confSize);
    const r = await run(kind, legs, confSize);
    const series = kind === 'relay' ? 'relayed calls (2 legs each)' : `conferences of ${confSize}`;
    if (r.ok || r.p99Ms < 6.4) figures.point('lateness', series, legs, r.p99Ms);
    figures.point('cpu', series, legs, r.cpu * 100);
    console.log(line(kind === 'relay' ? `${String(n).padStart(5)} calls` : `${String(legs).padStart(5)} participants`, r));
    if (!r.ok) break;
    best = kind === 'relay' ? n : legs;
  }
  return best;
}

async function main(): Promise<void> {
  console.log(`media bench on ${ADDR}, ports ${PORT_MIN}-${PORT_MAX}${quick ? ' (quick)' : ''}, media thread SCHED_FIFO ${rtPriority || 'off'}`);
  kernel();
  const steps = argList('steps') ?? (quick ? [256, 1024] : [256, 512, 1024, 1536, 2048, 2560, 3072]);
  const results: string[] = [];
  for (const size of argList('sizes') ?? [3, 10, 64]) {
    console.log(`# conferences of ${size}`);
    const best = await capacity('conference', steps, size);
    results.push(`conferences of ${size}: ${best} participants`);
    figures.figure({ label: `participants mixed in conferences of ${size}, p99 lateness < 2 ms, no loss`, value: best, unit: '', goal: '≥ 1,024' });
  }
  if (!process.argv.includes('--no-relay')) {
    console.log('# relayed calls (2 legs each)');
    const relay = await capacity('relay', argList('calls') ?? (quick ? [250, 1000] : [250, 500, 1000, 1500, 2000, 2500, 3000]));
    results.push(`relay: ${relay} calls`);
    figures.figure({ label: 'relayed calls with no loss', value: relay, unit: 'calls', goal: '≥ 1,000' });
  }
  if (rtPriority) results.push(`media thread realtime: ${realtime ? 'granted' : 'NOT granted'}`);
  console.log(`# summary (goal >= 1024 participants, >= 1000 calls): ${results.join('; ')}`);
  figures.save();
}

await main();
