/**
 * SIP trunks against sipp carriers: digest registration, refresh, recovery after an outage,
 * OPTIONS keepalive; and the pure parts (peer matching, numbering, caller identity, channels).
 */
import test from 'ava';
import { TrunkSchema, type TrunkConfig } from '../../src/core/config/trunk-schema.js';
import { createTestLogger, type TestLogger } from '../../src/core/logger.js';
import { Trunks, type Trunk, type TrunkState } from '../../src/features/trunks/index.js';
import { AddressBlock } from '../../src/features/trunks/cidr.js';
import { SipResolver } from '../../src/sip/dns/resolver.js';
import { SipRequest } from '../../src/sip/message/message.js';
import { SipStack } from '../../src/sip/stack.js';
import type { TransportProtocol } from '../../src/sip/transport/types.js';
import { portBlock } from '../helpers/ports.js';
import { SCENARIOS, startSipp, type SippRun } from '../helpers/sipp.js';
import { scenario } from '../helpers/peers.js';
import { until } from '../helpers/wait.js';

const port = portBlock(40);
const REGISTRAR = `${SCENARIOS}/registrar_uas.xml`;
const SHORT = scenario('registrar_short.xml');
const RECHALLENGE = scenario('registrar_rechallenge.xml');
const OPTIONS = scenario('uas_options.xml');
const PASSWORD = 'Tr0mbone-s3cret';

const trunk = (t: Record<string, unknown>): TrunkConfig => TrunkSchema.parse({ lineGroup: 1, ...t });

interface Rig {
  trunks: Trunks;
  logger: TestLogger;
  events: [string, TrunkState][];
  close(): Promise<void>;
}

/** A stack on 127.0.0.1:`sipPort` and the trunks on it. */
async function rig(sipPort: number, configs: TrunkConfig[], protocol: TransportProtocol = 'udp'): Promise<Rig> {
  const logger = createTestLogger('debug');
  const stack = new SipStack({
    listen: [{ transport: protocol, address: '127.0.0.1', port: sipPort }],
    maxMessageSize: 65535,
    logger,
    methods: ['INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS'],
    onRequest: () => undefined,
  });
  await stack.start();
  // A short DNS timeout: 'localhost' is not in DNS here, only in /etc/hosts.
  const resolver = new SipResolver({ timeoutMs: 300, tries: 1 });
  const trunks = new Trunks({ stack, logger, trunks: configs, resolver, contactUser: 'pbx' });
  const events: [string, TrunkState][] = [];
  trunks.on('state', (t, s) => events.push([t.name, s]));
  return {
    trunks, logger, events,
    close: async () => {
      await trunks.close();
      resolver.close();
      await stack.close();
    },
  };
}

const registrar = (p: number, pass: string, extra: string[] = []): SippRun =>
  startSipp(['-sf', REGISTRAR, '-i', '127.0.0.1', '-p', String(p), '-set', 'user', 'alice', '-set', 'pass', pass, ...extra],
    { timeoutMs: 20_000 });

/** The requests starting with `start` that sipp received, from its message trace. */
const received = (trace: string, start: string): string[] => trace.split(/-{20,}.*\n/).filter((m) => /message received/.test(m))
  .map((m) => m.slice(m.indexOf(start))).filter((m) => m.startsWith(start));

const noSecrets = (t: { false: (v: boolean, m?: string) => void }, logger: TestLogger) =>
  t.false(JSON.stringify(logger.records).includes(PASSWORD), 'the password appears in a log record');

