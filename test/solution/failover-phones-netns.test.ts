/**
 * How phones find the backup when the primary dies, in a 3-node solution (primary, secondary,
 * expansion), each node a process in its own network namespace, with baresip phones:
 *  - RFC 5626 outbound with two flows on ONE account (baresip `outbound` and `outbound2`,
 *    `sipnat=outbound`: reg-id 1 to the primary, reg-id 2 to the secondary, one +sip.instance);
 *    the secondary holds flow 2 as a standby registration and, once it serves the primary's
 *    users, reaches the phone over that flow without any new REGISTER;
 *  - DNS SRV with two targets for a phone that knows only the domain (`_sip._udp.<domain>`:
 *    the primary at priority 10, the secondary at 20, served by a test DNS server): it registers
 *    on the primary, and after the primary dies its next REGISTER falls through to the secondary,
 *    which accepts it (it backs the user up). Over UDP baresip waits out a 32 s transaction
 *    timeout on the dead primary for every request (twice when challenged); over TCP the dead
 *    primary refuses the connection and it moves on at once (one phone of each).
 * baresip 1.0 sends its own calls through `outbound` (the first proxy) only, so during the
 * outage the two-flow phones are called, not calling; the README says so.
 * What a user notices is checked: the call connects and each side hears the other's tone.
 */
import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestNet } from '../helpers/netns.js';
import { NodeProcess } from '../helpers/node-process.js';
import { Baresip, lastHeard, makeToneWav } from '../helpers/baresip.js';
import { TestDnsServer } from '../helpers/dns-server.js';
import { hasTone } from '../helpers/tone.js';
import { portBlock } from '../helpers/ports.js';
import { runSipp, scenario } from '../helpers/sipp.js';
import { sleep, until } from '../helpers/wait.js';

const net = new TestNet('22ph', 122);
const NODES = ['pri', 'sec', 'exp1'];
const DOMAIN = 'pbx22.test';
const dir = mkdtempSync(join(tmpdir(), 'pbx-failover-phones-'));
const file = join(dir, 'solution.yaml');
const nodes = new Map<string, NodeProcess>();
const ports = portBlock(170);
const DNS_PORT = ports(190);
const HOLD_DOWN = 1;
/** The DNS-only phone's registration interval: its re-REGISTER after the failure comes this soon. */
const DNS_REGINT = 10;
const dns = new TestDnsServer({});
const phones: Baresip[] = [];

function document(): string {
  const entry = (name: string, role: string, profile: string) =>
    `  - { name: ${name}, role: ${role}, profile: ${profile}, address: ${net.addr(name)}, bus: { address: ${net.addr(name, 'bus')} }, dataDir: ${JSON.stringify(join(dir, name))} }`;
  return `log: { level: debug, format: json }
sip: { domain: ${DOMAIN} }
bus: { password: bus-secret-22, heartbeatSeconds: 0.25, holdDownSeconds: ${HOLD_DOWN} }
failover: { stableSeconds: 3, startGraceSeconds: 5 }
registrar: { minExpires: 5 }
nodes:
${entry('pri', 'primary', 'DL360')}
${entry('sec', 'secondary', 'DL120')}
${entry('exp1', 'expansion', 'ExpansionL')}
users:
  - { extension: "201", password: secret201, node: pri }
  - { extension: "202", password: secret202, node: pri }
  - { extension: "204", password: secret204, node: pri }
  - { extension: "205", password: secret205, node: pri }
  - { extension: "301", password: secret301, node: exp1 }
`;
}

/** A baresip phone of `ext` sending a tone of `freq` Hz, answering at once; `account` is what follows its AOR. */
async function phone(ext: string, n: number, freq: number, account: string, extraConfig: string[] = [], transport = ''): Promise<Baresip> {
  const p = await Baresip.start({
    listen: `${net.here}:${ports(20 + 10 * n)}`,
    ctrlPort: ports(n),
    source: makeToneWav(join(dir, `tone-${ext}-${n}.wav`), freq, 180),
    account: `<sip:${ext}@${DOMAIN}${transport}>;auth_pass=secret${ext};answermode=auto;audio_codecs=PCMU;${account}`,
    extraConfig,
  });
  phones.push(p);
  return p;
}

/** Forgets the phones' past events: the next wait sees only what follows. */
function fresh(...ps: Baresip[]): void {
  for (const p of ps) p.events.splice(0);
}

/** `a` (sending `fa` Hz) calls phone `b` (sending `fb` Hz) at `uri`: the call connects, and each hears the other. Resolves with the ms from dialling to the answer. */
async function call(t: { true(v: boolean, m?: string): void }, a: Baresip, fa: number, b: Baresip, fb: number, uri: string, timeoutMs = 15_000): Promise<number> {
  fresh(a, b);
  const dialled = Date.now();
  a.command('dial', uri);
  await a.waitEvent((e) => e.type === 'CALL_ESTABLISHED', timeoutMs);
  const answered = Date.now() - dialled;
  await sleep(2500);
  a.command('hangup');
  await b.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
  await sleep(300);
  t.true(hasTone(await lastHeard(a), fb, 0.3), `the caller hears ${fb} Hz`);
  t.true(hasTone(await lastHeard(b), fa, 0.3), `the callee hears ${fa} Hz`);
  return answered;
}

