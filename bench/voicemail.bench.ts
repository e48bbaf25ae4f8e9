/**
 * Voicemail benchmark (issue: voicemail). How many messages a node records at once, each a real
 * call with RTP, with no loss and no gap in the files (goal >= 500; seed 100).
 *
 * Each step places N concurrent sipp calls (digest-authenticated INVITE) to N mailboxes whose
 * users have no phone registered, so voicemail answers: greeting, beep, then it records. Every
 * caller streams a continuous 1 kHz tone (sipp rtp_stream, PCMU) from its ACK for a fixed time,
 * then hangs up. The hold time is the greeting plus MESSAGE_MS plus the setup spread, so all N
 * record at the same time. A step passes when every call succeeded, every mailbox holds one new
 * message whose WAV is consistent (header = data), as long as the streamed time minus the
 * greeting (within TOLERANCE_MS), all 1 kHz with no run of near-zero samples of 10 ms or more
 * (a lost 20 ms packet is written as 160 zero samples, so this also catches loss the engine
 * counters miss), the legs' RTCP loss counters and the kernel's drops on the engine's sockets
 * stay at 0.
 *
 * Reference, measured in the same run at the same N: the media-only path. The same sipp callers
 * (same scenario, same RTP generator, same SIP exchange) call a sipp UAS that answers with SDP
 * pointing at a plain Endpoint.record() of a media engine in this process. Why this reference:
 * on this 2-core machine sipp's RTP threads and the media thread share the CPU, so a fixed
 * figure would mix the load generator's limit into ours; with the same generator on both sides,
 * the ratio is what the PBX (SIP stack, B2BUA, voicemail prompts, store) costs on top of
 * recording itself, and the reference's own ceiling says where the machine and sipp stop.
 *
 * The media threads run SCHED_FIFO 10 (chrt on the node's, the engine option on the reference's;
 * BENCH_NO_RT=1: ordinary scheduling). BENCH_QUICK=1: short messages and two steps (a smoke run,
 * not figures). BENCH_STEPS=100,200,... picks the steps.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MediaEngine, parseWav, type Endpoint, type Recorder } from '../src/media/index.js';
import { encodeUlaw } from '../src/media/reference/g711.js';
import type { Server } from '../src/server.js';
import { procTicks, ROOT, startBenchNode } from './node.js';
import { BEEP, digitsOf, loadVoicemailPrompts } from '../src/features/voicemail/prompts.js';

import { BenchResults } from './results.js';

const QUICK = process.env.BENCH_QUICK === '1';
const figures = new BenchResults('voicemail', QUICK);
figures.chart('cpu', 'Messages recorded at once: media-thread CPU against messages', 'messages recorded at once', 'media thread CPU (% of a core)');
figures.chart('lateness', 'Messages recorded at once: frame-clock lateness', 'messages recorded at once', 'p99 lateness (ms)');
const RT = process.env.BENCH_NO_RT !== '1';
const STEPS = process.env.BENCH_STEPS?.split(',').map(Number) ?? (QUICK ? [100, 200] : [100, 200, 400, 600, 800, 1000, 1200, 1600, 2000]);
const MAX_N = Math.max(...STEPS);
const SEED = 100;
const MESSAGE_MS = QUICK ? 4000 : 8000; // the recorded part every call has at least
// Message length against the streamed time minus the greeting: the greeting is played prompt by
// prompt with a round trip through JavaScript between them, so under load it ends (and the
// recording starts) a little late; half a second of that is tolerated, more is a failure
// (callers would hear the words of the greeting falling apart).
const TOLERANCE_MS = 500;
const GAP_SAMPLES = 80; // 10 ms of near-silence inside the tone is a gap
const NEAR_ZERO = 300; // the tone's peak is ~9800; a 1 kHz sine at 8 kHz is never near 0 twice running
const RATE = 200; // calls set up per second
const PER_SIPP = 500; // callers per sipp process (its RTP threads fall behind past that)
const MAILBOX0 = 2000; // mailboxes 2000.. (4 digits: same greeting shape)
const MAILBOXES = Math.min(MAX_N, 990); // a solution has at most 1000 users: past that, calls share mailboxes
const mailboxOf = (call: number) => String(MAILBOX0 + (call % MAILBOXES));
const PBX = 36460;
const REF_UAS = 36490;
const NODE_MEDIA = { min: 50000, max: 59999 };
const REF_MEDIA = { min: 21000, max: 29999 };
const UAC = join(ROOT, 'bench/scenarios/uac_voicemail.xml');
const UAS_REF = join(ROOT, 'bench/scenarios/uas_voicemail_media_only.xml');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * How long the standard greeting and the beep take for `mailbox` ("extension", its digits, "not
 * available", beep): the prompts differ in length, so the message length is expected per mailbox.
 */