test('a registration trunk registers with digest and is in service', async (t) => {
  const uas = startSipp(['-sf', REGISTRAR, '-i', '127.0.0.1', '-p', String(port(10)), '-set', 'user', 'alice', '-set', 'pass', PASSWORD,
    '-m', '1'], { timeoutMs: 20_000, trace: true });
  const r = await rig(port(0), [trunk({ name: 'carrier', type: 'registration', host: '127.0.0.1', port: port(10),
    domain: 'carrier.test', username: 'alice', password: PASSWORD, keepaliveSeconds: 0, responseTimeoutSeconds: 2 })]);
  try {
    await new Promise((res) => setTimeout(res, 300)); // sipp binding its socket
    await r.trunks.start();
    const c = r.trunks.get('carrier')!;
    await until('registered', () => c.inService, 5000);
    const s = r.trunks.status()[0];
    t.is(s.registration, 'registered');
    t.is(s.state, 'in-service');
    t.is(s.lastError, undefined);
    t.deepEqual(r.events, [['carrier', 'in-service']]);
    const done = await uas.done;
    t.is(done.code, 0, 'sipp verified the digest and answered 200');
    const registers = received(done.messages, 'REGISTER ');
    t.is(registers.length, 2, 'challenged once');
    t.regex(registers[1], /^Authorization:\s*Digest .*uri="sip:carrier\.test"/im);
    t.regex(registers[0], /^REGISTER sip:carrier\.test SIP\/2\.0/);
    t.regex(registers[0], /^To:\s*<sip:alice@carrier\.test>\s*$/im);
    noSecrets(t, r.logger);
  } finally {
    await r.close();
    await uas.stop();
  }
});

for (const [stale, n] of [[true, 11], [false, 12]] as const) {
  test(`a second challenge ${stale ? 'with stale=true is answered again' : 'without stale fails the registration'}`, async (t) => {
    const uas = startSipp(['-sf', RECHALLENGE, '-i', '127.0.0.1', '-p', String(port(n + 60)), '-key', 'stale', String(stale), '-m', '1'],
      { timeoutMs: 10_000 });
    const r = await rig(port(n), [trunk({ name: 'x', type: 'registration', host: '127.0.0.1', port: port(n + 60),
      username: 'alice', password: PASSWORD, keepaliveSeconds: 0, registerRetrySeconds: 60 })]);
    try {
      await new Promise((res) => setTimeout(res, 300));
      await r.trunks.start();
      const x = r.trunks.get('x')!;
      await until('an outcome', () => x.status().registration === 'registered' || x.status().registration === 'failed', 5000);
      t.is(x.status().registration, stale ? 'registered' : 'failed');
      t.is(x.inService, stale);
      if (!stale) t.regex(x.status().lastError ?? '', /credentials refused \(401\) for user alice/);
      noSecrets(t, r.logger);
    } finally {
      await r.close();
      await uas.stop();
    }
  });
}

test('a wrong password fails the registration, out of service, nothing secret logged', async (t) => {
  const uas = registrar(port(20), 'the-right-one', ['-m', '1']);
  const r = await rig(port(1), [trunk({ name: 'bad', type: 'registration', host: '127.0.0.1', port: port(20),
    username: 'alice', password: PASSWORD, keepaliveSeconds: 0, registerRetrySeconds: 60 })]);
  try {
    await new Promise((res) => setTimeout(res, 300));
    await r.trunks.start();
    const b = r.trunks.get('bad')!;
    await until('failed', () => b.status().registration === 'failed', 5000);
    t.false(b.inService);
    t.false(b.acquire(), 'no channel on a trunk out of service');
    t.regex(b.status().lastError ?? '', /403/);
    t.is(r.trunks.status()[0].state, 'out-of-service');
    const done = await uas.done;
    t.not(done.code, 0, 'sipp refused the credentials');
    t.regex(done.stderr + done.stdout, /bad credentials/);
    const warnings = r.logger.records.filter((x) => x.message === 'trunk registration failed');
    t.is(warnings.length, 1);
    t.is(warnings[0].level, 'warn');
    noSecrets(t, r.logger);
  } finally {
    await r.close();
    await uas.stop();
  }
});

