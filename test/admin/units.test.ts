/**
 * The admin pieces on their own, with a clock the test moves: session idle timeout and maximum
 * age, the login guard's lockout and its one-check-at-a-time rule, alarms, password hashing,
 * and the configuration editing helpers (secrets kept, changes described).
 */
import test from 'ava';
import { hashPassword, normalizeName, verifyPassword } from '../../src/admin/accounts.js';
import { describeChanges } from '../../src/admin/config-changes.js';
import { edit, redactConfig, restoreSecrets } from '../../src/admin/config-doc.js';
import { LoginGuard } from '../../src/admin/login-guard.js';
import { Sessions } from '../../src/admin/sessions.js';
import { Alarms } from '../../src/core/alarms.js';

test('a session ends after its idle time without requests, and after its maximum age however busy', (t) => {
  let now = 0;
  const s = new Sessions({ idleMs: 15 * 60_000, maxAgeMs: 12 * 3_600_000, now: () => now });
  try {
    const a = s.create('admin', 'administrator', '127.0.0.1', false);
    now += 14 * 60_000;
    t.truthy(s.touch(a.token), 'used within the idle time');
    now += 14 * 60_000;
    t.truthy(s.touch(a.token), 'the idle time starts again at each request');
    now += 15 * 60_000 + 1;
    t.is(s.touch(a.token), undefined, 'idle too long: gone');
    const b = s.create('admin', 'administrator', '127.0.0.1', false);
    for (let i = 0; i < 12 * 6 + 6; i++) {
      now += 10 * 60_000;
      if (!s.touch(b.token)) break;
    }
    t.is(s.touch(b.token), undefined, 'ended at its maximum age');
    t.true(now - b.createdAt <= 12 * 3_600_000 + 10 * 60_000);
    const c = Array.from({ length: 11 }, () => s.create('ops', 'operator', '127.0.0.1', false));
    t.is(s.touch(c[0]!.token), undefined, 'the oldest of more than 10 sessions of one account goes');
    t.truthy(s.touch(c[10]!.token));
  } finally {
    s.close();
  }
});

test('login guard: locks an account from any address and an address for any account; one check at a time', (t) => {
  let now = 0;
  const g = new LoginGuard({ maxFailures: 3, windowMs: 60_000, lockoutMs: 300_000, now: () => now });
  const fail = (account: string, address: string, guard = g) => {
    const a = guard.admit(account, address);
    if (!a.ok) throw new Error(a.reason);
    return a.release(false).lockedNow;
  };
  t.deepEqual(fail('admin', '10.0.0.1'), []);
  const first = g.admit('admin', '10.0.0.2');
  t.true(first.ok);
  t.deepEqual(g.admit('admin', '10.0.0.3'), { ok: false, reason: 'busy' }, 'a second check of the same account waits for the first');
  if (first.ok) first.release(false);
  t.deepEqual(fail('admin', '10.0.0.4'), ['account admin']);
  const locked = g.admit('admin', '10.0.0.5');
  t.false(locked.ok);
  t.is(locked.ok ? 0 : locked.reason === 'locked' ? locked.retryAfterMs : 0, 300_000);
  now += 300_001;
  t.true(g.admit('admin', '10.0.0.5').ok, 'the lockout ends');
  const g2 = new LoginGuard({ maxFailures: 3, windowMs: 60_000, lockoutMs: 300_000, now: () => now });
  fail('a', '10.0.0.9', g2);
  fail('b', '10.0.0.9', g2);
  t.deepEqual(fail('c', '10.0.0.9', g2), ['address 10.0.0.9']);
  t.false(g2.admit('d', '10.0.0.9').ok);
  const holds = ['w', 'x', 'y', 'z'].map((n, i) => g2.admit(n, `10.1.0.${i}`));
  t.true(holds.every((h) => h.ok));
  t.deepEqual(g2.admit('v', '10.1.0.9'), { ok: false, reason: 'busy' }, 'at most 4 password checks at once over the node');
});

test('alarms: raised once and counted again, cleared by code and key, most severe first', (t) => {
  let now = 1000;
  const a = new Alarms({ now: () => now });
  const raised: string[] = [];
  a.on('raised', (x) => raised.push(`${x.code}/${x.key}`));
  a.raise('trunk-down', { key: 'carrier', severity: 'major', message: 'trunk carrier down' });
  now += 10;
  const again = a.raise('trunk-down', { key: 'carrier', severity: 'major', message: 'trunk carrier down' });
  t.is(again.count, 2);
  t.is(again.raisedAt.getTime(), 1000);
  a.raise('disk-low', { key: '/var', severity: 'critical', message: 'disk low' });
  t.deepEqual(raised, ['trunk-down/carrier', 'disk-low//var']);
  t.deepEqual(a.list().map((x) => x.code), ['disk-low', 'trunk-down']);
  t.true(a.clear('trunk-down', 'carrier'));
  t.false(a.isUp('trunk-down'));
  t.throws(() => a.raise('Bad Code', { severity: 'major', message: 'x' }), { instanceOf: TypeError, message: /^code: / });
  t.throws(() => a.raise('x', { severity: 'loud' as never, message: 'x' }), { instanceOf: TypeError, message: /^options\.severity: / });
});

test('passwords: scrypt hashes with their parameters, verified in constant time; names fold to one spelling', async (t) => {
  const h = await hashPassword('correct horse');
  t.regex(h, /^scrypt\$15\$8\$1\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]{43}$/);
  t.not(await hashPassword('correct horse'), h, 'a fresh salt each time');
  t.true(await verifyPassword('correct horse', h));
  t.false(await verifyPassword('correct horsE', h));
  t.false(await verifyPassword('x', 'scrypt$30$8$1$AA$AA'), 'absurd parameters are refused, not computed');
  t.is(normalizeName('ＡＤＭＩＮ'), 'admin', 'full-width letters fold too');
  t.is(normalizeName('ad min'), undefined);
});

test('configuration editing: secrets read as [redacted] and stay when written back; changes described by name', (t) => {
  const text = 'users:\n  - { extension: "201", password: demo201 }   # first\n  - { extension: "202", password: demo202 }\n';
  const data = redactConfig({ users: [{ extension: '201', password: 'demo201' }, { extension: '202', password: 'demo202' }], voicemail: { pin: '1234' } });
  t.deepEqual(data.users[0], { extension: '201', password: '[redacted]' });
  t.is(data.voicemail.pin, '[redacted]');
  // the first user removed, the second kept by its extension even though it moved
  const next = { users: [{ extension: '202', password: '[redacted]', name: 'Bea' }] };
  const out = edit(text, next, 'test');
  t.is(out.config.users[0]!.password, 'demo202');
  t.is(out.text, 'users:\n  - { extension: "202", password: demo202, name: Bea }\n');
  t.deepEqual(restoreSecrets({ users: [{ extension: '203', password: '[redacted]' }] }, { users: [] }), ['users[0].password: "[redacted]" stands for the value already set, and there is none: give the value']);
  t.deepEqual(describeChanges({ users: [{ extension: '201' }, { extension: '202', name: 'a' }] }, { users: [{ extension: '202', name: 'b' }, { extension: '203' }] }), [
    'users[201]: removed', 'users[202].name: changed', 'users[203]: added',
  ]);
});