function greetingCalculator(): (mailbox: string) => number {
  const p = loadVoicemailPrompts();
  const beep = BEEP.reduce((a, t) => a + t.ms, 0);
  return (mb) => ([p.extension, ...digitsOf(p, mb), p['not-available']].reduce((a, x) => a + x.length, 0)) / 8 + beep;
}

/** 10 s of 1 kHz at -10 dBFS as headerless mu-law (a whole number of periods: loops seamlessly). */
function makeTone(dir: string): string {
  const pcm = new Int16Array(80_000);
  for (let i = 0; i < pcm.length; i++) pcm[i] = Math.round(9830 * Math.sin((2 * Math.PI * 1000 * i) / 8000));
  const path = join(dir, 'tone1k.ulaw');
  writeFileSync(path, encodeUlaw(pcm));
  return path;
}

// Voicemail: ports for every step; silence never ends a message here (the tone is continuous);
// each message being recorded reserves maxMessageSeconds of its mailbox's quota (60 min), so that
// stays short enough for two at once in one mailbox (steps past 990 calls share mailboxes).
function startNode(dir: string): Promise<Server> {
  const users = Array.from({ length: MAILBOXES }, (_, i) => `  - { extension: "${MAILBOX0 + i}", password: vm${MAILBOX0 + i} }`).join('\n');
  return startBenchNode({
    dir, port: PBX, media: NODE_MEDIA,
    voicemail: `channels: ${MAX_N * 2}, silenceSeconds: 300, maxMessageSeconds: 300, minFreeMegabytes: 0`,
    yaml: `calls: { maxChannels: 20000, maxCallsPerUser: 100000 }
users:
  - { extension: "100", password: demo100, voicemail: { enabled: false } }
${users}`,
  });
}

/** Kernel drops (receive buffer full) summed over the UDP sockets bound in [min, max]. */
function socketDrops(range: { min: number; max: number }): number {
  let drops = 0;
  for (const l of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const f = l.trim().split(/\s+/);
    if (f.length < 13) continue;
    const port = parseInt(f[1]!.split(':')[1]!, 16);
    if (port >= range.min && port <= range.max) drops += Number(f[12]);
  }
  return drops;
}

interface Callers {
  done: Promise<{ codes: (number | null)[]; failed: number; succeeded: number }>;
  pids: number[];
}

/** N sipp callers spread over processes of PER_SIPP; line i of the injection file is "mailbox;port". */
function callers(dir: string, tag: string, target: number, lines: string[], holdMs: number, tone: string): Callers {
  const parts = Math.ceil(lines.length / PER_SIPP);
  const procs = Array.from({ length: parts }, (_, k) => {
    const from = Math.floor((k * lines.length) / parts);
    const to = Math.floor(((k + 1) * lines.length) / parts);
    const csv = join(dir, `${tag}-${k}.csv`);
    writeFileSync(csv, ['SEQUENTIAL', ...lines.slice(from, to)].join('\n') + '\n');
    const stat = join(dir, `${tag}-stat-${k}.csv`);
    const args = [`127.0.0.1:${target}`, '-sf', UAC, '-inf', csv, '-au', '100', '-ap', 'demo100',
      '-key', 'caller', '100', '-key', 'codec_pt', '0', '-key', 'codec', 'PCMU', '-key', 'rtp_file', `${tone},-1,0`,
      '-d', String(holdMs), '-i', '127.0.0.1', '-p', String(PBX + 10 + k * 2), '-mi', '127.0.0.1', '-mp', String(38500 + k * 10),
      '-r', String(Math.ceil(RATE / parts)), '-l', String(to - from), '-m', String(to - from), '-nostdin',
      '-timeout', `${Math.ceil(holdMs / 1000 + lines.length / RATE) + 40}s`, '-timeout_error', '-trace_stat', '-stf', stat, '-fd', '3600'];
    const p = spawn('sipp', args, { cwd: dir, stdio: 'ignore' });
    return { p, stat, done: new Promise<number | null>((r) => p.on('close', (c) => r(c))) };
  });
  const done = (async () => {
    const codes = await Promise.all(procs.map((x) => x.done));
    let failed = 0;
    let succeeded = 0;
    for (const x of procs) {
      try {
        const rows = readFileSync(x.stat, 'utf8').trim().split('\n');
        const head = rows[0]!.split(';');
        const last = rows[rows.length - 1]!.split(';');
        failed += Number(last[head.indexOf('FailedCall(C)')]);
        succeeded += Number(last[head.indexOf('SuccessfulCall(C)')]);
      } catch {
        failed += 1;
      }
    }
    return { codes, failed, succeeded };
  })();
  return { done, pids: procs.map((x) => x.p.pid ?? 0) };
}

