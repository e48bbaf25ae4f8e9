import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { z } from 'zod';
import { HuntGroupSchema } from '../../src/core/config/huntgroup-schema.js';
import { Store } from '../../src/core/store.js';
import {
  HuntGroups,
  HuntQueue,
  nextAnnouncement,
  overflowDue,
  voicemailDue,
  type HuntGroupConfig,
  type HuntRound,
  type MemberAvailability,
} from '../../src/features/huntgroups/index.js';

type GroupInput = z.input<typeof HuntGroupSchema>;

function group(g: Partial<GroupInput>): HuntGroupConfig {
  return HuntGroupSchema.parse({ extension: '300', members: ['201', '202', '203', '204'], ...g });
}

const FREE: MemberAvailability = { registered: true, dnd: false, forwardAll: false, onCall: false, callWaiting: true };

/** Everybody free except the given members, who get the given changes. */
function avail(except: Record<string, Partial<MemberAvailability>> = {}): (u: string) => MemberAvailability {
  return (u) => ({ ...FREE, ...except[u] });
}

/** Offers as 'a,b|c' for short assertions. */
function offers(r: HuntRound): string {
  return r.offers.map((o) => o.join(',')).join('|');
}

test('sequential: every call starts from the top of the list, skipping unavailable members', (t) => {
  const hg = new HuntGroups({ groups: [group({ ringMode: 'sequential' })] });
  for (let call = 0; call < 3; call++) {
    const r = hg.hunt('300', avail());
    t.is(offers(r), '201|202|203|204');
    hg.offered('300', r.offers[0]![0]!);
  }
  const r = hg.hunt('300', avail({ '201': { onCall: true } }));
  t.is(offers(r), '202|203|204');
  t.deepEqual(r.skipped, [{ user: '201', reason: 'onCall' }]);
  t.is(r.noAnswerMs, 15_000);
  t.is(r.ringMode, 'sequential');
});

test('rotary: each call starts after the member offered the previous one, wrapping round', (t) => {
  const hg = new HuntGroups({ groups: [group({ ringMode: 'rotary' })] });
  const seen: string[] = [];
  for (let call = 0; call < 5; call++) {
    const r = hg.hunt('300', avail());
    const first = r.offers[0]![0]!;
    seen.push(first);
    t.true(hg.offered('300', first));
  }
  t.deepEqual(seen, ['201', '202', '203', '204', '201']);
  // the pass after 201 runs to the end and wraps: 202 203 204 201
  t.is(offers(hg.hunt('300', avail())), '202|203|204|201');
  // the member offered last may be busy now: the next call still continues after them
  hg.offered('300', '203');
  t.is(offers(hg.hunt('300', avail({ '203': { onCall: true }, '204': { dnd: true } }))), '201|202');
  t.false(hg.offered('300', '299'), 'not a member');
});

test('longestWaiting: the member idle longest first; never seen idle counts as idle since startup; busy last', (t) => {
  let now = 1_000_000;
  const hg = new HuntGroups({ groups: [group({ ringMode: 'longestWaiting' })], now: () => now });
  // nobody seen yet: all idle since startup, configured order
  t.is(offers(hg.hunt('300', avail())), '201|202|203|204');
  now += 60_000;
  hg.memberIdle('201', now - 10_000); // idle 10 s
  hg.memberIdle('202', now - 50_000); // idle 50 s
  // 203 and 204 never seen: idle since startup (60 s), the longest; config order between them
  t.is(offers(hg.hunt('300', avail())), '203|204|202|201');
  hg.memberBusy('203');
  t.is(offers(hg.hunt('300', avail())), '204|202|201|203', 'a busy member has no idle time');
  hg.memberIdle('203'); // call ended now: idle 0 s, still after 201 (idle 10 s)
  hg.memberIdle('204', now - 5_000);
  t.is(offers(hg.hunt('300', avail())), '202|201|204|203');
  hg.memberIdle('999', 0); // not a member of any group: ignored
  t.throws(() => hg.memberIdle('201', Number.NaN), { instanceOf: TypeError, message: /^at:/ });
});

