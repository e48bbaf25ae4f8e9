/**
 * Fuzz benchmark (issue 15): a node in its own process (`pbx start`, so a crash is seen as one)
 * takes FUZZ_COUNT mutated messages (default 200,000; BENCH_QUICK=1: 20,000) over UDP, TCP and
 * WebSocket at FUZZ_RATE per second (default 2,500, the rate of the lockout-table attack; 0: as
 * fast as the fuzzer sends them), seed FUZZ_SEED (default 1). Printed: messages/s,
 * crashes, the worst OPTIONS latency during the run against the same probe on the idle node
 * (the reference, measured first in this run), RSS growth, log volume, and whether a phone
 * (sipp) registers afterwards.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { fuzz } from '../test/helpers/fuzz.js';
import { Worker } from 'node:worker_threads';
import { runSipp, scenario } from '../test/helpers/sipp.js';
import { ROOT } from './node.js';
import { BenchResults } from './results.js';

const QUICK = process.env.BENCH_QUICK === '1';
const COUNT = Number(process.env.FUZZ_COUNT ?? (QUICK ? 20_000 : 200_000));
const SEED = Number(process.env.FUZZ_SEED ?? 1);
const RATE = Number(process.env.FUZZ_RATE ?? 2500);
const results = new BenchResults('fuzz', QUICK);
const PORT = 47600;
const WS = 47601;

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/**
 * The OPTIONS prober, in a thread of its own: the fuzzer keeps this process's event loop busy,
 * and a probe timed on it would measure the fuzzer, not the node. Every `everyMs` one OPTIONS
 * over UDP; reports the worst and p99 round trip of those answered, and how many got no answer
 * in 2 s (over UDP a flood can overflow the node's socket buffer).
 */
const PROBER = `
const { parentPort, workerData } = require('node:worker_threads');
const dgram = require('node:dgram');
const { port, everyMs } = workerData;
const s = dgram.createSocket('udp4');
const times = []; let lost = 0; let seq = 0; let pending; let stop = false;
s.on('message', (m) => {
  const id = /^CSeq: (\\d+)/m.exec(m.toString())?.[1];
  if (pending && id === String(pending.seq)) { times.push(performance.now() - pending.t0); clearTimeout(pending.timer); pending = undefined; setTimeout(next, everyMs); }
});
function next() {
  if (stop) return;
  const n = ++seq;
  const msg = 'OPTIONS sip:127.0.0.1 SIP/2.0\\r\\nVia: SIP/2.0/UDP 127.0.9.3:' + s.address().port + ';branch=z9hG4bKp' + n + '\\r\\nMax-Forwards: 70\\r\\nFrom: <sip:probe@127.0.0.1>;tag=p\\r\\nTo: <sip:probe@127.0.0.1>\\r\\nCall-ID: probe-' + n + '\\r\\nCSeq: ' + n + ' OPTIONS\\r\\nContent-Length: 0\\r\\n\\r\\n';
  pending = { seq: n, t0: performance.now(), timer: setTimeout(() => { lost++; pending = undefined; next(); }, 2000) };
  s.send(msg, port, '127.0.0.1');
}
parentPort.on('message', () => {
  stop = true;
  if (pending) clearTimeout(pending.timer);
  times.sort((a, b) => a - b);
  parentPort.postMessage({ worst: times.at(-1) ?? NaN, p99: times[Math.floor(times.length * 0.99)] ?? NaN, lost, n: times.length + lost });
  s.close();
});
s.bind(0, '127.0.9.3', next);
`;

