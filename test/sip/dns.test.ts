import test from 'ava';
import { portBlock } from '../helpers/ports.js';
import { TestDnsServer } from '../helpers/dns-server.js';
import { SipResolver, orderSrv, resolveTargets } from '../../src/sip/dns/resolver.js';

// DNS takes offsets 150.. of block 1 (sip/transport's block, shared by the sip/ unit tests).
const PORT = portBlock(1)(150);
const servers = [`127.0.0.1:${PORT}`];

const dns = new TestDnsServer({
  '_sip._udp.prio.test': [
    { type: 'SRV', priority: 20, weight: 0, port: 5080, target: 'b.prio.test' },
    { type: 'SRV', priority: 10, weight: 0, port: 5070, target: 'a.prio.test' },
  ],
  '_sip._tcp.prio.test': [{ type: 'SRV', priority: 10, weight: 0, port: 5090, target: 'a.prio.test' }],
  '_sips._tcp.prio.test': [{ type: 'SRV', priority: 10, weight: 0, port: 5061, target: 'a.prio.test' }],
  'a.prio.test': [{ type: 'A', address: '10.0.0.1' }, { type: 'AAAA', address: 'fd00::1' }],
  'b.prio.test': [{ type: 'A', address: '10.0.0.2' }],
  'prio.test': [{ type: 'A', address: '10.0.0.9' }],
  '_sip._udp.weight.test': [
    { type: 'SRV', priority: 1, weight: 90, port: 5060, target: 'heavy.weight.test' },
    { type: 'SRV', priority: 1, weight: 10, port: 5060, target: 'light.weight.test' },
  ],
  'heavy.weight.test': [{ type: 'A', address: '10.1.0.1' }],
  'light.weight.test': [{ type: 'A', address: '10.1.0.2' }],
  '_sip._tcp.tcponly.test': [{ type: 'SRV', priority: 1, weight: 1, port: 5062, target: 'tcponly.test' }],
  'tcponly.test': [{ type: 'A', address: '10.2.0.1' }],
  'plain.test': [{ type: 'A', address: '10.3.0.1', ttl: 1 }],
});

test.before(async () => { await dns.listen(PORT); });
test.after.always(async () => { await dns.close(); });

const queriesFor = (name: string) => dns.queries.filter((q) => q.name === name);

test.serial('SRV records in priority order, each target resolved to A and AAAA', async (t) => {
  const r = new SipResolver({ servers });
  t.deepEqual(await r.resolveTargets({ host: 'prio.test' }), [
    { protocol: 'udp', address: '10.0.0.1', port: 5070 },
    { protocol: 'udp', address: 'fd00::1', port: 5070 },
    { protocol: 'udp', address: '10.0.0.2', port: 5080 },
  ]);
});

test.serial('transport parameter and sips select the SRV service', async (t) => {
  const r = new SipResolver({ servers });
  t.deepEqual(await r.resolveTargets({ host: 'prio.test', transport: 'TCP' }), [
    { protocol: 'tcp', address: '10.0.0.1', port: 5090 }, { protocol: 'tcp', address: 'fd00::1', port: 5090 },
  ]);
  t.deepEqual((await r.resolveTargets({ host: 'prio.test', secure: true }))[0], { protocol: 'tls', address: '10.0.0.1', port: 5061 });
  // no _sip._udp: the tcp SRV is used
  t.deepEqual(await r.resolveTargets({ host: 'tcponly.test' }), [{ protocol: 'tcp', address: '10.2.0.1', port: 5062 }]);
});

test.serial('weights are honoured among equal priorities', async (t) => {
  const r = new SipResolver({ servers });
  let heavyFirst = 0;
  const n = 400;
  for (let i = 0; i < n; i++) {
    const targets = await r.resolveTargets({ host: 'weight.test' });
    t.is(targets.length, 2);
    if (targets[0].address === '10.1.0.1') heavyFirst++;
  }
  t.true(heavyFirst > n * 0.8 && heavyFirst < n * 0.97, `heavy first ${heavyFirst}/${n}`);
  t.is(queriesFor('_sip._udp.weight.test').length, 1, 'SRV answer cached');
  // deterministic picks: random 0 takes the first running sum, random ~1 the last
  const recs = [{ priority: 1, weight: 90, id: 'h' }, { priority: 1, weight: 10, id: 'l' }, { priority: 0, weight: 5, id: 'p0' }];
  t.deepEqual(orderSrv(recs, () => 0).map((x) => x.id), ['p0', 'h', 'l']);
  t.deepEqual(orderSrv(recs, () => 0.999).map((x) => x.id), ['p0', 'l', 'h']);
});

test.serial('no SRV: A record on 5060; answers cached for their TTL', async (t) => {
  let now = 1_000_000;
  const r = new SipResolver({ servers, now: () => now });
  t.deepEqual(await r.resolveTargets({ host: 'plain.test' }), [{ protocol: 'udp', address: '10.3.0.1', port: 5060 }]);
  const before = queriesFor('plain.test').length;
  await r.resolveTargets({ host: 'plain.test' });
  t.is(queriesFor('plain.test').length, before, 'cached');
  now += 1500; // A ttl is 1 s
  await r.resolveTargets({ host: 'plain.test' });
  t.true(queriesFor('plain.test').length > before, 're-queried after TTL');
  t.deepEqual(await r.resolveTargets({ host: 'plain.test', secure: true }), [{ protocol: 'tls', address: '10.3.0.1', port: 5061 }]);
});

test.serial('an explicit port skips SRV', async (t) => {
  const srvBefore = queriesFor('_sip._udp.prio.test').length + queriesFor('_sip._tcp.prio.test').length;
  const r = new SipResolver({ servers });
  t.deepEqual(await r.resolveTargets({ host: 'prio.test', port: 6000, transport: 'tcp' }), [{ protocol: 'tcp', address: '10.0.0.9', port: 6000 }]);
  t.is(queriesFor('_sip._udp.prio.test').length + queriesFor('_sip._tcp.prio.test').length, srvBefore);
});

test.serial('IP literals need no DNS', async (t) => {
  const before = dns.queries.length;
  t.deepEqual(await resolveTargets({ host: '192.0.2.7' }, { servers }), [{ protocol: 'udp', address: '192.0.2.7', port: 5060 }]);
  t.deepEqual(await resolveTargets({ host: '[2001:db8::1]', secure: true }, { servers }), [{ protocol: 'tls', address: '2001:db8::1', port: 5061 }]);
  t.deepEqual(await resolveTargets({ host: '192.0.2.7', port: 5080, transport: 'ws' }, { servers }), [{ protocol: 'ws', address: '192.0.2.7', port: 5080 }]);
  t.is(dns.queries.length, before);
});

test.serial('unknown names reject with a TransportError; bad input throws TypeError', async (t) => {
  const r = new SipResolver({ servers });
  const err = await t.throwsAsync(r.resolveTargets({ host: 'nowhere.test' }));
  t.is((err as { code?: string }).code, 'ENOTFOUND');
  await t.throwsAsync(r.resolveTargets({ host: '' }), { instanceOf: TypeError });
  await t.throwsAsync(r.resolveTargets({ host: 'x.test', transport: 'sctp' }), { instanceOf: TypeError });
});