interface FileCheck {
  ok: boolean;
  ms: number;
  gaps: number;
  why?: string;
}

/** A recording: consistent header, length within tolerance of expectMs, 1 kHz all through, no gap. */
function checkFile(path: string, expectMs: number): FileCheck {
  if (!existsSync(path)) return { ok: false, ms: 0, gaps: 0, why: 'no file' };
  const w = parseWav(readFileSync(path));
  const s = w.samples;
  const ms = s.length / 8;
  let gaps = 0;
  let run = 0;
  let tone = 0;
  let total = 0;
  // Goertzel at 1 kHz per 100 ms block (normalized so a pure sine gives ~1)
  const c = 2 * Math.cos((2 * Math.PI * 1000) / 8000);
  for (let b = 0; b + 800 <= s.length; b += 800) {
    let s1 = 0;
    let s2 = 0;
    for (let i = b; i < b + 800; i++) {
      const x = s[i]!;
      const s0 = x + c * s1 - s2;
      s2 = s1;
      s1 = s0;
      total += x * x;
    }
    tone += (2 * (s1 * s1 + s2 * s2 - c * s1 * s2)) / 800;
  }
  for (let i = 0; i < s.length; i++) {
    if (Math.abs(s[i]!) < NEAR_ZERO) {
      if (++run === GAP_SAMPLES) gaps++;
    } else run = 0;
  }
  const ratio = total ? tone / total : 0;
  let why: string | undefined;
  if (w.declaredDataBytes !== w.dataBytes) why = `header declares ${w.declaredDataBytes} bytes, file holds ${w.dataBytes}`;
  else if (Math.abs(ms - expectMs) > TOLERANCE_MS) why = `${ms} ms, expected ${expectMs.toFixed(0)}`;
  else if (gaps) why = `${gaps} gaps`;
  else if (ratio < 0.9) why = `1 kHz ratio ${ratio.toFixed(2)}`;
  return { ok: !why, ms, gaps, why };
}

interface StepResult {
  ok: boolean;
  calls: string;
  peak: number;
  bad: number;
  firstBad?: string;
  gaps: number;
  lost: number;
  drops: number;
  lateP99: number;
  mediaCpu: number;
  sippCpu: number;
  spreadMs: [number, number];
}

/** At `atMs`: the legs streaming right now (a packet within 200 ms) and their RTCP-counted loss so far. */
async function sampleLegs(legs: () => Endpoint[], atMs: number): Promise<{ streaming: number; lost: number }> {
  await sleep(atMs);
  const eps = legs().filter((e) => !e.closed);
  const rx0 = eps.map((e) => (e.closed ? 0 : e.stats().rxPackets));
  await sleep(200);
  let streaming = 0;
  let lost = 0;
  eps.forEach((e, i) => {
    if (e.closed) return;
    const st = e.stats();
    if (st.rxPackets > rx0[i]!) streaming++;
    lost += st.lost;
  });
  return { streaming, lost };
}