function probe(everyMs: number) {
  const w = new Worker(PROBER, { eval: true, workerData: { port: PORT, everyMs } });
  return {
    stop: async (): Promise<{ worst: number; p99: number; lost: number; n: number }> => {
      w.postMessage('stop');
      const [r] = await once(w, 'message');
      await w.terminate();
      return r;
    },
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-fuzz-'));
  const config = join(dir, 'node.yaml');
  writeFileSync(config, `log: { level: info, format: json }
sip:
  listen:
    - { transport: udp, address: 127.0.0.1, port: ${PORT} }
    - { transport: tcp, address: 127.0.0.1, port: ${PORT} }
    - { transport: ws, address: 127.0.0.1, port: ${WS} }
storage: { path: ${JSON.stringify(join(dir, 'pbx.sqlite'))} }
voicemail: { dir: ${JSON.stringify(join(dir, 'voicemail'))} }
media: { portMin: 50000, portMax: 50999 }
admin: { enabled: false }
users:
  - { extension: "201", password: demo201 }
  - { extension: "202", password: demo202 }
`);
  const child = spawn(process.execPath, [join(ROOT, 'dist/src/cli.js'), 'start', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let logBytes = 0;
  let logLines = 0;
  let started = false;
  let exit: string | undefined;
  child.stdout!.on('data', (d: Buffer) => {
    logBytes += d.length;
    logLines += d.toString().split('\n').length - 1;
    if (!started && /server started/.test(d.toString())) started = true;
  });
  child.stderr!.on('data', (d: Buffer) => process.stderr.write(d));
  child.on('exit', (code, signal) => (exit = `exit ${code ?? signal}`));
  const deadline = Date.now() + 20_000;
  while (!started && exit === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (!started) throw new Error(`node did not start (${exit ?? 'timeout'})`);
  try {
    await new Promise((r) => setTimeout(r, 500));
    await probe(10).stop(); // a warm-up round trip or two, not part of the reference
    const idle = probe(50);
    await new Promise((r) => setTimeout(r, 3000));
    const ref = await idle.stop();
    const rss0 = rssMb(child.pid!);
    const logs0 = logLines;
    const busy = probe(100);
    const t0 = performance.now();
    const stats = await fuzz({ udp: PORT, tcp: PORT, ws: WS }, { count: COUNT, seed: SEED, rate: RATE, from: '127.0.9.1' });
    const secs = (performance.now() - t0) / 1000;
    const during = await busy.stop();
    await new Promise((r) => setTimeout(r, 1000));
    const crashed = exit !== undefined;
    const rss1 = crashed ? NaN : rssMb(child.pid!);
    const reg = crashed ? undefined : await runSipp([`127.0.0.1:${PORT}`, '-sf', scenario('register_auth.xml'), '-s', '201', '-au', '201', '-ap', 'demo201',
      '-i', '127.0.0.1', '-p', String(PORT + 10), '-m', '1'], { timeoutMs: 15_000 });
    console.log(`fuzz: ${COUNT} mutated messages (seed ${SEED}; udp ${stats.sent.udp}, tcp ${stats.sent.tcp}, ws ${stats.sent.ws}) in ${secs.toFixed(1)} s: ${Math.round(COUNT / secs)} messages/s (asked: ${RATE || 'as fast as possible'})`);
    console.log(`fuzz: crashes ${crashed ? `1 (${exit})` : 0}; ${stats.replies} replies; ${stats.closed} connections closed by the node`);
    console.log(`fuzz: OPTIONS during the run: worst ${during.worst.toFixed(1)} ms, p99 ${during.p99.toFixed(1)} ms, ${during.lost} of ${during.n} unanswered in 2 s; idle reference: worst ${ref.worst.toFixed(1)} ms, p99 ${ref.p99.toFixed(1)} ms (ratio of the worst ${(during.worst / Math.max(ref.worst, 0.1)).toFixed(1)}x)`);
    console.log(`fuzz: RSS ${rss0.toFixed(1)} MB before, ${rss1.toFixed(1)} MB after (growth ${(rss1 - rss0).toFixed(1)} MB); ${logLines - logs0} log lines (${(logBytes / 1024).toFixed(0)} kB in all) for ${COUNT} messages`);
    console.log(`fuzz: a phone registers afterwards: ${reg?.code === 0 ? 'yes' : 'NO'}`);
    results.figure({ label: 'mutated messages/s taken (UDP, TCP, WebSocket)', value: Math.round(COUNT / secs), unit: '/s' });
    results.figure({ label: 'crashes', value: crashed ? 1 : 0, unit: '', goal: '0' });
    results.figure({
      label: 'worst OPTIONS round trip during the run', value: Math.round(during.worst), unit: 'ms',
      reference: { label: 'the idle node', value: Math.round(ref.worst) },
    });
    results.figure({ label: 'OPTIONS unanswered in 2 s during the run', value: during.lost, unit: '' });
    results.figure({ label: 'RSS growth', value: Math.round(rss1 - rss0), unit: 'MB' });
    results.save();
    if (crashed || reg?.code !== 0) process.exitCode = 1;
  } finally {
    if (exit === undefined) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  }
}

await main();
