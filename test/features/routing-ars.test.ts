import test from 'ava';
import { DialPlanSchema } from '../../src/core/config/dialplan-schema.js';
import { Router, type ArsSelection, type RouterUser } from '../../src/features/routing/index.js';

type PlanInput = Parameters<typeof DialPlanSchema.parse>[0];

function router(plan: PlanInput, users: Partial<RouterUser>[] = []): Router {
  return new Router({
    dialPlan: DialPlanSchema.parse(plan),
    users: users.map((u) => ({ extension: u.extension!, name: u.extension!, priority: u.priority ?? 5, rights: u.rights, shortCodes: [] })),
  });
}

const route = (code: string, number: string, lineGroup: number) => ({ code, feature: 'dial', number, lineGroup });
const office = { name: 'office', weekly: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '09:00', to: '17:30' }] };
const WED_10 = new Date('2026-11-25T10:00:00Z'); // a Wednesday
const WED_20 = new Date('2026-11-25T20:00:00Z');
const SAT_10 = new Date('2026-11-28T10:00:00Z');

function routesOf(s: ArsSelection) {
  if (s.kind !== 'routes') throw new Error(`expected routes, got ${s.kind}: ${s.kind === 'busy' ? s.reason : ''}`);
  return s;
}

const failover = {
  arsForms: [
    {
      name: 'main',
      alternateRoute: 'backup',
      alternatePriority: 2,
      alternateWaitSeconds: 12,
      shortCodes: [route('0N', '0N', 1), route('0N', '90N', 2), route('0N', 'N', 3), route('00N', '00N', 4), { code: '09N', feature: 'busy', number: '' }],
    },
    { name: 'backup', shortCodes: [route('N', 'N', 9)] },
  ],
};

test('ARS: duplicate codes are routes; the first available leads, the others fail over in order', (t) => {
  const r = router(failover);
  const all = routesOf(r.selectRoutes('main', '01234', {}, () => true));
  t.deepEqual(
    all.routes.map((x) => [x.lineGroup, x.number, x.available, x.code]),
    [
      [1, '01234', true, '0N'],
      [2, '901234', true, '0N'],
      [3, '1234', true, '0N'],
    ],
  );
  const no1 = routesOf(r.selectRoutes('main', '01234', {}, (g) => g !== 1));
  t.deepEqual(no1.routes.map((x) => [x.lineGroup, x.available]), [[2, true], [3, true], [1, false]]);
  const only3 = routesOf(r.selectRoutes('main', '01234', {}, (g) => g === 3));
  t.deepEqual(only3.routes.map((x) => x.lineGroup), [3, 1, 2]);
  // 00N has more literal digits than 0N: international numbers take its single route.
  t.deepEqual(routesOf(r.selectRoutes('main', '0044', {}, () => true)).routes.map((x) => x.lineGroup), [4]);
  t.like(r.selectRoutes('main', '0900', {}, () => true), { kind: 'busy' });
  t.like(r.selectRoutes('backup', '', {}, () => true), { kind: 'routes' });
  t.like(router({ arsForms: [{ name: 'x', shortCodes: [route('1N', 'N', 1)] }] }).selectRoutes('x', '2', {}, () => true), { kind: 'notFound', form: 'x' });
});

test('ARS: every route busy: priority at or above the level goes to the alternate at once, others wait', (t) => {
  const r = router(failover, [{ extension: '201', priority: 1 }, { extension: '202' }, { extension: '203', priority: 2 }]);
  const none = () => false;
  const high = routesOf(r.selectRoutes('main', '01234', { user: '201' }, none));
  t.true(high.routes.every((x) => !x.available));
  t.deepEqual(high.alternate, { form: 'backup', immediate: true, waitMs: 0 });
  t.deepEqual(routesOf(r.selectRoutes('main', '01234', { user: '203' }, none)).alternate, { form: 'backup', immediate: true, waitMs: 0 });
  const low = routesOf(r.selectRoutes('main', '01234', { user: '202' }, none));
  t.deepEqual(low.alternate, { form: 'backup', immediate: false, waitMs: 12_000 });
  t.regex(low.trace.map((l) => l.text).join('\n'), /camp on for 12 s/);
  t.deepEqual(routesOf(r.selectRoutes('main', '01234', {}, none)).alternate, { form: 'backup', immediate: false, waitMs: 12_000 });
  // Without an alternate route, every route busy is busy.
  const noAlt = router({ arsForms: [{ name: 'm', shortCodes: [route('N', 'N', 1)] }] });
  t.like(noAlt.selectRoutes('m', '1', {}, none), { kind: 'busy' });
  // User rights' priority overrides the user's own.
  const rights = new Router({
    dialPlan: DialPlanSchema.parse({ ...failover, userRights: [{ name: 'vip', priority: 1 }] }),
    users: [{ extension: '204', name: '204', priority: 5, rights: 'vip', shortCodes: [] }],
  });
  t.true(routesOf(rights.selectRoutes('main', '01234', { user: '204' }, none)).alternate!.immediate);
});