/** Most recordings open at one instant, from the messages' start times and lengths. */
function mostAtOnce(spans: [number, number][]): number {
  const ev = spans.flatMap(([a, b]) => [[a, 1], [b, -1]] as [number, number][]).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let open = 0;
  let most = 0;
  for (const [, d] of ev) most = Math.max(most, (open += d));
  return most;
}

function summary(r: { codes: (number | null)[]; failed: number; succeeded: number }, n: number): { ok: boolean; text: string } {
  const ok = r.codes.every((c) => c === 0) && r.failed === 0 && r.succeeded === n;
  return { ok, text: `${r.succeeded}/${n} calls${r.failed ? `, ${r.failed} failed` : ''}${ok ? '' : ` (sipp exit ${r.codes.join(',')})`}` };
}

async function voicemailStep(server: Server, dir: string, n: number, tone: string, greet: (mb: string) => number): Promise<StepResult> {
  const vm = server.voicemail!;
  const engine = server.engine!;
  const spreadS = n / RATE;
  const maxGreet = Math.max(...Array.from({ length: n }, (_, i) => greet(mailboxOf(i))));
  const holdMs = Math.round(maxGreet + MESSAGE_MS + spreadS * 1000);
  const lines = Array.from({ length: n }, (_, i) => `${mailboxOf(i)};0`);
  const drops0 = socketDrops(NODE_MEDIA);
  engine.resetStats();
  const tid = engine.mediaThreadId;
  const cpu0 = procTicks(`/proc/self/task/${tid}/stat`);
  const t0 = Date.now();
  const c = callers(dir, `vm-${n}`, PBX, lines, holdMs, tone);
  const sipp0 = c.pids.reduce((a, p) => a + procTicks(`/proc/${p}/stat`), 0);
  const { streaming, lost } = await sampleLegs(() => engine.endpoints, spreadS * 1000 + maxGreet + MESSAGE_MS / 2);
  const sippTicks = c.pids.reduce((a, p) => a + procTicks(`/proc/${p}/stat`), 0) - sipp0;
  const sippSecs = (Date.now() - t0) / 1000;
  const r = await c.done;
  const secs = (Date.now() - t0) / 1000;
  const mediaCpu = (procTicks(`/proc/self/task/${tid}/stat`) - cpu0) / secs;
  const stats = engine.stats();
  const spans: [number, number][] = [];
  const deadline = Date.now() + 10_000; // the last messages are being finalized
  while (vm.status().inUse > 0 && Date.now() < deadline) await sleep(100);
  let bad = 0;
  let gaps = 0;
  let firstBad: string | undefined;
  let lo = Infinity;
  let hi = -Infinity;
  for (let j = 0; j < Math.min(n, MAILBOXES); j++) {
    const mb = mailboxOf(j);
    const calls = Math.floor((n - 1 - j) / MAILBOXES) + 1;
    const msgs = vm.store.messages(mb);
    const expectMs = holdMs - greet(mb);
    const found = msgs.length === calls ? undefined : `${msgs.length} messages, ${calls} expected`;
    if (found) {
      bad++;
      firstBad ??= `mailbox ${mb}: ${found}`;
    }
    for (const m of msgs) {
      spans.push([m.receivedAt, m.receivedAt + m.durationMs]);
      const f = checkFile(m.path, expectMs);
      const why = f.why ?? (m.state !== 'new' ? `state ${m.state}` : Math.abs(m.durationMs - f.ms) > 20 ? `store says ${m.durationMs} ms, file ${f.ms}` : undefined);
      if (f.ms) {
        lo = Math.min(lo, f.ms - expectMs);
        hi = Math.max(hi, f.ms - expectMs);
      }
      gaps += f.gaps;
      if (why) {
        bad++;
        firstBad ??= `mailbox ${mb} message ${m.id}: ${why}`;
      }
      vm.store.delete(m.id);
    }
  }
  const drops = socketDrops(NODE_MEDIA) - drops0;
  const peak = Math.min(mostAtOnce(spans), streaming);
  const s = summary(r, n);
  return {
    ok: s.ok && peak >= n && bad === 0 && lost === 0 && drops === 0,
    calls: s.text, peak, bad, firstBad, gaps, lost, drops, lateP99: stats.lateP99Ms, mediaCpu, sippCpu: sippTicks / sippSecs,
    spreadMs: [lo, hi],
  };
}

