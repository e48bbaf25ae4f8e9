/**
 * Failover benchmark (issue 17): a solution of 3 nodes (primary, secondary, expansion), then
 * of 32 (30 expansions), each node its own process on loopback, each core with its nats-server.
 * USERS users are homed on the primary and register in standby on the secondary (real
 * REGISTERs, every contact one sipp UAS that answers at once). Then the primary's machine dies
 * (kill -9 of the node and its nats-server) and this measures, from that instant:
 *  1. failure detection: the secondary's "node declared down" log line;
 *  2. a phone of the failed primary can call again: a probe call (user to user through the
 *     secondary, digest, 200, BYE) every 250 ms, the first that connects;
 *  2b. the same for a phone that knows only the domain (DNS SRV, the primary at priority 10,
 *     the secondary at 20, served by a test DNS server): a baresip phone over UDP and one over
 *     TCP, registered through DNS with a 10 s interval, dial a user of the primary from the
 *     instant of the kill, again whenever a call fails, until one is answered;
 *  3. server failover: one call to every one of the USERS users through the secondary, repeated
 *     until all connect, the end of the first round in which none failed;
 * then the primary is started again, and:
 *  4. fail-back: from the primary heard again to the primary serving its users, less the
 *     stable time (the time the decision waits on purpose).
 * Beside the seed's figures (no failover: phones re-register after 2-3 min, server failover
 * < 10 min, as the product we model states). BENCH_QUICK=1: 3 nodes and 100 users (a smoke run).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './node.js';
import { runSippLoad } from './sipp-load.js';
import { BenchResults } from './results.js';
import { Baresip, makeToneWav } from '../test/helpers/baresip.js';
import { TestDnsServer } from '../test/helpers/dns-server.js';

const QUICK = process.env.BENCH_QUICK === '1';
const SIZES = process.env.BENCH_NODES ? process.env.BENCH_NODES.split(',').map(Number) : QUICK ? [3] : [3, 32];
const USERS = QUICK ? 100 : 500;
const STABLE = 5;
const SETUP = join(ROOT, 'bench/scenarios/uac_setup.xml');
const EACH = join(ROOT, 'bench/scenarios/uac_each.xml');
const REG = join(ROOT, 'bench/scenarios/register_inf.xml');
const UAS_NOW = join(ROOT, 'bench/scenarios/uas_answer_now.xml');
const UAS = 36270;
const PROBE = 36280;
const DOMAIN = 'pbx17.bench';
const DNS_PORT = 36490;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const results = new BenchResults('failover', QUICK);

interface Line {
  message: string;
  timestamp: string;
  [k: string]: unknown;
}

class Node {
  readonly lines: Line[] = [];
  readonly proc: ChildProcess;
  constructor(readonly name: string, file: string, cwd: string) {
    this.proc = spawn(process.execPath, [join(ROOT, 'dist/src/cli.js'), 'start', '--config', file, '--node', name], { cwd, stdio: ['ignore', 'pipe', 'inherit'] });
    let buf = '';
    this.proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line.includes('"failover: ') && !line.includes('configuration applied')) continue;
        try {
          this.lines.push(JSON.parse(line) as Line);
        } catch {
          // not a log line of ours
        }
      }
    });
  }

  /** When (ms since the epoch) the node first logged `message` (and `match`) at or after `after`, waiting up to `timeoutMs`. */
  async when(message: string, after: number, timeoutMs: number, match: (l: Line) => boolean = () => true): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const l = this.lines.find((x) => x.message === message && Date.parse(x.timestamp) >= after && match(x));
      if (l) return Date.parse(l.timestamp);
      if (Date.now() > deadline) throw new Error(`${this.name}: no "${message}" within ${timeoutMs} ms`);
      await sleep(50);
    }
  }
}