test('collective: one offer with every available member; collectiveCallWaiting adds busy members with call waiting', (t) => {
  const hg = new HuntGroups({
    groups: [group({ ringMode: 'collective' }), group({ extension: '301', ringMode: 'collectiveCallWaiting' })],
  });
  const a = avail({ '202': { onCall: true, callWaiting: true }, '203': { onCall: true, callWaiting: false } });
  t.is(offers(hg.hunt('300', a)), '201,204');
  const cw = hg.hunt('301', a);
  t.is(offers(cw), '201,202,204');
  t.deepEqual(cw.skipped, [{ user: '203', reason: 'onCall' }]);
  // nobody available: no offer at all (the caller queues or overflows)
  t.deepEqual(hg.hunt('300', () => ({ ...FREE, registered: false })).offers, []);
});

test('skipping: disabled membership, logged out, not registered, do not disturb, forward all, on a call', (t) => {
  const hg = new HuntGroups({
    groups: [group({ ringMode: 'sequential', members: ['201', { extension: '202', enabled: false }, '203', '204', '205', '206', '207'] })],
  });
  t.true(hg.logout('300', '203'));
  const r = hg.hunt(
    '300',
    avail({ '204': { registered: false }, '205': { dnd: true }, '206': { forwardAll: true }, '207': { onCall: true, callWaiting: true } }),
  );
  t.is(offers(r), '201');
  t.deepEqual(r.skipped, [
    { user: '202', reason: 'disabled' },
    { user: '203', reason: 'loggedOut' },
    { user: '204', reason: 'unregistered' },
    { user: '205', reason: 'dnd' },
    { user: '206', reason: 'forwardAll' },
    { user: '207', reason: 'onCall' },
  ]);
  // availability is not even asked for members who are out anyway
  const asked: string[] = [];
  hg.hunt('300', (u) => (asked.push(u), FREE));
  t.deepEqual(asked, ['201', '204', '205', '206', '207']);
  t.throws(() => hg.hunt('300', () => undefined as unknown as MemberAvailability), { instanceOf: TypeError, message: /^availability:/ });
});

test('login and logout are kept in the store across a restart; non-members and disabled members get false', (t) => {
  const path = join(mkdtempSync(join(tmpdir(), 'pbx-hunt-')), 'pbx.sqlite');
  const groups = [group({ members: ['201', '202', { extension: '203', enabled: false }] }), group({ extension: '301', members: ['201'] })];
  let store = Store.open(path);
  let hg = new HuntGroups({ groups, store });
  t.deepEqual(hg.groupsOf('201'), ['300', '301']);
  t.deepEqual(hg.groupsOf('203'), ['300']);
  t.deepEqual(hg.groupsOf('299'), []);
  t.true(hg.isLoggedIn('300', '201'), 'members start logged in');
  t.true(hg.logout('300', '201'));
  t.true(hg.logout('300', '202'));
  t.true(hg.login('300', '202'));
  t.false(hg.logout('300', '299'), 'not a member');
  t.false(hg.logout('399', '201'), 'not a group');
  t.false(hg.login('300', '203'), 'disabled membership');
  hg.close();
  hg.close();
  t.throws(() => hg.login('300', '201'), { message: /closed/ });
  store.close();

  store = Store.open(path);
  hg = new HuntGroups({ groups, store });
  t.false(hg.isLoggedIn('300', '201'));
  t.true(hg.isLoggedIn('300', '202'));
  t.true(hg.isLoggedIn('301', '201'), 'a log-out is per group');
  t.is(offers(hg.hunt('300', avail())), '202');
  t.deepEqual(hg.status()[0]!.loggedIn, ['202']);
  hg.close();
  store.close();
});

