/**
 * The security building blocks on their own (unit tests, our own clocks): lockout tables stay
 * bounded and O(1) whatever keys an attacker sends (defect 2), log budgets, alarms, the session
 * timer (defect 7), the descriptor budget (defect 8) and configuration refusals (defect 12).
 */
import test from 'ava';
import { Alarms } from '../../src/core/alarms.js';
import { createTestLogger } from '../../src/core/logger.js';
import { Lockout } from '../../src/core/security/lockout.js';
import { TtlMap } from '../../src/sip/ttl-map.js';
import { sourceKey } from '../../src/core/security/authenticator.js';
import { connectionBudget, FD_MARGIN } from '../../src/core/security/fd-budget.js';
import { ConfigError, parseConfig } from '../../src/core/config/index.js';
import { LogLimit } from '../../src/sip/log-limit.js';
import { negotiateUas, SessionTimer, SessionTimerState } from '../../src/sip/dialog/session-timer.js';
import { SipRequest } from '../../src/sip/message/message.js';
import { sleep } from '../helpers/wait.js';
import { PinGuard } from '../../src/features/voicemail/pin-guard.js';

test('defect 2: 300,000 made-up keys leave the lockout tables at their bound, and old entries expire', (t) => {
  let now = 1_000_000;
  const l = new Lockout({ maxFailures: 3, windowMs: 60_000, lockoutMs: 300_000, maxEntries: 10_000, now: () => now });
  for (let i = 0; i < 300_000; i++) {
    l.fail(Lockout.key(`u${i}`, `10.0.${i >> 8 & 255}.${i & 255}`));
    if (i % 1000 === 0) now += 10;
  }
  t.true(l.size <= 20_000, `bounded: ${l.size}`);
  // a real pair still locks out and is seen locked, whatever the flood did before
  const k = Lockout.key('201', '192.0.2.1');
  t.false(l.fail(k));
  t.false(l.fail(k));
  t.true(l.fail(k));
  t.true(l.lockedFor(k) > 0);
  now += 301_000;
  t.is(l.lockedFor(k), 0, 'the lockout ends');
});

test('TtlMap: entries expire after their last write, writes sweep the head, the oldest goes when full', (t) => {
  let now = 0;
  const m = new TtlMap<number>({ ttlMs: 100, max: 3, now: () => now });
  m.set('a', 1);
  now = 50;
  m.set('b', 2);
  now = 80;
  m.set('a', 3); // a moves behind b, alive until 180
  now = 160;
  t.is(m.get('b'), undefined, 'b expired');
  t.is(m.get('a'), 3);
  m.set('c', 4);
  m.set('d', 5);
  m.set('e', 6); // full: the oldest written goes
  t.is(m.size, 3);
  t.is(m.evicted, 1);
  now = 1000;
  m.set('f', 7);
  t.true(m.size <= 2, `expired ones swept as new ones come (${m.size})`);
});

test('a lockout window runs from the first failure: a phone retrying every 30 s does not add up to a lockout', (t) => {
  let now = 0;
  const l = new Lockout({ maxFailures: 3, windowMs: 60_000, lockoutMs: 60_000, now: () => now });
  const locked: boolean[] = [];
  for (let i = 0; i < 10; i++) {
    locked.push(l.fail('phone'));
    now += 35_000;
  }
  t.false(locked.some(Boolean));
});