test('ARS: out of service (configured or switched) goes to the out-of-service form, else busy', (t) => {
  const r = router({
    arsForms: [
      { name: 'main', outOfServiceRoute: 'spare', shortCodes: [route('N', 'N', 1)] },
      { name: 'spare', shortCodes: [route('N', '9N', 2)] },
      { name: 'down', inService: false, shortCodes: [route('N', 'N', 3)] },
    ],
  });
  t.false(r.formInService('down'));
  t.like(r.selectRoutes('down', '123', {}, () => true), { kind: 'busy', form: 'down' });
  t.true(r.setFormInService('down', true));
  t.deepEqual(routesOf(r.selectRoutes('down', '123', {}, () => true)).routes.map((x) => x.lineGroup), [3]);
  t.false(r.setFormInService('nope', false));
  t.true(r.setFormInService('main', false));
  const s = routesOf(r.selectRoutes('main', '123', {}, () => true));
  t.is(s.form, 'spare');
  t.deepEqual(s.routes.map((x) => x.number), ['9123']);
  t.regex(s.trace[0]!.text, /main is out of service: to form spare/);
});

test('ARS: out of hours by time profile; chains are bounded and loops give busy', (t) => {
  const r = router({
    timeProfiles: [office],
    arsForms: [
      { name: 'day', timeProfile: 'office', outOfHoursRoute: 'night', shortCodes: [route('N', 'N', 1)] },
      { name: 'night', shortCodes: [route('N', 'N', 2)] },
      { name: 'closed', timeProfile: 'office', shortCodes: [route('N', 'N', 1)] },
      { name: 'a', inService: false, outOfServiceRoute: 'b', shortCodes: [] },
      { name: 'b', inService: false, outOfServiceRoute: 'a', shortCodes: [] },
      ...Array.from({ length: 9 }, (_, i) => ({ name: `c${i}`, inService: false, outOfServiceRoute: `c${i + 1}`, shortCodes: [] })),
      { name: 'c9', shortCodes: [route('N', 'N', 7)] },
    ],
  });
  t.deepEqual(routesOf(r.selectRoutes('day', '1', { at: WED_10 }, () => true)).routes.map((x) => x.lineGroup), [1]);
  t.deepEqual(routesOf(r.selectRoutes('day', '1', { at: WED_20 }, () => true)).routes.map((x) => x.lineGroup), [2]);
  t.is(routesOf(r.selectRoutes('day', '1', { at: SAT_10 }, () => true)).form, 'night');
  t.like(r.selectRoutes('closed', '1', { at: WED_20 }, () => true), { kind: 'busy' });
  const loop = r.selectRoutes('a', '1', {}, () => true);
  t.is(loop.kind, 'busy');
  if (loop.kind === 'busy') t.regex(loop.reason, /ARS loop: a -> b -> a/);
  t.like(r.selectRoutes('c2', '1', {}, () => true), { kind: 'routes', form: 'c9' }); // 8 forms: c2..c9
  const deep = r.selectRoutes('c1', '1', {}, () => true); // 9 forms
  t.is(deep.kind, 'busy');
  if (deep.kind === 'busy') t.regex(deep.reason, /longer than 8/);
});