test('a registration is refreshed before the granted expiry on the same Call-ID, and removed on close', async (t) => {
  const uas = startSipp(['-sf', SHORT, '-i', '127.0.0.1', '-p', String(port(30)), '-m', '1'], { timeoutMs: 15_000, trace: true });
  const r = await rig(port(2), [trunk({ name: 'short', type: 'registration', host: '127.0.0.1', port: port(30),
    username: 'bob', keepaliveSeconds: 0, registerExpires: 600 })]);
  try {
    await new Promise((res) => setTimeout(res, 300));
    await r.trunks.start();
    await until('registered', () => r.trunks.get('short')!.inService, 5000);
    await new Promise((res) => setTimeout(res, 1800)); // granted 4 s: refreshed after 1 s
    t.true(r.trunks.get('short')!.inService);
    await r.close();
    const res = await uas.done;
    t.is(res.code, 0, 'all three REGISTERs arrived and were answered');
    const registers = received(res.messages, 'REGISTER ');
    t.is(registers.length, 3);
    t.regex(registers[2], /^Expires:\s*0\s*$/im, 'unregistered on close');
    t.regex(registers[1], /^Expires:\s*600\s*$/im);
    const field = (m: string, re: RegExp) => re.exec(m)?.[1];
    t.is(field(registers[0], /^Call-ID:\s*(.+)$/im), field(registers[1], /^Call-ID:\s*(.+)$/im));
    t.true(Number(field(registers[1], /^CSeq:\s*(\d+)/im)) > Number(field(registers[0], /^CSeq:\s*(\d+)/im)));
    t.regex(registers[0], /^Expires:\s*600\s*$/im, 'asked for registerExpires');
    t.regex(registers[0], new RegExp(`^Contact:\\s*<sip:pbx@127\\.0\\.0\\.1:${port(2)};transport=udp>`, 'im'));
    t.regex(registers[0], /^From:\s*<sip:bob@127\.0\.0\.1>;tag=/im);
  } finally {
    await r.close();
    await uas.stop();
  }
});

test('a carrier down at start: failed, then registered once it is back', async (t) => {
  const r = await rig(port(3), [trunk({ name: 'late', type: 'registration', host: '127.0.0.1', port: port(40),
    username: 'alice', password: PASSWORD, keepaliveSeconds: 0, registerRetrySeconds: 1, responseTimeoutSeconds: 1 })]);
  let uas: SippRun | undefined;
  try {
    await r.trunks.start();
    const late = r.trunks.get('late')!;
    await until('failed', () => late.status().registration === 'failed', 3000);
    t.false(late.inService);
    t.regex(late.status().lastError ?? '', /no answer/);
    uas = registrar(port(40), PASSWORD, ['-m', '1']);
    await until('registered', () => late.inService, 8000);
    t.is(late.status().registration, 'registered');
    t.deepEqual(r.events, [['late', 'in-service']], 'never in service before, so only one event');
    t.is(r.logger.records.filter((x) => x.message === 'trunk registration failed').length, 1, 'logged once');
    noSecrets(t, r.logger);
  } finally {
    await r.close();
    await uas?.stop();
  }
});

test('refused connections are retried with back-off over TCP, logged once, until the carrier is up', async (t) => {
  const r = await rig(port(4), [trunk({ name: 'tcp', type: 'registration', host: '127.0.0.1', port: port(50), transport: 'tcp',
    username: 'alice', password: PASSWORD, keepaliveSeconds: 0, registerRetrySeconds: 1, registerRetryMaxSeconds: 2 })], 'tcp');
  let uas: SippRun | undefined;
  try {
    await r.trunks.start();
    const tcp = r.trunks.get('tcp')!;
    const retries = () => r.logger.records.filter((x) => x.message === 'trunk registration still failing').length;
    await until('two retries', () => retries() >= 2, 6000);
    t.is(r.logger.records.filter((x) => x.message === 'trunk registration failed').length, 1);
    t.false(tcp.inService);
    uas = registrar(port(50), PASSWORD, ['-m', '1', '-t', 't1']);
    await until('registered', () => tcp.inService, 6000);
    t.is(tcp.status().registration, 'registered');
  } finally {
    await r.close();
    await uas?.stop();
  }
});