function document(dir: string, names: string[], addr: (i: number) => string): string {
  const nodes = names.map((n, i) => `  - { name: ${n}, role: ${i === 0 ? 'primary' : i === 1 ? 'secondary' : 'expansion'}, profile: ${i < 2 ? 'DL360' : 'DL120'}, address: ${addr(i)}, dataDir: ${JSON.stringify(join(dir, n))} }`);
  const users = Array.from({ length: USERS }, (_, u) => `  - { extension: "${2000 + u}", password: pw-${2000 + u}, node: pri, voicemail: { enabled: false } }`);
  const expUsers = names.slice(2).map((n, i) => `  - { extension: "${3000 + i}", password: pw-${3000 + i}, node: ${n}, voicemail: { enabled: false } }`);
  const dnsUsers = ['2900', '2901'].map((e) => `  - { extension: "${e}", password: pw-${e}, node: pri, voicemail: { enabled: false } }`);
  return `log: { level: info, format: json }
sip: { domain: ${DOMAIN} }
registrar: { minExpires: 5 }
bus: { password: bus-bench-17 }
admin: { enabled: false }
failover: { stableSeconds: ${STABLE}, startGraceSeconds: 20 }
media: { portMin: 40000, portMax: 40999 }
nodes:
${nodes.join('\n')}
users:
${[...users, ...dnsUsers, ...expUsers].join('\n')}
`;
}

/** One probe call from 2000 to 2001 through `address`: whether it connected. */
async function probe(address: string, port: number): Promise<boolean> {
  const r = await runSippLoad([`${address}:5060`, '-sf', SETUP, '-s', '2001', '-au', '2000', '-ap', 'pw-2000', '-key', 'caller', '2000',
    '-key', 'codec_pt', '0', '-key', 'codec', 'PCMU', '-i', '127.0.0.1', '-p', String(port), '-mi', '127.0.0.1', '-mp', String(port + 2000), '-d', '0'], 1, 1, { timeoutS: 3 });
  return r.code === 0 && r.succeeded === 1;
}

/** A baresip phone of `ext` that knows only the domain (its DNS server: the bench's), over `transport`. */
function dnsPhone(dir: string, ext: string, n: number, transport: 'udp' | 'tcp'): Promise<Baresip> {
  return Baresip.start({
    listen: `127.0.0.1:${36500 + 10 * n}`,
    ctrlPort: 36505 + 10 * n,
    source: makeToneWav(join(dir, `tone-${ext}.wav`), 1000, 300),
    account: `<sip:${ext}@${DOMAIN};transport=${transport}>;auth_pass=pw-${ext};regint=10;answermode=auto;audio_codecs=PCMU`,
    extraConfig: [`dns_server\t\t127.0.0.1:${DNS_PORT}`],
  });
}

/** `p` dials 2001 at the domain from now on, again 250 ms after each call that fails, until one is answered: when (ms since the epoch). */
async function callsAgain(p: Baresip, transport: string, deadline: number): Promise<number | undefined> {
  while (Date.now() < deadline) {
    p.events.splice(0);
    p.command('dial', `sip:2001@${DOMAIN};transport=${transport}`);
    const ev = await p.waitEvent((e) => e.type === 'CALL_ESTABLISHED' || e.type === 'CALL_CLOSED', deadline - Date.now()).catch(() => undefined);
    if (ev?.type === 'CALL_ESTABLISHED') {
      const at = Date.now();
      p.command('hangup');
      return at;
    }
    await sleep(250);
  }
  return undefined;
}

interface Figures {
  detectMs: number;
  firstCallMs: number;
  /** The DNS-only phones (UDP, TCP); undefined: no call answered within 150 s. */
  dnsUdpMs: number | undefined;
  dnsTcpMs: number | undefined;
  allMs: number;
  failbackMs: number;
}