test('time profiles: weekly, across midnight, 24:00, dates, and the time zone', (t) => {
  const r = router({
    timeZone: 'Europe/London',
    timeProfiles: [
      office,
      { name: 'night', weekly: [{ days: ['fri'], from: '22:00', to: '06:00' }] },
      { name: 'late', weekly: [{ days: ['sun'], from: '18:00', to: '24:00' }] },
      { name: 'holiday', dates: [{ date: '2026-12-25' }, { date: '2026-12-24', from: '13:00' }] },
    ],
  });
  t.true(r.timeProfileActive('office', WED_10));
  t.false(r.timeProfileActive('office', new Date('2026-11-25T17:30:00Z')));
  t.true(r.timeProfileActive('office', new Date('2026-11-25T17:29:00Z')));
  t.false(r.timeProfileActive('office', SAT_10));
  t.true(r.timeProfileActive('night', new Date('2026-11-28T05:59:00Z'))); // Saturday morning, from Friday's span
  t.false(r.timeProfileActive('night', new Date('2026-11-28T22:30:00Z')));
  t.true(r.timeProfileActive('late', new Date('2026-11-29T23:59:00Z')));
  t.true(r.timeProfileActive('holiday', new Date('2026-12-25T03:00:00Z')));
  t.false(r.timeProfileActive('holiday', new Date('2026-12-24T12:00:00Z')));
  t.true(r.timeProfileActive('holiday', new Date('2026-12-24T13:00:00Z')));
  // British Summer Time: 08:30 UTC in July is 09:30 in London.
  t.true(r.timeProfileActive('office', new Date('2026-07-01T08:30:00Z')));
  t.false(router({ timeProfiles: [office] }).timeProfileActive('office', new Date('2026-07-01T08:30:00Z')));
});

const incomingPlan = {
  timeProfiles: [office],
  shortCodes: [{ code: '80XX', feature: 'meetMe', number: '80N' }],
  incomingCallRoutes: [
    { lineGroup: 1, destination: 'any' },
    { lineGroup: 1, incomingNumber: '4567', destination: 'r4567' },
    { lineGroup: 1, incomingNumber: '567', destination: 'r567' },
    { lineGroup: 1, incomingNumber: '45X7', destination: 'r45X7-later' },
    { lineGroup: 1, incomingNumber: '-0123', destination: 'exact0123' },
    { lineGroup: 1, incomingNumber: '4567', callerId: '0207', destination: 'london' },
    { lineGroup: 1, incomingNumber: '4567', callerId: '!', destination: 'withheld' },
    { lineGroup: 1, incomingNumber: '4567', callerId: '?', destination: 'unknown' },
    { lineGroup: 2, incomingNumber: '1', destinations: [{ timeProfile: 'office', destination: 'day', fallback: 'day-vm' }], destination: 'night', fallback: 'night-vm' },
  ],
};

test('incoming: line group, number matched from the right, X, - from the left at exact length', (t) => {
  const r = router(incomingPlan, [{ extension: '201' }]);
  const go = (number: string, lineGroup = 1, callerId: string | undefined = '01632960000', withheld = false) =>
    r.incoming({ lineGroup, number, callerId, withheld, at: WED_10 }).destination;
  t.is(go('01234567'), 'r4567'); // 4567 beats 567 (more digits), and 45X7 (same length, earlier)
  t.is(go('01234557'), 'r45X7-later');
  t.is(go('999567'), 'r567');
  t.is(go('0123'), 'exact0123');
  t.is(go('01234'), 'any'); // -0123 needs the exact length
  t.is(go('99'), 'any');
  t.is(go('01234567', 1, '02079460000'), 'london');
  t.is(go('01234567', 1, '0207', true), 'withheld'); // a withheld number is not matched by prefix
  t.is(r.incoming({ lineGroup: 1, number: '01234567', callerId: undefined, withheld: false }).destination, 'unknown');
  const d = r.incoming({ lineGroup: 1, number: '01234567', callerId: '02071', withheld: false });
  t.like(d, { destination: 'london', route: 5, fallback: undefined });
});

test('incoming: time rows, default row and fallbacks; no route tries the system codes', (t) => {
  const r = router(incomingPlan, [{ extension: '201' }]);
  t.like(r.incoming({ lineGroup: 2, number: '1', callerId: '5', withheld: false, at: WED_10 }), { destination: 'day', fallback: 'day-vm', route: 8 });
  const night = r.incoming({ lineGroup: 2, number: '1', callerId: '5', withheld: false, at: WED_20 });
  t.like(night, { destination: 'night', fallback: 'night-vm', route: 8 });
  t.regex(night.trace.map((l) => l.text).join('\n'), /time profile office is not active/);
  t.like(r.incoming({ lineGroup: 3, number: '201', callerId: '5', withheld: false }), { destination: '201', route: undefined });
  t.like(r.incoming({ lineGroup: 3, number: '8042', callerId: '5', withheld: false }), { destination: '8042', route: undefined });
  t.like(r.incoming({ lineGroup: 2, number: '2', callerId: '5', withheld: false }), { destination: undefined });
  t.like(r.incoming({ lineGroup: 3, number: '999', callerId: undefined, withheld: true }), { destination: undefined });
  t.throws(() => r.incoming({ lineGroup: '1' as never, number: '1', callerId: undefined, withheld: false }), { instanceOf: TypeError, message: /^call\.lineGroup/ });
});