/** The same callers into plain Endpoint.record() behind a sipp UAS (no PBX). */
async function referenceStep(engine: MediaEngine, dir: string, n: number, tone: string, holdMs: number): Promise<StepResult> {
  const eps = Array.from({ length: n }, () => engine.createEndpoint());
  const recs: Recorder[] = eps.map((e, i) => e.record(join(dir, `ref-${n}-${i}.wav`)));
  const lines = eps.map((e, i) => `${mailboxOf(i)};${e.port}`);
  const uasCsv = join(dir, `ref-uas-${n}.csv`);
  writeFileSync(uasCsv, ['SEQUENTIAL', ...lines].join('\n') + '\n');
  const uas = spawn('sipp', ['-sf', UAS_REF, '-inf', uasCsv, '-i', '127.0.0.1', '-p', String(REF_UAS), '-m', String(n), '-nostdin'], { cwd: dir, stdio: 'ignore' });
  await sleep(500);
  const drops0 = socketDrops(REF_MEDIA);
  engine.resetStats();
  const tid = engine.mediaThreadId;
  const cpu0 = procTicks(`/proc/self/task/${tid}/stat`);
  const t0 = Date.now();
  const c = callers(dir, `ref-${n}`, REF_UAS, lines, holdMs, tone);
  const sipp0 = c.pids.reduce((a, p) => a + procTicks(`/proc/${p}/stat`), 0);
  const { streaming: peak, lost } = await sampleLegs(() => eps, (n / RATE) * 1000 + MESSAGE_MS / 2);
  const sippTicks = c.pids.reduce((a, p) => a + procTicks(`/proc/${p}/stat`), 0) - sipp0;
  const sippSecs = (Date.now() - t0) / 1000;
  const r = await c.done;
  const secs = (Date.now() - t0) / 1000;
  const mediaCpu = (procTicks(`/proc/self/task/${tid}/stat`) - cpu0) / secs;
  const stats = engine.stats();
  if (uas.exitCode === null) uas.kill('SIGKILL');
  // What each leg received, in ms of audio: the file must hold exactly that (sipp's RTP threads
  // start some streams up to ~1 s after the ACK under load, so the hold time is no measure here).
  const received = eps.map((e) => e.stats().rxPackets * 20);
  for (const rec of recs) rec.close();
  await Promise.all(recs.map((x) => x.done));
  let bad = 0;
  let gaps = 0;
  let firstBad: string | undefined;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < n; i++) {
    const f = checkFile(recs[i]!.path, received[i]!); // recorded from the first packet: the whole stream
    if (f.ms) {
      lo = Math.min(lo, f.ms - received[i]!);
      hi = Math.max(hi, f.ms - received[i]!);
    }
    gaps += f.gaps;
    if (!f.ok) {
      bad++;
      firstBad ??= `call ${i}: ${f.why}`;
    }
    rmSync(recs[i]!.path, { force: true });
  }
  for (const e of eps) e.close();
  const drops = socketDrops(REF_MEDIA) - drops0;
  const s = summary(r, n);
  return {
    ok: s.ok && peak >= n && bad === 0 && lost === 0 && drops === 0,
    calls: s.text, peak, bad, firstBad, gaps, lost, drops, lateP99: stats.lateP99Ms, mediaCpu, sippCpu: sippTicks / sippSecs,
    spreadMs: [lo, hi],
  };
}

function line(what: string, n: number, r: StepResult): string {
  return `  ${what} ${n}: ${r.calls}, ${r.peak} recording at once, bad files ${r.bad} (gaps ${r.gaps}), length vs expected ${Math.round(r.spreadMs[0])}..${Math.round(r.spreadMs[1])} ms, ` +
    `lost ${r.lost}, socket drops ${r.drops}, lateness p99 ${r.lateP99} ms, media thread ${r.mediaCpu.toFixed(0)}% of a core, sipp ${r.sippCpu.toFixed(0)}%` +
    `${r.ok ? '' : `  (not carried${r.firstBad ? `: ${r.firstBad}` : ''})`}`;
}