test('IPv6 sources count by /64; IPv4 by address', (t) => {
  t.is(sourceKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  t.is(sourceKey('2001:db8:1:2:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64');
  t.is(sourceKey('192.0.2.7'), '192.0.2.7');
});

test('defect 12: a log budget lets a few lines through and counts the rest', (t) => {
  let now = 0;
  const l = new LogLimit(3, 1000, () => now);
  const taken = Array.from({ length: 10 }, () => l.take());
  t.deepEqual(taken, [0, 0, 0, undefined, undefined, undefined, undefined, undefined, undefined, undefined]);
  now = 1500;
  t.is(l.take(), 7, 'the next line says how many were left out');
});

test('alarms: raised once and counted, logged as alarm: lines, cleared by hand or when their time is up', (t) => {
  let now = 0;
  const logger = createTestLogger();
  const alarms = new Alarms({ logger, now: () => now });
  alarms.raise('store.write-failed', { severity: 'critical', message: 'disk full' });
  alarms.raise('store.write-failed', { severity: 'critical', message: 'disk full' });
  alarms.raise('auth.lockout', { key: '201@x', severity: 'warning', message: 'locked', ttlMs: 1000 });
  t.like(alarms.list('store.write-failed')[0], { count: 2, severity: 'critical' });
  t.is(logger.records.filter((r) => /^alarm: store\.write-failed raised/.test(String(r.message))).length, 1);
  now = 1500;
  t.deepEqual(alarms.list().map((a) => a.code), ['store.write-failed'], 'the lockout alarm ended with the lockout');
  t.true(alarms.clear('store.write-failed'));
  t.false(alarms.clear('store.write-failed'));
  t.true(logger.records.some((r) => /^alarm: store\.write-failed cleared/.test(String(r.message))));
  t.throws(() => alarms.raise('', { severity: 'critical', message: 'x' }), { instanceOf: TypeError, message: /^code: / });
});

test('defect 8: connections get what the open-file limit leaves after the media ports and a margin', (t) => {
  t.deepEqual(connectionBudget(4096, 10_000, 20_000), { max: 4096, lowered: false, limit: 20_000 });
  t.deepEqual(connectionBudget(20_000, 10_000, 20_000), { max: 20_000 - 10_000 - FD_MARGIN, lowered: true, limit: 20_000 });
  t.deepEqual(connectionBudget(100, 30_000, 20_000), { max: 0, lowered: true, limit: 20_000 });
  t.deepEqual(connectionBudget(100, 10, undefined), { max: 100, lowered: false, limit: undefined });
});

test('defect 12: a YAML alias bomb, a deep nesting and an oversized document are configuration errors, not crashes', (t) => {
  const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]', ...'bcdefg'.split('').map((c, i) => `${c}: &${c} [${Array(10).fill(`*${'abcdefg'[i]}`).join(',')}]`)].join('\n');
  const problems = (text: string) => {
    const e = t.throws(() => parseConfig(text, 'bomb.yaml'), { instanceOf: ConfigError });
    return e.problems;
  };
  t.regex(problems(bomb)[0]!, /^\(document\): its aliases expand too far/);
  t.regex(problems(`a: ${'['.repeat(50_000)}${']'.repeat(50_000)}`)[0]!, /stack|depth|nest/i);
  t.regex(problems(`# ${'x'.repeat(17 * 1024 * 1024)}`)[0]!, /^\(document\): larger than 16 MB/);
});

test('session timer negotiation (RFC 4028): the smaller interval, never below Min-SE; who refreshes', (t) => {
  const policy = { sessionExpires: 1800, minSE: 90 };
  const req = (h: Record<string, string>) => {
    const r = new SipRequest('INVITE', 'sip:202@pbx');
    for (const [k, v] of Object.entries(h)) r.set(k, v);
    return r;
  };
  t.deepEqual(negotiateUas(req({}), policy)?.headers, { 'session-expires': '1800;refresher=uas' }, 'no timer support: we refresh');
  t.deepEqual(negotiateUas(req({ supported: 'replaces, timer', 'session-expires': '600' }), policy)?.headers, { 'session-expires': '600;refresher=uac', require: 'timer' });
  t.like(negotiateUas(req({ supported: 'timer', 'session-expires': '30;refresher=uas' }), policy), { interval: 90, refresher: 'uas' });
  t.is(negotiateUas(req({ supported: 'timer' }), undefined), undefined);
});

test('session timer: the refresher refreshes at half the interval; no answer (408) ends the session', async (t) => {
  const ends: string[] = [];
  let refreshes = 0;
  const answers = [200, 408];
  const timer = new SessionTimer({
    intervalMs: 200, weRefresh: true,
    refresh: async () => (refreshes++, answers.shift() ?? 200),
    expire: (why) => ends.push(why),
  });
  timer.start();
  await sleep(150);
  t.is(refreshes, 1, 'first refresh at 100 ms');
  t.deepEqual(ends, []);
  await sleep(150);
  t.is(refreshes, 2);
  t.deepEqual(ends, ['session refresh answered 408']);
  t.is(timer.state, SessionTimerState.Expired);
});

test('session timer: when the peer refreshes, no refresh before interval - interval/3 ends the session; a refresh postpones it', async (t) => {
  const ends: string[] = [];
  const timer = new SessionTimer({ intervalMs: 300, weRefresh: false, refresh: async () => 200, expire: (why) => ends.push(why) });
  timer.start();
  await sleep(150);
  timer.refreshed();
  await sleep(150);
  t.deepEqual(ends, [], 'refreshed in time');
  await sleep(150);
  t.deepEqual(ends, ['the peer did not refresh the session']);
  timer.close();
});

test('defect 6: the PIN guard locks a mailbox across calls, makes a guessing caller wait longer each time, and stops it for all mailboxes', (t) => {
  let now = 0;
  const logger = createTestLogger();
  const alarms = new Alarms({ logger, now: () => now });
  const g = new PinGuard({ maxFailures: 4, windowMs: 60_000, lockoutMs: 600_000, logger, alarms, now: () => now });
  const waits = [1, 2, 3].map(() => g.fail('203', '201'));
  t.deepEqual(waits, [1000, 2000, 4000], 'each wrong PIN doubles the caller\'s wait');
  t.false(g.refused('203', '204', false));
  g.fail('203', '204');
  t.true(g.refused('203', '204', false), 'the fourth wrong PIN, from anyone, locks 203');
  t.false(g.refused('203', '203', true), "not for the owner's own phone");
  t.true(alarms.isUp('voicemail.pin-lockout', '203'));
  for (let i = 0; i < 9; i++) g.fail(`30${i}`, '201');
  t.true(g.refused('309', '201', false), 'a caller with 12 wrong PINs is refused for any mailbox');
  t.is(g.fail('309', '201'), 10_000, 'waits are capped');
  now = 601_000;
  t.false(g.refused('203', '204', false), 'the lockout ends');
});

test('the new limits are validated with their paths, and default to sane values', (t) => {
  const problems = (text: string) => {
    try {
      parseConfig(text, 't.yaml');
      return [];
    } catch (e) {
      return [...(e as ConfigError).problems];
    }
  };
  t.deepEqual(problems(`security: { connections: { max: 0, perAddress: x }, sourceLimit: { blockSeconds: -1 }, digest: { requireQop: maybe } }
calls: { maxCallsPerUser: 0, sessionExpiresSeconds: 30 }
media: { rtpTimeoutSeconds: -5 }
voicemail: { maxSubscriptionsPerUser: 0, pin: { lockout: { maxFailures: 0 } } }
dialPlan: { incomingDefault: "abc" }
trunks: [{ name: t, lineGroup: 1, type: peer, host: 192.0.2.1, rights: nobody }]`).sort(), [
    'security.sourceLimit.blockSeconds: must be an integer 1..604800',
    'security.digest.requireQop: must be true or false',
    'security.connections.max: must be an integer 1..1000000',
    'security.connections.perAddress: must be an integer 1..1000000',
    'media.rtpTimeoutSeconds: must be an integer 0..3600',
    'calls.maxCallsPerUser: must be an integer 1..10000',
    'calls.sessionExpiresSeconds: must be 0 (off) or an integer 90..86400',
    'voicemail.pin.lockout.maxFailures: must be an integer 1..1000',
    'voicemail.maxSubscriptionsPerUser: must be an integer 1..1000',
    'dialPlan.incomingDefault: must be a number of digits, or null',
    'trunks[0].rights: unknown user rights "nobody"',
  ].sort());
  const c = parseConfig('', 'empty.yaml');
  t.like(c.security, { sourceLimit: { maxFailures: 30, windowSeconds: 60, blockSeconds: 900 }, userLimit: { maxFailures: 30, windowSeconds: 600, protectSeconds: 900 },
    connections: { max: 4096, perAddress: 128, messageTimeoutSeconds: 10, idleTimeoutSeconds: 600 }, digest: { requireQop: true } });
  t.like(c.calls, { maxCallsPerUser: 8, sessionExpiresSeconds: 1800 });
  t.is(c.media.rtpTimeoutSeconds, 60);
  t.is(c.dialPlan.incomingDefault, null);
});