test('OPTIONS keepalive: in service while answered (even 501), out of service when silent, back after', async (t) => {
  const options = () => startSipp(['-sf', OPTIONS, '-i', '127.0.0.1', '-p', String(port(60))], { timeoutMs: 20_000 });
  let uas = options();
  const r = await rig(port(5), [trunk({ name: 'peer', type: 'peer', host: '127.0.0.1', port: port(60),
    keepaliveSeconds: 1, responseTimeoutSeconds: 1 })]);
  try {
    await new Promise((res) => setTimeout(res, 300));
    const peer = r.trunks.get('peer')!;
    t.false(peer.inService, 'not in service before the first answer');
    await r.trunks.start();
    await until('in service', () => peer.inService, 4000);
    await uas.stop();
    const stopped = Date.now();
    await until('out of service', () => !peer.inService, 4000);
    t.true(Date.now() - stopped < 3500, 'noticed within keepalive + response timeout');
    t.regex(peer.status().lastError ?? '', /OPTIONS/);
    t.false(r.trunks.available(1));
    uas = options();
    await until('back in service', () => peer.inService, 8000);
    t.deepEqual(r.events.map((e) => e[1]), ['in-service', 'out-of-service', 'in-service']);
  } finally {
    await r.close();
    await uas.stop();
  }
});

test('identify() matches configured addresses, CIDR blocks, fromHosts and resolved host names', async (t) => {
  const r = await rig(port(6), [
    trunk({ name: 'a', type: 'peer', host: '192.0.2.10', peers: ['127.0.0.2'], keepaliveSeconds: 0 }),
    trunk({ name: 'b', type: 'peer', host: '198.51.100.1', peers: ['10.1.0.0/16', '2001:db8::/32'], fromHosts: ['Carrier.example'], keepaliveSeconds: 0 }),
    trunk({ name: 'c', type: 'peer', host: 'localhost', keepaliveSeconds: 0 }),
    trunk({ name: 'd', type: 'peer', host: '203.0.113.7', keepaliveSeconds: 0 }),
  ]);
  try {
    await r.trunks.start();
    const req = (fromHost: string) => {
      const q = new SipRequest('INVITE', 'sip:201@127.0.0.1');
      q.set('from', `<sip:+441234@${fromHost}>;tag=x1`).set('to', '<sip:201@127.0.0.1>');
      return q;
    };
    const who = (address: string, fromHost = 'carrier.example') =>
      r.trunks.identify(req(fromHost), { address, port: 5060, protocol: 'udp' })?.name;
    t.is(who('127.0.0.2'), 'a');
    t.is(who('127.0.0.1'), 'c', 'localhost resolved through /etc/hosts');
    t.is(who('10.1.200.3'), 'b');
    t.is(who('::ffff:10.1.0.9'), 'b', 'IPv4-mapped source');
    t.is(who('2001:db8:ffff::1'), 'b');
    t.is(who('2001:db9::1'), undefined);
    t.is(who('10.2.0.1'), undefined);
    t.is(who('10.1.0.1', 'other.example'), undefined, 'From host not in fromHosts');
    t.is(who('192.0.2.10'), undefined, 'configured peers replace the host address');
    t.is(who('203.0.113.7', 'anything'), 'd', 'host IP is the peer when none are configured');
    t.is(who('203.0.113.8'), undefined);
  } finally {
    await r.close();
  }
});

test('address blocks', (t) => {
  t.true(new AddressBlock('10.0.0.0/8').contains('10.255.1.1'));
  t.false(new AddressBlock('10.0.0.0/8').contains('11.0.0.1'));
  t.true(new AddressBlock('192.168.16.0/20').contains('192.168.31.255'));
  t.false(new AddressBlock('192.168.16.0/20').contains('192.168.32.0'));
  t.true(new AddressBlock('0.0.0.0/0').contains('8.8.8.8'));
  t.false(new AddressBlock('0.0.0.0/0').contains('::1'), 'families do not mix');
  t.true(new AddressBlock('fe80::/10').contains('febf::1'));
  t.false(new AddressBlock('fe80::/10').contains('fec0::1'));
  t.true(new AddressBlock('::1').contains('0:0:0:0:0:0:0:1'));
  t.true(new AddressBlock('::ffff:192.0.2.0/120').contains('192.0.2.77'));
  t.false(new AddressBlock('192.0.2.1').contains('192.0.2.2'));
  t.throws(() => new AddressBlock('300.1.1.1'), { instanceOf: TypeError });
});