test('night service: by setService (kept across a restart) and outside the time profile; fallbacks', (t) => {
  const path = join(mkdtempSync(join(tmpdir(), 'pbx-hunt-')), 'pbx.sqlite');
  let open = true;
  const inTimeProfile = (p: string, at: Date) => (t.is(p, 'office'), open && at instanceof Date);
  const groups = [
    group({ service: { nightFallback: '250', timeProfile: 'office' } }),
    group({ extension: '301', voicemail: { enabled: false } }),
  ];
  let store = Store.open(path);
  let hg = new HuntGroups({ groups, store, inTimeProfile });
  t.is(hg.serviceState('300'), 'in');
  t.is(hg.serviceTarget('300'), undefined);
  open = false;
  t.is(hg.serviceState('300'), 'night', 'outside the time profile');
  t.deepEqual(hg.serviceTarget('300'), { kind: 'number', number: '250' });
  open = true;
  t.true(hg.setService('301', 'night'));
  t.is(hg.serviceState('301'), 'night');
  t.deepEqual(hg.serviceTarget('301'), { kind: 'busy', reason: 'hunt group 301 is in night service' }, 'no fallback, mailbox off: busy');
  t.true(hg.setService('300', 'out'));
  t.deepEqual(hg.serviceTarget('300'), { kind: 'voicemail', mailbox: '300' }, 'no out-of-service fallback: the mailbox');
  t.false(hg.setService('399', 'in'));
  t.throws(() => hg.setService('300', 'closed' as 'in'), { instanceOf: TypeError, message: /^state:/ });
  t.like(hg.status().find((s) => s.extension === '300'), { service: 'out', setState: 'out' });
  hg.close();
  store.close();

  store = Store.open(path);
  hg = new HuntGroups({ groups, store, inTimeProfile });
  t.is(hg.serviceState('300'), 'out');
  t.is(hg.serviceState('301'), 'night');
  hg.close();
  // the configured starting state changed: the configuration wins over the kept state
  hg = new HuntGroups({ groups: [groups[0]!, group({ extension: '301', service: { state: 'out' } })], store, inTimeProfile });
  t.is(hg.serviceState('301'), 'out');
  t.is(hg.serviceState('300'), 'out');
  hg.close();
  store.close();
  t.throws(() => new HuntGroups({ groups }), { instanceOf: TypeError, message: /^opts\.inTimeProfile: required/ });
});

test('queue: FIFO, length limit, queueing off, positions', (t) => {
  const hg = new HuntGroups({ groups: [group({ queue: { maxLength: 2 } }), group({ extension: '301', queue: { enabled: false } })] });
  t.deepEqual(hg.enqueue('300', 'a'), { position: 1 });
  t.deepEqual(hg.enqueue('300', 'b'), { position: 2 });
  t.deepEqual(hg.enqueue('300', 'c'), { refused: 'full' });
  t.deepEqual(hg.enqueue('300', 'a'), { position: 1 }, 'already queued: keeps its place');
  t.deepEqual(hg.enqueue('301', 'x'), { refused: 'off' });
  t.is(hg.position('300', 'b'), 2);
  t.is(hg.next('300'), 'a');
  t.is(hg.position('300', 'b'), 1);
  t.deepEqual(hg.enqueue('300', 'c'), { position: 2 });
  t.true(hg.dequeue('300', 'b'));
  t.false(hg.dequeue('300', 'b'));
  t.is(hg.position('300', 'c'), 1);
  t.is(hg.queueLength('300'), 1);
  t.is(hg.status()[0]!.queued, 1);
  t.is(hg.next('300'), 'c');
  t.is(hg.next('300'), undefined);

  const unlimited = new HuntQueue({ enabled: true, maxLength: null });
  for (let i = 0; i < 100; i++) unlimited.enqueue(`call-${i}`);
  t.is(unlimited.length, 100);
  t.is(unlimited.next(), 'call-0');
  t.throws(() => unlimited.enqueue(''), { instanceOf: TypeError, message: /^callId:/ });
  t.throws(() => new HuntQueue({ enabled: true, maxLength: 0 }), { instanceOf: TypeError, message: /^opts\.maxLength:/ });
  hg.enqueue('300', 'z');
  hg.close();
  t.is(hg.queueLength('300'), 0, 'close empties the queues');
});

test('overflow: queueing off after one pass or the overflow time; queueing on only at the overflow time (0: one pass)', (t) => {
  const none = group({});
  t.false(overflowDue(none, { queueing: false, elapsedMs: 1e9, passesDone: 9 }), 'no overflow groups');

  const timed = group({ overflow: { groups: ['301'], seconds: 30 } });
  t.false(overflowDue(timed, { queueing: false, elapsedMs: 29_999, passesDone: 0 }));
  t.true(overflowDue(timed, { queueing: false, elapsedMs: 1_000, passesDone: 1 }), 'queueing off: one pass is enough');
  t.true(overflowDue(timed, { queueing: false, elapsedMs: 30_000, passesDone: 0 }), 'queueing off: time up before the pass ends');
  t.false(overflowDue(timed, { queueing: true, elapsedMs: 29_999, passesDone: 5 }), 'queueing on: passes do not count');
  t.true(overflowDue(timed, { queueing: true, elapsedMs: 30_000, passesDone: 0 }));
  t.false(overflowDue(timed, { elapsedMs: 10_000, passesDone: 1 }), 'queueing defaults to queue.enabled (true)');

  const pass = group({ overflow: { groups: ['301'] } });
  t.is(pass.overflow!.seconds, 0);
  t.false(overflowDue(pass, { queueing: true, elapsedMs: 1e9, passesDone: 0 }));
  t.true(overflowDue(pass, { queueing: true, elapsedMs: 0, passesDone: 1 }));
  t.false(overflowDue(pass, { queueing: false, elapsedMs: 1e9, passesDone: 0 }), 'seconds 0 is not a time limit');
  t.true(overflowDue(group({ overflow: { groups: ['301'] }, queue: { enabled: false } }), { elapsedMs: 0, passesDone: 1 }));
  t.throws(() => overflowDue(pass, { elapsedMs: -1, passesDone: 0 }), { instanceOf: TypeError, message: /^s\.elapsedMs:/ });
  t.throws(() => overflowDue(pass, { elapsedMs: 0, passesDone: 0.5 }), { instanceOf: TypeError, message: /^s\.passesDone:/ });
});

