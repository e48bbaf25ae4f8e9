/**
 * SIP core benchmark (issue: SIP core and registrar). Prints, measured in this run:
 *  1. parses/s of an INVITE with SDP: our parser, and SIP.js's parser in the same process;
 *  2. the highest REGISTER-with-digest rate sipp sustains against our node for DURATION s with
 *     no failed registration, and Kamailio's (test/peers/kamailio) under the same load;
 *  3. memory for 10,000 bindings.
 * BENCH_QUICK=1 shortens the sustained runs to 5 s (for a smoke run, not for figures).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { runSippLoad } from './sipp-load.js';
import { mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Grammar, Parser } from 'sip.js/lib/core/index.js';
import { parseMessage } from '../src/sip/message/parser.js';
import { LocationStore, type Binding } from '../src/features/registrar/location.js';
import { Store } from '../src/core/store.js';
import { BenchResults } from './results.js';

const ROOT = new URL('../../', import.meta.url).pathname.replace(/dist\/$/, '');
const REPO = existsSync(join(ROOT, 'package.json')) ? ROOT : new URL('../', import.meta.url).pathname;
const PEERS = join(REPO, 'test/peers');
const QUICK = process.env.BENCH_QUICK === '1';
const DURATION = QUICK ? 5 : 30;
const results = new BenchResults('sip', QUICK);
results.chart('register', 'REGISTER with digest: achieved rate against offered rate', 'offered REGISTERs/s', 'achieved REGISTERs/s (no failure)');

const INVITE = Buffer.from([
  'INVITE sip:202@127.0.0.1:5060 SIP/2.0',
  'Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-524287-1---6d7fe2a3b53a3c1a;rport',
  'Max-Forwards: 70',
  'Contact: <sip:201@127.0.0.1:5062;transport=udp>',
  'To: <sip:202@127.0.0.1>',
  'From: "Demo 201"<sip:201@127.0.0.1>;tag=6b3a1f92',
  'Call-ID: NDQ5ZjA0YmQ3YjI5MjQ5NzA0ZTEwYzU2MmE0NmMyNTI',
  'CSeq: 1 INVITE',
  'Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE',
  'Content-Type: application/sdp',
  'Supported: replaces, norefersub, extended-refer, timer, outbound, path',
  'User-Agent: Z 5.4.12 v2.10.13.2',
  'Allow-Events: presence, kpml, talk',
  'Content-Length: 213',
  '',
  'v=0\r\no=Z 0 0 IN IP4 127.0.0.1\r\ns=Z\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 8000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\na=ptime:20\r\n',
].join('\r\n'));

function parsesPerSecond(fn: () => unknown, ms = 2000): number {
  for (let i = 0; i < 2000; i++) fn();
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 1000; i++) fn();
    n += 1000;
    now = performance.now();
  }
  return (n / (now - start)) * 1000;
}

function benchParse(): void {
  if (parseMessage(INVITE).body.length !== 213) throw new Error('benchmark message does not parse as expected');
  // Our parser does the eager work the stack needs: Via, From, To, CSeq, Contact validated.
  const ours = parsesPerSecond(() => {
    const m = parseMessage(INVITE);
    return m.topVia!.branch! + m.to.uri.user! + m.cseq.seq;
  });
  const text = INVITE.toString();
  const quiet = { log() {}, warn() {}, error() {}, debug() {} } as never;
  void Grammar;
  const sipjs = parsesPerSecond(() => Parser.parseMessage(text, quiet));
  results.figure({ label: `parses/s of a ${INVITE.length}-byte INVITE with SDP`, value: ours, unit: '/s', reference: { label: 'SIP.js parser', value: sipjs }, goal: '≥ 200,000/s' });
  console.log(`parse: INVITE with SDP (${INVITE.length} bytes): ${Math.round(ours).toLocaleString('en')} parses/s; SIP.js parser in the same process: ${Math.round(sipjs).toLocaleString('en')} parses/s; ratio ${(ours / sipjs).toFixed(1)}x (goal >= 200,000/s)`);
}

function benchMemory(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  const dir = mkdtempSync(join(tmpdir(), 'bench-mem-'));
  const store = Store.open(join(dir, 'b.sqlite'));
  gc?.();
  const before = process.memoryUsage();
  const loc = new LocationStore(store);
  const now = Date.now();
  for (let i = 0; i < 10_000; i++) {
    const aor = String(100000 + i);
    const b: Binding = {
      aor, key: `sip:${aor}@10.1.${(i >> 8) & 255}.${i & 255}:5060;transport=udp`, contact: `sip:${aor}@10.1.${(i >> 8) & 255}.${i & 255}:5060;transport=udp`,
      callId: `call-${i}-7f3a9b2c1d4e5f60718293a4b5c6d7e8`, cseq: 2, expiresAt: now + 3600_000, q: 1, path: [],
      source: { protocol: 'udp', address: `10.1.${(i >> 8) & 255}.${i & 255}`, port: 5060 }, userAgent: 'Yealink SIP-T46S 66.86.0.15',
    };
    loc.save(b);
  }
  loc.flush();
  gc?.();
  const after = process.memoryUsage();
  const heapMb = (after.heapUsed - before.heapUsed) / 1048576;
  const rssMb = (after.rss - before.rss) / 1048576;
  results.figure({ label: 'JS heap for 10,000 bindings', value: heapMb, unit: 'MB', goal: '< 50 MB' });
  console.log(`memory: 10,000 bindings: ${heapMb.toFixed(1)} MB JS heap, ${rssMb.toFixed(1)} MB RSS growth incl. SQLite cache (goal < 50 MB)${gc ? '' : ' (run with --expose-gc for exact figures)'}`);
  loc.close();
  store.close();
}

function sleep(ms: number) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Runs sipp REGISTER at `rate`/s for DURATION s; ok when every registration succeeded at pace. */
async function sippRegisters(port: number, user: string, pass: string, rate: number, localPort: number): Promise<{ ok: boolean; rate: number; failed: number }> {
  const r = await runSippLoad([`127.0.0.1:${port}`, '-sf', join(PEERS, 'sipp/register_auth.xml'), '-s', user, '-au', user, '-ap', pass,
    '-i', '127.0.0.1', '-p', String(localPort)], rate, rate * DURATION, { timeoutS: DURATION + 20, limit: rate * 4 });
  // sustained: every registration succeeded and sipp kept the pace asked of it
  return { ok: r.code === 0 && r.failed === 0 && r.achieved >= 0.95 * rate, rate: r.achieved, failed: r.failed };
}