async function run(size: number): Promise<Figures> {
  const dir = mkdtempSync(join(tmpdir(), 'pbx-bench-failover-'));
  const file = join(dir, 'solution.yaml');
  const names = ['pri', 'sec', ...Array.from({ length: size - 2 }, (_, i) => `e${i + 1}`)];
  const addr = (i: number) => `127.0.17.${11 + i}`;
  writeFileSync(file, document(dir, names, addr));
  const nodes = new Map(names.map((n) => [n, new Node(n, file, dir)]));
  const sec = nodes.get('sec')!;
  let uas: ChildProcess | undefined;
  const dns = new TestDnsServer({});
  const phones: Baresip[] = [];
  try {
    for (const t of ['udp', 'tcp']) {
      dns.set(`_sip._${t}.${DOMAIN}`, [
        { type: 'SRV', priority: 10, weight: 0, port: 5060, target: `pri.${DOMAIN}` },
        { type: 'SRV', priority: 20, weight: 0, port: 5060, target: `sec.${DOMAIN}` },
      ]);
    }
    dns.set(`pri.${DOMAIN}`, [{ type: 'A', address: addr(0) }]);
    dns.set(`sec.${DOMAIN}`, [{ type: 'A', address: addr(1) }]);
    dns.set(DOMAIN, []);
    await dns.listen(DNS_PORT, '127.0.0.1');
    const t0 = Date.now();
    for (const n of nodes.values()) await n.when('solution: configuration applied', t0, 180_000, (l) => l.revision === 1);
    await nodes.get('pri')!.when('failover: this node serves its own users', t0, 60_000);
    console.log(`  ${size} nodes up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    // every user of the primary in standby on the secondary
    const inf = join(dir, 'users.csv');
    const exts = Array.from({ length: USERS }, (_, u) => String(2000 + u));
    writeFileSync(inf, ['SEQUENTIAL', ...exts.map((e) => `${e};[authentication username=${e} password=pw-${e}];`)].join('\n') + '\n');
    const reg = await runSippLoad([`${addr(1)}:5060`, '-sf', REG, '-inf', inf, '-key', 'contact_port', String(UAS), '-i', '127.0.0.1', '-p', String(UAS)], 100, USERS, { timeoutS: 60 });
    if (reg.succeeded !== USERS) throw new Error(`standby registrations: ${reg.succeeded} of ${USERS}`);
    uas = spawn('sipp', ['-sf', UAS_NOW, '-i', '127.0.0.1', '-p', String(UAS), '-mi', '127.0.0.1', '-mp', '37700', '-nostdin'], { cwd: dir, stdio: 'ignore' });
    await sleep(500);
    if (await probe(addr(1), PROBE)) throw new Error('the secondary served a call of the primary before the failure');
    phones.push(await dnsPhone(dir, '2900', 0, 'udp'), await dnsPhone(dir, '2901', 1, 'tcp'));
    for (const p of phones) await p.waitRegistered(15_000);
    const callees = join(dir, 'callees.csv');
    writeFileSync(callees, ['SEQUENTIAL', ...exts.map((e) => `${e};`)].join('\n') + '\n');

    // the primary's machine dies
    const natsPid = Number(readFileSync(join(dir, 'pri', 'nats', 'nats-server.pid'), 'utf8'));
    const killedAt = Date.now();
    nodes.get('pri')!.proc.kill('SIGKILL');
    process.kill(natsPid, 'SIGKILL');
    const dnsCalls = [callsAgain(phones[0]!, 'udp', killedAt + 150_000), callsAgain(phones[1]!, 'tcp', killedAt + 150_000)];
    let firstCall: number | undefined;
    for (let k = 0; firstCall === undefined; k++) {
      const slot = killedAt + 250 * k;
      if (Date.now() < slot) await sleep(slot - Date.now());
      if (Date.now() - killedAt > 120_000) throw new Error('no probe call connected within 120 s');
      if (await probe(addr(1), PROBE + 2 * (k % 20))) firstCall = Date.now();
    }
    const detect = await sec.when('failover: node declared down, serving its users', killedAt, 10_000);
    let all: number | undefined;
    for (let round = 0; all === undefined && round < 20; round++) {
      const r = await runSippLoad([`${addr(1)}:5060`, '-sf', EACH, '-inf', callees, '-au', '2000', '-ap', 'pw-2000', '-key', 'caller', '2000',
        '-key', 'codec_pt', '0', '-key', 'codec', 'PCMU', '-i', '127.0.0.1', '-p', String(PROBE + 100), '-mi', '127.0.0.1', '-mp', '39000', '-d', '0'], 200, USERS, { timeoutS: 60 });
      if (r.failed === 0 && r.succeeded === USERS) all = Date.now();
      else console.log(`  round ${round + 1}: ${r.succeeded} of ${USERS} users answered`);
    }
    if (all === undefined) throw new Error('not every user answered through the secondary');
    const [dnsUdp, dnsTcp] = await Promise.all(dnsCalls);

    // the primary back
    const back = Date.now();
    const pri = new Node('pri', file, dir);
    nodes.set('pri', pri);
    const heard = await sec.when('failover: node back, its users return after the stable time', back, 60_000);
    const served = await pri.when('failover: this node serves its own users', back, 120_000, (l) => l.from === 'displaced');
    return { detectMs: detect - killedAt, firstCallMs: firstCall - killedAt,
      dnsUdpMs: dnsUdp === undefined ? undefined : dnsUdp - killedAt, dnsTcpMs: dnsTcp === undefined ? undefined : dnsTcp - killedAt, allMs: all - killedAt, failbackMs: served - heard - STABLE * 1000 };
  } finally {
    await Promise.all(phones.map((p) => p.stop()));
    await dns.close();
    uas?.kill('SIGKILL');
    for (const n of nodes.values()) n.proc.kill('SIGTERM');
    await sleep(3000);
    for (const n of nodes.values()) n.proc.kill('SIGKILL');
  }
}

async function main(): Promise<void> {
  console.log(`# failover benchmark (${new Date().toISOString()}, node ${process.version}${QUICK ? ', QUICK' : ''}): ${USERS} users on the primary, hold-down 2 s (default), stable time ${STABLE} s`);
  for (const size of SIZES) {
    const f = await run(size);
    const s = (ms: number | undefined) => (ms === undefined ? 'none within 150 s' : `${(ms / 1000).toFixed(1)} s`);
    console.log(`failover ${size} nodes: detection ${s(f.detectMs)} (target <= 3 s); a primary phone calls again (standby registration) ${s(f.firstCallMs)} (seed 2-3 min, target <= 5 s); with DNS SRV only ${s(f.dnsUdpMs)} over UDP, ${s(f.dnsTcpMs)} over TCP (target <= 45 s); all ${USERS} users answer through the secondary ${s(f.allMs)} (seed < 10 min, target <= 30 s); fail-back ${s(f.failbackMs)} after the stable time (target <= 60 s)`);
    results.figure({ label: `${size} nodes: failure detection`, value: f.detectMs / 1000, unit: 's', goal: '≤ 3 s' });
    results.figure({ label: `${size} nodes: a phone of the failed primary calls again`, value: f.firstCallMs / 1000, unit: 's', goal: '≤ 5 s (seed, stated: 2–3 min)' });
    for (const [t, ms] of [['UDP', f.dnsUdpMs], ['TCP', f.dnsTcpMs]] as const) {
      if (ms !== undefined) results.figure({ label: `${size} nodes: a phone of the failed primary calls again, DNS SRV only (baresip, ${t}, registration interval 10 s)`, value: ms / 1000, unit: 's', goal: '≤ 45 s' });
    }
    results.figure({ label: `${size} nodes: all ${USERS} users answer through the secondary`, value: f.allMs / 1000, unit: 's', goal: '≤ 30 s (seed, stated: < 10 min)' });
    results.figure({ label: `${size} nodes: fail-back after the stable time`, value: f.failbackMs / 1000, unit: 's', goal: '≤ 60 s' });
  }
  results.save();
}

await main();