test('voicemail answer time: 45 s by default, null never, only with the mailbox enabled', (t) => {
  const g = group({});
  t.false(voicemailDue(g, 44_999));
  t.true(voicemailDue(g, 45_000));
  t.false(voicemailDue(group({ voicemailAnswerSeconds: null }), 1e9));
  t.false(voicemailDue(group({ voicemail: { enabled: false } }), 1e9));
  t.true(voicemailDue(group({ voicemailAnswerSeconds: 5 }), 5_000));
});

test('queue announcements: the first after 10 s, an optional second, then the last repeated every repeatSeconds', (t) => {
  const one = group({}).queue;
  t.deepEqual(nextAnnouncement(one, 0), { prompt: 'first', afterMs: 10_000 });
  t.deepEqual(nextAnnouncement(one, 1), { prompt: 'first', afterMs: 20_000 });
  t.deepEqual(nextAnnouncement(one, 7), { prompt: 'first', afterMs: 20_000 });
  const two = group({ queue: { announcementSeconds: 5, secondAnnouncementSeconds: 30, repeatSeconds: 60 } }).queue;
  t.deepEqual(nextAnnouncement(two, 0), { prompt: 'first', afterMs: 5_000 });
  t.deepEqual(nextAnnouncement(two, 1), { prompt: 'second', afterMs: 30_000 });
  t.deepEqual(nextAnnouncement(two, 2), { prompt: 'second', afterMs: 60_000 });
  const once = group({ queue: { repeatSeconds: null } }).queue;
  t.deepEqual(nextAnnouncement(once, 0), { prompt: 'first', afterMs: 10_000 });
  t.is(nextAnnouncement(once, 1), undefined);
});

test('lookups, status and boundary validation', (t) => {
  const hg = new HuntGroups({ groups: [group({ name: 'Sales', ringMode: 'rotary' }), group({ extension: '301', members: [] })] });
  t.true(hg.isGroup('300'));
  t.false(hg.isGroup('201'));
  t.is(hg.group('300')?.name, 'Sales');
  t.is(hg.group('302'), undefined);
  t.deepEqual(hg.status()[0], {
    extension: '300',
    name: 'Sales',
    ringMode: 'rotary',
    service: 'in',
    setState: 'in',
    members: ['201', '202', '203', '204'].map((user) => ({ user, enabled: true, loggedIn: true })),
    loggedIn: ['201', '202', '203', '204'],
    queued: 0,
  });
  t.deepEqual(hg.hunt('301', avail()).offers, []);
  t.throws(() => hg.hunt('302', avail()), { instanceOf: TypeError, message: 'group: unknown hunt group "302"' });
  t.throws(() => hg.hunt('300', 'x' as never), { instanceOf: TypeError, message: /^availability:/ });
  t.throws(() => hg.serviceState('300', new Date(Number.NaN)), { instanceOf: TypeError, message: /^at:/ });
  t.throws(() => hg.groupsOf(201 as never), { instanceOf: TypeError, message: /^user:/ });
  t.throws(() => new HuntGroups({ groups: [group({}), group({})] }), { instanceOf: TypeError, message: 'opts.groups[1].extension: duplicate hunt group 300' });
  t.throws(() => new HuntGroups({ groups: 'x' as never }), { instanceOf: TypeError, message: /^opts\.groups:/ });
  t.throws(() => new HuntGroups({ groups: [], now: 5 as never }), { instanceOf: TypeError, message: /^opts\.now:/ });
});