async function highestRate(name: string, port: number, user: string, pass: string, localPort: number): Promise<number> {
  let best = 0;
  let rate = 1000;
  let failedAt = 0;
  while (rate <= 30000) {
    const r = await sippRegisters(port, user, pass, rate, localPort);
    console.log(`  ${name}: ${rate}/s for ${DURATION} s: ${r.failed ? `${r.failed} failed` : 'no failure'}, achieved ${Math.round(r.rate)}/s${r.ok ? '' : ' (not sustained)'}`);
    results.point('register', name, rate, r.failed ? 0 : r.rate, name !== 'pbx-core');
    if (!r.ok) {
      failedAt = rate;
      break;
    }
    best = rate;
    rate = Math.round(rate * 1.5 / 250) * 250;
    await sleep(1000);
  }
  if (failedAt && best) {
    const mid = Math.round((best + failedAt) / 2 / 100) * 100;
    if (mid > best && mid < failedAt) {
      const r = await sippRegisters(port, user, pass, mid, localPort);
      console.log(`  ${name}: ${mid}/s for ${DURATION} s: ${r.failed ? `${r.failed} failed` : 'no failure'}, achieved ${Math.round(r.rate)}/s${r.ok ? '' : ' (not sustained)'}`);
      if (r.ok) best = mid;
    }
  }
  return best;
}

async function startNode(port: number): Promise<ChildProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-node-'));
  const cfg = join(dir, 'pbx.yaml');
  const users = Array.from({ length: 10 }, (_, i) => `  - { extension: "${201 + i}", password: demo${201 + i} }`).join('\n');
  writeFileSync(cfg, `log: { level: warn, format: json }\nsip:\n  listen:\n    - { transport: udp, address: 127.0.0.1, port: ${port} }\nstorage: { path: ${JSON.stringify(join(dir, 'pbx.sqlite'))} }\nsecurity: { lockout: { maxFailures: 10000 }, sourceLimit: { maxFailures: 100000 }, userLimit: { maxFailures: 100000 } }\nusers:\n${users}\n`);
  const cli = join(REPO, 'dist/src/cli.js');
  const p = spawn(process.execPath, [cli, 'start', '--config', cfg], { stdio: ['ignore', 'ignore', 'inherit'] });
  await sleep(1500);
  return p;
}

async function startKamailio(port: number): Promise<{ stop: () => void } | undefined> {
  if (spawnSync('sh', ['-c', 'command -v kamailio']).status !== 0) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'bench-kam-'));
  const pid = join(dir, 'k.pid');
  const r = spawnSync('kamailio', ['-f', join(PEERS, 'kamailio/kamailio.cfg'), '-A', `LISTEN=udp:127.0.0.1:${port}`, '-Y', dir, '-P', pid, '-E'], { stdio: 'ignore' });
  if (r.status !== 0) return undefined;
  await sleep(1500);
  return { stop: () => spawnSync('sh', ['-c', `kill $(cat ${pid})`]) };
}

async function main(): Promise<void> {
  console.log(`# SIP core benchmark (${new Date().toISOString()}, node ${process.version}${QUICK ? ', QUICK' : ''})`);
  benchParse();
  benchMemory();
  if (spawnSync('sh', ['-c', 'command -v sipp']).status !== 0) {
    console.log('register: sipp not installed (run scripts/peers.sh): skipped');
    return;
  }
  const PORT = 35060;
  const node = await startNode(PORT);
  let ours = 0;
  try {
    ours = await highestRate('pbx-core', PORT, '201', 'demo201', 35070);
  } finally {
    node.kill('SIGTERM');
  }
  const kam = await startKamailio(35080);
  let theirs = 0;
  if (kam) {
    try {
      theirs = await highestRate('kamailio', 35080, '201', 'secret', 35090);
    } finally {
      kam.stop();
    }
  }
  results.figure({ label: `REGISTER with digest sustained ${DURATION} s, no failure`, value: ours, unit: '/s', ...(theirs ? { reference: { label: 'Kamailio (2 workers)', value: theirs } } : {}), goal: '≥ 3,000/s, ≥ 0.5× Kamailio' });
  results.save();
  console.log(`register: highest REGISTER-with-digest rate with no failure for ${DURATION} s: pbx-core ${ours}/s, Kamailio ${theirs ? `${theirs}/s` : 'not available'}; ratio ${theirs ? (ours / theirs).toFixed(2) : 'n/a'} (goals >= 3,000/s and >= 0.5x Kamailio)`);
}

await main();