/** Registrations of `aor` that node `name` logged (after log line `from`). */
function registrations(name: string, aor: string, from = 0): number {
  return nodes.get(name)!.lines.slice(from).filter((l) => l.message === 'registration updated' && l.aor === aor).length;
}

test.before(async () => {
  net.up(NODES);
  await dns.listen(DNS_PORT, net.here);
  dns.set(`_sip._udp.${DOMAIN}`, [
    { type: 'SRV', priority: 10, weight: 0, port: 5060, target: `pri.${DOMAIN}` },
    { type: 'SRV', priority: 20, weight: 0, port: 5060, target: `sec.${DOMAIN}` },
  ]);
  dns.set(`_sip._tcp.${DOMAIN}`, [
    { type: 'SRV', priority: 10, weight: 0, port: 5060, target: `pri.${DOMAIN}` },
    { type: 'SRV', priority: 20, weight: 0, port: 5060, target: `sec.${DOMAIN}` },
  ]);
  dns.set(`pri.${DOMAIN}`, [{ type: 'A', address: net.addr('pri') }]);
  dns.set(`sec.${DOMAIN}`, [{ type: 'A', address: net.addr('sec') }]);
  dns.set(DOMAIN, []);
  writeFileSync(file, document());
  for (const name of NODES) nodes.set(name, new NodeProcess({ config: file, node: name, netns: net.ns(name) }));
  for (const n of nodes.values()) await n.waitFor('solution: configuration applied', (l) => l.revision === 1, 60_000);
  await nodes.get('pri')!.waitFor('failover: this node serves its own users', () => true, 20_000);
});

test.after.always(async () => {
  if (process.env.PBX_KEEP_LOGS) for (const n of nodes.values()) writeFileSync(join(process.env.PBX_KEEP_LOGS, `${n.name}.log`), n.lines.map((l) => JSON.stringify(l)).join('\n'));
  await Promise.all(phones.map((p) => p.stop()));
  await Promise.all([...nodes.values()].map((n) => n.stop()));
  await dns.close();
  net.down(NODES);
});

/** One account, two RFC 5626 flows: reg-id 1 through the primary, reg-id 2 through the secondary. */
const flows = () => `outbound="sip:${net.addr('pri')}:5060;transport=udp";outbound2="sip:${net.addr('sec')}:5060;transport=udp";sipnat=outbound;regint=600`;
let a: Baresip;
let b: Baresip;
let d: Baresip;
let e: Baresip;
let far: Baresip;
/** sec's log line count and the time when the primary was killed. */
let killed: { from: number; at: number } | undefined;

/** The 'registration updated' lines node `name` logged for `aor`. */
const regLines = (name: string, aor: string) => nodes.get(name)!.lines.filter((l) => l.message === 'registration updated' && l.aor === aor);

test.serial('one account with two RFC 5626 flows: reg-id 1 on the primary, reg-id 2 held in standby on the secondary; a DNS-only phone registers on the SRV target of priority 10', async (t) => {
  a = await phone('201', 0, 1000, flows());
  b = await phone('202', 1, 440, flows());
  d = await phone('204', 2, 660, `regint=${DNS_REGINT}`, [`dns_server\t\t${net.here}:${DNS_PORT}`], ';transport=udp');
  e = await phone('205', 4, 550, `regint=${DNS_REGINT}`, [`dns_server\t\t${net.here}:${DNS_PORT}`], ';transport=tcp');
  far = await phone('301', 3, 880, `outbound="sip:${net.addr('exp1')}:5060";regint=600`);
  for (const p of [a, b, far]) await p.waitLog(/\} 200 [^\n]*\[\d+ bindings?\]/, 15_000);
  for (const ext of ['201', '202']) {
    await until(`${ext}: a flow on each core`, () => regLines('pri', ext).length > 0 && regLines('sec', ext).length > 0, 15_000);
    const [home, standby] = [regLines('pri', ext)[0]!, regLines('sec', ext)[0]!];
    t.is(home.regId, 1, `${ext}: flow 1 on the primary`);
    t.is(standby.regId, 2, `${ext}: flow 2 on the secondary`);
    t.truthy(home.instance);
    t.is(standby.instance, home.instance, `${ext}: one phone (+sip.instance) behind both flows`);
  }
  // what the registrar answers a flow: Require: outbound, the reg-id, and a Flow-Timer (sipp checks them)
  const sipp = await runSipp([`${net.addr('pri')}:5060`, '-sf', scenario('register_outbound.xml'), '-s', '204', '-au', '204', '-ap', 'secret204',
    '-key', 'regid', '7', '-m', '1', '-i', net.here, '-p', String(ports(100))], { timeoutMs: 10_000 });
  t.is(sipp.code, 0, `the 200 to a flow carries Require: outbound, Flow-Timer and the reg-id\n${sipp.stdout.slice(-800)}\n${sipp.stderr.slice(-800)}`);
  t.like(regLines('pri', '204').at(-1), { regId: 7 });
  await until('204 registered through DNS', () => regLines('pri', '204').some((l) => l.regId === undefined), 15_000);
  t.is(regLines('sec', '204').length, 0, 'the DNS-only phone uses the priority-10 target alone while it answers');
  await until('205 registered through DNS, over TCP', () => regLines('pri', '205').some((l) => l.transport === 'tcp'), 15_000);
  t.true(dns.queries.some((q) => q.name === `_sip._udp.${DOMAIN}` && q.type === 'SRV'), 'found through the SRV records');
  t.true(dns.queries.some((q) => q.name === `_sip._tcp.${DOMAIN}` && q.type === 'SRV'));
  // the primary serves them; the phones call through their first flow
  await call(t, a, 1000, b, 440, `sip:202@${DOMAIN}`);
  await call(t, d, 660, b, 440, `sip:202@${DOMAIN}`);
});