async function main(): Promise<void> {
  console.log(`# voicemail benchmark (${new Date().toISOString()}, node ${process.version}${QUICK ? ', QUICK' : ''})`);
  if (spawnSync('sh', ['-c', 'command -v sipp']).status !== 0) {
    console.log('voicemail: sipp not installed (run scripts/peers.sh): skipped');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'bench-vm-'));
  const tone = makeTone(dir);
  const server = await startNode(dir);
  if (!server.voicemail) throw new Error('the bench node has no voicemail (voicemail.channels)');
  const ref = new MediaEngine({ address: '127.0.0.1', portMin: REF_MEDIA.min, portMax: REF_MEDIA.max, realtimePriority: RT ? 10 : 0 });
  const tid = server.engine!.mediaThreadId;
  const rt = RT && tid > 0 && spawnSync('chrt', ['-f', '-p', '10', String(tid)]).status === 0;
  console.log(`  media threads: node ${rt ? 'SCHED_FIFO 10' : 'ordinary scheduling'}, reference ${ref.stats().realtime ? 'SCHED_FIFO 10' : 'ordinary scheduling'}`);
  let vmBest = 0;
  let refBest = 0;
  let vmFailed = false;
  let refFailed = false;
  try {
    // The greeting's length per mailbox from the prompts, plus what the flow adds (gaps between
    // prompts, the answer's round trip), measured once on an idle node.
    const greetingMs = greetingCalculator();
    const greet0 = greetingMs(mailboxOf(0));
    const cal = await voicemailStep(server, dir, 1, tone, () => greet0);
    const overhead = -(cal.spreadMs[0] ?? 0);
    if (!Number.isFinite(overhead) || cal.bad && !/expected/.test(cal.firstBad ?? '')) throw new Error(`calibration call failed: ${line('voicemail', 1, cal)}`);
    const greet = (mb: string) => greetingMs(mb) + overhead;
    console.log(`  greeting + beep of mailbox ${MAILBOX0}: ${Math.round(greet0)} ms from the prompts, ${overhead.toFixed(0)} ms more measured (one call on an idle node)`);
    await sleep(1000);
    for (const n of STEPS) {
      if (vmFailed && refFailed) break;
      const maxGreet = Math.max(...Array.from({ length: n }, (_, i) => greet(mailboxOf(i))));
      const holdMs = Math.round(maxGreet + MESSAGE_MS + (n / RATE) * 1000);
      if (!refFailed) {
        const r = await referenceStep(ref, dir, n, tone, holdMs);
        console.log(line('media-only reference', n, r));
        figures.point('cpu', 'Endpoint.record() alone (reference)', n, r.mediaCpu, true);
        figures.point('lateness', 'Endpoint.record() alone (reference)', n, r.lateP99, true);
        if (r.ok) refBest = n;
        else refFailed = true;
        await sleep(2000);
      }
      if (!vmFailed) {
        const r = await voicemailStep(server, dir, n, tone, greet);
        console.log(line('voicemail', n, r));
        figures.point('cpu', 'voicemail through SIP', n, r.mediaCpu);
        figures.point('lateness', 'voicemail through SIP', n, r.lateP99);
        if (r.ok) vmBest = n;
        else vmFailed = true;
        await sleep(2000);
      }
    }
  } finally {
    ref.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const refText = refFailed ? `${refBest}` : `>= ${refBest} (every step)`;
  const ratio = refBest ? (vmBest / refBest).toFixed(2) : 'n/a';
  figures.figure({ label: 'messages recorded at once through SIP, no loss, no gap', value: vmBest, unit: '', reference: { label: 'the same callers into Endpoint.record()', value: refBest }, goal: '≥ 500' });
  figures.save();
  console.log(`voicemail: ${vmFailed ? vmBest : `>= ${vmBest} (every step)`} messages recorded at once through SIP with no loss and no gap ` +
    `(${(vmBest / SEED).toFixed(1)}x the seed's ${SEED}; goal >= 500); media-only reference (same sipp callers into Endpoint.record()): ${refText}, ` +
    `ratio ${ratio}; sipp load generators share the machine's cores; media threads ${rt ? 'SCHED_FIFO' : 'not realtime'}`);
}

await main();