test('numbering: e164 and dialled, both ways', async (t) => {
  const r = await rig(port(7), [
    trunk({ name: 'e', type: 'peer', host: '192.0.2.1', domain: 'carrier.example', keepaliveSeconds: 0,
      numbering: { countryCode: '44', outgoing: 'e164' } }),
    trunk({ name: 'd', type: 'peer', host: '192.0.2.2', keepaliveSeconds: 0, numbering: { countryCode: '44' } }),
    trunk({ name: 'n', type: 'peer', host: '192.0.2.3', keepaliveSeconds: 0 }),
  ]);
  try {
    const e = r.trunks.get('e')!;
    const d = r.trunks.get('d')!;
    const n = r.trunks.get('n')!;
    t.is(e.outgoingNumber('00493012345678'), '+493012345678');
    t.is(e.outgoingNumber('02079460000'), '+442079460000');
    t.is(e.outgoingNumber('999'), '999', 'short codes as dialled');
    t.is(e.outgoingNumber('+33123456789'), '+33123456789');
    t.is(e.requestUri('02079460000'), 'sip:+442079460000@carrier.example');
    t.is(d.outgoingNumber('02079460000'), '02079460000');
    t.is(d.requestUri('02079460000'), 'sip:02079460000@192.0.2.2');
    for (const tr of [e, d]) {
      t.is(tr.incomingNumber('+442079460000'), '02079460000');
      t.is(tr.incomingNumber('442079460000'), '02079460000', 'own country without +');
      t.is(tr.incomingNumber('+4930123456'), '004930123456');
      t.is(tr.incomingNumber('4930123456'), '4930123456', 'foreign without + cannot be told apart');
      t.is(tr.incomingNumber('4412'), '4412', 'too short to be E.164');
      t.is(tr.incomingNumber('02079460000'), '02079460000');
      t.is(tr.incomingNumber('anonymous'), 'anonymous');
    }
    t.is(n.incomingNumber('+442079460000'), '+442079460000', 'no countryCode: left as it came');
  } finally {
    await r.close();
  }
});

test('caller identity: from, pai, withheld', async (t) => {
  const base = { type: 'peer', host: '192.0.2.1', domain: 'carrier.example', keepaliveSeconds: 0, username: 'acct',
    callerIdPrefix: '44207946', numbering: { countryCode: '44', outgoing: 'e164' } };
  const r = await rig(port(8), [
    trunk({ ...base, name: 'from', callerId: 'from' }),
    trunk({ ...base, name: 'pai', callerId: 'pai' }),
    trunk({ ...base, name: 'anon', callerId: 'withheld' }),
  ]);
  try {
    const alice = { number: '201', name: 'Alice "A"', withheld: false };
    const tag = /;tag=[A-Za-z0-9]+$/;
    const f = r.trunks.get('from')!.identity(alice);
    t.regex(f.from, /^"Alice \\"A\\"" <sip:44207946201@carrier\.example>;tag=/);
    t.regex(f.from, tag);
    t.deepEqual(f.headers, {});
    t.not(f.from, r.trunks.get('from')!.identity(alice).from, 'a fresh tag per call');
    const full = r.trunks.get('from')!.identity({ number: '02079461234', name: '', withheld: false });
    t.regex(full.from, /^<sip:\+442079461234@carrier\.example>;tag=/, 'full numbers are not prefixed');
    const p = r.trunks.get('pai')!.identity(alice);
    t.regex(p.from, /^"Alice \\"A\\"" <sip:acct@carrier\.example>;tag=/);
    t.deepEqual(p.headers, { 'P-Asserted-Identity': '"Alice \\"A\\"" <sip:44207946201@carrier.example>' });
    for (const [name, caller, pai] of [['anon', alice, undefined], ['from', { ...alice, withheld: true }, undefined],
      ['pai', { ...alice, withheld: true }, '<sip:acct@carrier.example>']] as const) {
      const w = r.trunks.get(name)!.identity(caller);
      t.regex(w.from, /^"Anonymous" <sip:anonymous@anonymous\.invalid>;tag=/, name);
      t.is(w.headers['Privacy'], 'id', name);
      t.is(w.headers['P-Asserted-Identity'] as string | undefined, pai as string | undefined, name);
    }
  } finally {
    await r.close();
  }
});