test.serial("the primary's machine killed: the secondary reaches a two-flow phone over its standby flow, with no new REGISTER", async (t) => {
  const sec = nodes.get('sec')!;
  killed = { from: sec.lines.length, at: Date.now() };
  t.true(net.signalAll('pri', 'SIGKILL') > 0);
  await sec.waitFor('failover: node declared down, serving its users', (l) => l.node === 'pri' && sec.lines.indexOf(l) >= killed!.from, 30_000);
  await sleep(500);
  // 301 on the expansion calls 202: the expansion sends it to the secondary, which sends it down 202's flow 2
  await call(t, far, 880, b, 440, `sip:202@${net.addr('exp1')}:5060`);
  await call(t, far, 880, a, 1000, `sip:201@${net.addr('exp1')}:5060`);
  t.is(registrations('sec', '202', killed.from) + registrations('sec', '201', killed.from), 0, 'reached over the flows registered before the failure');
});

test.serial("the DNS-only phone's next REGISTER falls through to the SRV target of priority 20, which accepts it; then it calls and is called", async (t) => {
  const sec = nodes.get('sec')!;
  if (!killed) return t.fail('needs the primary killed by the test before');
  const from = killed.from;
  // its refresh every ~9 s goes to the dead primary first, then (the UDP transaction timed out
  // after 64*T1 = 32 s) to the next target; that one's 401 is answered with a new REGISTER,
  // which baresip sends to the primary first again: twice 32 s
  await until('204 registered on the secondary', () => registrations('sec', '204', from) > 0, 100_000, { detail: () => `${d.log().slice(-1500)}\nsec:\n${sec.lines.slice(from).filter((l) => /REGISTER|regist|auth/i.test(String(l.message))).map((l) => JSON.stringify(l)).join('\n')}` });
  const at = regLines('sec', '204').find((l) => sec.lines.indexOf(l) >= from)!.timestamp;
  t.log(`204 (UDP) registered on the secondary ${((Date.parse(String(at)) - killed.at) / 1000).toFixed(1)} s after the kill`);
  await call(t, far, 880, d, 660, `sip:204@${net.addr('exp1')}:5060`);
});

test.serial('the DNS-only phone calls: its INVITE falls through to the secondary too', async (t) => {
  // the INVITE also goes to the dead primary first (its SRV record comes first): after the UDP
  // transaction times out (64*T1 = 32 s), to the secondary; its challenge (407) is answered
  // with a new INVITE, which baresip sends to the primary first again: 2 x 32 s
  const ms = await call(t, d, 660, b, 440, `sip:202@${DOMAIN}`, 100_000);
  t.log(`204's call (UDP) answered ${(ms / 1000).toFixed(1)} s after dialling`);
});

test.serial('a DNS-only phone over TCP: the dead primary refuses the connection, so its REGISTER and calls go to the secondary at once', async (t) => {
  if (!killed) return t.fail('needs the primary killed by the test before');
  const sec = nodes.get('sec')!;
  const after = () => regLines('sec', '205').find((l) => sec.lines.indexOf(l) >= killed!.from);
  await until('205 registered on the secondary', () => after() !== undefined, 60_000, { detail: () => e.log().slice(-1500) });
  t.log(`205 (TCP) registered on the secondary ${((Date.parse(String(after()!.timestamp)) - killed.at) / 1000).toFixed(1)} s after the kill`);
  await call(t, far, 880, e, 550, `sip:205@${net.addr('exp1')}:5060`);
  const ms = await call(t, e, 550, b, 440, `sip:202@${DOMAIN};transport=tcp`, 60_000);
  t.log(`205's call (TCP) answered ${(ms / 1000).toFixed(1)} s after dialling`);
});