test("the node's profile caps trunk channels of all trunks together: the next call is refused with the reason and a warning", async (t) => {
  const logger = createTestLogger('debug');
  const stack = new SipStack({ listen: [{ transport: 'udp', address: '127.0.0.1', port: port(95) }], maxMessageSize: 65535, logger, methods: ['OPTIONS'], onRequest: () => undefined });
  await stack.start();
  const resolver = new SipResolver({ timeoutMs: 300, tries: 1 });
  const trunks = new Trunks({
    stack, logger, resolver, nodeChannels: 3, trunks: [
      trunk({ name: 'a', type: 'peer', host: '192.0.2.1', lineGroup: 5, maxChannels: 2, keepaliveSeconds: 0 }),
      trunk({ name: 'b', type: 'peer', host: '192.0.2.2', lineGroup: 6, maxChannels: 2, keepaliveSeconds: 0 }),
    ],
  });
  try {
    const a = trunks.get('a')!;
    const b = trunks.get('b')!;
    t.true(a.acquire('in'));
    t.true(a.acquire('in'));
    t.true(b.acquire('in'));
    t.deepEqual(trunks.channels, { used: 3, limit: 3 });
    t.false(b.acquire('in'), 'trunk b has a channel of its own left, the node has none');
    t.false(b.hasFreeChannel);
    t.false(trunks.available(6));
    t.is(b.busyReason(), 'all 3 SIP trunk channels of this node in use');
    t.is(a.busyReason(), 'all 2 channels of trunk a in use');
    t.true(logger.records.some((r) => r.level === 'warn' && r.message === 'trunk call refused: node trunk channel limit reached' && r.trunk === 'b'));
    a.release();
    t.true(b.acquire('in'), 'a channel freed anywhere on the node serves any trunk');
    t.deepEqual(trunks.channels, { used: 3, limit: 3 });
    t.throws(() => new Trunks({ stack, logger, trunks: [], nodeChannels: -1 }), { instanceOf: TypeError, message: /nodeChannels/ });
  } finally {
    await trunks.close();
    resolver.close();
    await stack.close();
  }
});

test('channels: full trunks are not available; a release frees one and says so', async (t) => {
  const r = await rig(port(9), [
    trunk({ name: 'one', type: 'peer', host: '192.0.2.1', lineGroup: 5, maxChannels: 2, keepaliveSeconds: 0 }),
    trunk({ name: 'two', type: 'peer', host: '192.0.2.2', lineGroup: 5, maxChannels: 1, keepaliveSeconds: 0 }),
    trunk({ name: 'other', type: 'peer', host: '192.0.2.3', lineGroup: 6, keepaliveSeconds: 0 }),
  ]);
  try {
    const freed: Trunk[] = [];
    r.trunks.on('channel-free', (tr) => freed.push(tr));
    t.deepEqual(r.trunks.inGroup(5).map((x) => x.name), ['one', 'two']);
    t.is(r.trunks.pick(5)?.name, 'one');
    const one = r.trunks.get('one')!;
    const two = r.trunks.get('two')!;
    t.true(one.acquire());
    t.true(one.acquire());
    t.false(one.acquire(), 'maxChannels reached');
    t.false(one.hasFreeChannel);
    t.is(r.trunks.pick(5)?.name, 'two', 'the next trunk of the group');
    t.true(two.acquire());
    t.false(r.trunks.available(5));
    t.is(r.trunks.pick(5), undefined);
    t.true(r.trunks.available(6), 'other groups unaffected');
    t.is(one.status().channels, 2);
    one.release();
    t.deepEqual(freed.map((x) => x.name), ['one']);
    t.is(one.channels, 1);
    t.true(r.trunks.available(5));
    t.is(r.trunks.pick(5)?.name, 'one');
    two.release();
    two.release(); // one too many: ignored, no event
    t.deepEqual(freed.map((x) => x.name), ['one', 'two']);
    t.is(two.channels, 0);
  } finally {
    await r.close();
  }
});
