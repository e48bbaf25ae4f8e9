import test from 'ava';
import { DialPlanSchema } from '../../src/core/config/dialplan-schema.js';
import { Router, formatTrace, type Destination, type RouterUser, type ShortCodeFeature } from '../../src/features/routing/index.js';

type PlanInput = Parameters<typeof DialPlanSchema.parse>[0];

function router(plan: PlanInput, users: Partial<RouterUser>[] = [], isExtension?: (n: string) => boolean): Router {
  return new Router({
    dialPlan: DialPlanSchema.parse(plan),
    users: users.map((u) => ({ extension: u.extension!, name: u.name ?? u.extension!, priority: u.priority ?? 5, rights: u.rights, shortCodes: u.shortCodes ?? [] })),
    isExtension,
  });
}

const sc = (code: string, feature: ShortCodeFeature, number = '', extra: { lineGroup?: number; ars?: string } = {}) => ({ code, feature, number, ...extra });

function dest(r: Router, number: string, user?: string): Destination {
  return r.dial(number, user === undefined ? {} : { user }).destination;
}

function featureNumber(d: Destination): string | undefined {
  return d.kind === 'feature' ? d.number : undefined;
}

test('N matches any digits (none too), X exactly one, ; is ignored', (t) => {
  const r = router({ shortCodes: [sc('7N', 'meetMe', 'N'), sc('*5X;', 'voicemailCollect', 'N')] });
  t.is(featureNumber(dest(r, '7123')), '123');
  t.deepEqual(dest(r, '*57'), { kind: 'feature', feature: 'voicemailCollect', number: '7' });
  t.is(dest(r, '*577').kind, 'notFound');
  t.is(dest(r, '7').kind, 'notFound'); // N matched nothing: meetMe wants 1..15 digits
  const any = router({ shortCodes: [sc('N', 'forwardAll', 'N')] });
  t.deepEqual(dest(any, ''), { kind: 'feature', feature: 'forwardAll', number: '' });
});

test('? matches anything but only when nothing else does', (t) => {
  const r = router({ shortCodes: [sc('?', 'busy'), sc('5N', 'meetMe', 'N')] });
  t.deepEqual(dest(r, '512'), { kind: 'feature', feature: 'meetMe', number: '12' });
  t.is(dest(r, '612').kind, 'busy');
  t.is(dest(r, '*9#').kind, 'busy');
});

test('most literal digits wins, then the fitting length (X before N), then config order', (t) => {
  const r = router({
    shortCodes: [
      sc('9N', 'meetMe', '1'),
      sc('90N', 'meetMe', '2'),
      sc('9XXX', 'meetMe', '3'),
      sc('90XX', 'meetMe', '4'),
      sc('90XX', 'meetMe', '5'),
      sc('90N1', 'meetMe', '6'),
    ],
  });
  t.is(featureNumber(dest(r, '9012')), '4'); // 90XX and 90N: two literals each; X fits; first of the duplicates
  t.is(featureNumber(dest(r, '9011')), '6'); // 90N1 has three literals
  t.is(featureNumber(dest(r, '90123')), '2'); // 90N (two literals) beats 9N
  t.is(featureNumber(dest(r, '9123')), '3'); // 9XXX fits the length, 9N does not
  t.is(featureNumber(dest(r, '91234')), '1');
  const lengths = router({ shortCodes: [sc('1N', 'meetMe', '1'), sc('1XXN', 'meetMe', '2')] });
  t.is(featureNumber(dest(lengths, '1234')), '2'); // N codes: the one closer to the dialled length
});

test('an extension beats every short code; own codes beat rights codes beat system codes', (t) => {
  const users = [
    { extension: '201', rights: 'staff', shortCodes: [sc('7X', 'meetMe', '1')] },
    { extension: '202', rights: 'staff' },
    { extension: '203' },
  ];
  const plan = {
    shortCodes: [sc('7X', 'meetMe', '3'), sc('20X', 'busy')],
    userRights: [{ name: 'staff', shortCodes: [sc('7X', 'meetMe', '2')] }],
  };
  const r = router(plan, users);
  t.deepEqual(dest(r, '202', '201'), { kind: 'extension', extension: '202' });
  t.is(dest(r, '209', '201').kind, 'busy');
  t.is(featureNumber(dest(r, '71', '201')), '1');
  t.is(featureNumber(dest(r, '71', '202')), '2');
  t.is(featureNumber(dest(r, '71', '203')), '3');
  t.is(featureNumber(dest(r, '71')), '3');
  // The first tier with a full match wins even if a lower tier's code is more specific.
  const r2 = router({ shortCodes: [sc('712', 'meetMe', '9')] }, [{ extension: '201', shortCodes: [sc('N', 'meetMe', '8')] }]);
  t.is(featureNumber(dest(r2, '712', '201')), '8');
  t.is(featureNumber(dest(r2, '712')), '9');
  // A custom extension predicate (hunt groups) is honoured.
  const r3 = router({ shortCodes: [sc('5XX', 'busy')] }, [], (n) => n === '500');
  t.is(dest(r3, '500').kind, 'extension');
  t.is(dest(r3, '501').kind, 'busy');
});

test('a number that is only the start of a code is incomplete (484), unless something matches', (t) => {
  const r = router({ shortCodes: [sc('9XXX', 'meetMe', 'N'), sc('*21*N', 'forwardAll', 'N')] });
  t.is(dest(r, '9').kind, 'incomplete');
  t.is(dest(r, '90').kind, 'incomplete');
  t.is(dest(r, '*2').kind, 'incomplete');
  t.is(dest(r, '*21*').kind, 'feature'); // N may be empty: forwardAll with no number
  t.is(dest(r, '8').kind, 'notFound');
  t.is(dest(r, '90123').kind, 'notFound');
  const withCatchAll = router({ shortCodes: [sc('9XXX', 'meetMe', 'N'), sc('N', 'busy')] });
  t.is(dest(withCatchAll, '9').kind, 'busy');
  const r2 = router({ shortCodes: [sc('1N2', 'busy')] });
  t.is(dest(r2, '1345').kind, 'incomplete');
  t.is(dest(r2, '13452').kind, 'busy');
});

test('telephone number characters N, E, U, S, SS, W', (t) => {
  const r = router(
    {
      shortCodes: [
        sc('9N', 'dial', 'N', { lineGroup: 1 }),
        sc('8XX', 'dial', '55EN', { lineGroup: 1 }),
        sc('7N', 'dial', 'UN', { lineGroup: 1 }),
        sc('6N', 'dial', 'NS01234567', { lineGroup: 1 }),
        sc('5N', 'dial', 'NSS', { lineGroup: 1 }),
        sc('4N', 'dial', 'NW', { lineGroup: 1 }),
      ],
    },
    [{ extension: '201', name: 'alice' }],
  );
  const out = (n: string, callerNumber?: string) => {
    const d = r.dial(n, { user: '201', callerNumber }).destination;
    if (d.kind !== 'lineGroup') throw new Error(`expected lineGroup, got ${d.kind}`);
    return { number: d.number, callerId: d.callerId };
  };
  t.deepEqual(out('9123'), { number: '123', callerId: {} });
  t.deepEqual(out('812'), { number: '5520112', callerId: {} });
  t.deepEqual(out('71'), { number: 'alice1', callerId: {} });
  t.deepEqual(out('6999'), { number: '999', callerId: { set: '01234567' } });
  t.deepEqual(out('5999', '07700900123'), { number: '999', callerId: { pass: true, set: '07700900123' } });
  t.deepEqual(out('5999'), { number: '999', callerId: { pass: true } });
  t.deepEqual(out('4999'), { number: '999', callerId: { withhold: true } });
});

test('features: dialExtn, busy, forwarding, DND, ARS switching, meet-me', (t) => {
  const r = router(
    {
      shortCodes: [
        sc('*7N', 'dialExtn', 'N'),
        sc('*21*N', 'forwardAll', 'N'),
        sc('*20', 'forwardOff'),
        sc('*78', 'dndOn'),
        sc('*36', 'arsOutOfService', 'main'),
        sc('80XX', 'meetMe', '80N'),
        sc('0', 'busy'),
      ],
      arsForms: [{ name: 'main' }],
    },
    [{ extension: '201' }],
  );
  t.deepEqual(dest(r, '*7201'), { kind: 'extension', extension: '201' });
  t.is(dest(r, '*7999').kind, 'notFound');
  t.deepEqual(dest(r, '*21*202'), { kind: 'feature', feature: 'forwardAll', number: '202' });
  t.deepEqual(dest(r, '*20'), { kind: 'feature', feature: 'forwardOff', number: '' });
  t.deepEqual(dest(r, '*78'), { kind: 'feature', feature: 'dndOn', number: '' });
  t.deepEqual(dest(r, '*36'), { kind: 'feature', feature: 'arsOutOfService', number: 'main' });
  t.deepEqual(dest(r, '8042'), { kind: 'feature', feature: 'meetMe', number: '8042' });
  t.deepEqual(dest(r, '0'), { kind: 'busy', reason: 'short code 0 gives busy' });
});

const barringPlan = {
  shortCodes: [sc('9N', 'dial', 'N', { ars: 'main' })],
  arsForms: [{ name: 'main', shortCodes: [sc('N', 'dial', 'N', { lineGroup: 1 })] }],
  callClasses: [
    { name: 'internal', patterns: [] },
    { name: 'premium', patterns: ['09N'] },
    { name: 'international', patterns: ['00N'] },
    { name: 'national', patterns: ['0N'] },
    { name: 'local', patterns: ['XXXXXX'] },
  ],
  userRights: [{ name: 'local-only', classes: ['internal', 'local', 'national'] }],
};

test('barring: international barred for a local-only user, extensions internal, unclassified allowed', (t) => {
  const r = router(barringPlan, [{ extension: '205', rights: 'local-only' }, { extension: '206' }]);
  const intl = r.dial('9004420794600', { user: '205' });
  t.is(intl.destination.kind, 'ars');
  if (intl.destination.kind !== 'ars') return;
  t.deepEqual(intl.destination.barring, { allowed: false, class: 'international', reason: '403 Forbidden (international calls are barred for 205)' });
  t.regex(formatTrace(intl.trace), /barred for 205/);
  t.true(r.barring('206', '004420794600').allowed); // no rights: every class
  t.deepEqual(r.barring('205', '09001234'), { allowed: false, class: 'premium', reason: '403 Forbidden (premium calls are barred for 205)' });
  t.like(r.barring('205', '01234567'), { allowed: true, class: 'national' });
  t.like(r.barring('205', '555123'), { allowed: true, class: 'local' });
  t.like(r.barring('205', '206'), { allowed: true, class: 'internal' });
  t.like(r.barring('205', '12'), { allowed: true, class: 'unclassified' });
  t.like(r.barring(undefined, '0044'), { allowed: true, class: 'international' });
});

test('the trace names each step and ends with the result; trace: false skips it', (t) => {
  const r = router(barringPlan, [{ extension: '205', rights: 'local-only' }]);
  const { trace } = r.dial('901234567', { user: '205' });
  t.deepEqual(trace.map((l) => l.step), ['shortcode', 'barring', 'result']);
  t.regex(trace[0]!.text, /901234567 matched system 9N \(dial N\) -> 01234567/);
  t.regex(formatTrace(trace), /^shortcode: .*\nbarring: .*class national.*\nresult: 01234567 via ARS form main/);
  const quiet = r.dial('901234567', { user: '205', trace: false });
  t.deepEqual(quiet.trace, []);
  t.is(quiet.destination.kind, 'ars');
});

test('the public boundary refuses bad input with a TypeError naming the field', (t) => {
  const r = router(barringPlan, [{ extension: '205' }]);
  t.throws(() => r.dial(42 as never), { instanceOf: TypeError, message: /^number:/ });
  t.throws(() => r.dial('1', { user: '999' }), { instanceOf: TypeError, message: /^ctx\.user: unknown user "999"/ });
  t.throws(() => r.dial('1', { at: new Date(NaN) }), { instanceOf: TypeError, message: /^ctx\.at:/ });
  t.throws(() => r.selectRoutes('nope', '1', {}, () => true), { instanceOf: TypeError, message: /^form: unknown ARS form/ });
  t.throws(() => r.timeProfileActive('nope'), { instanceOf: TypeError, message: /^name: unknown time profile/ });
  t.throws(() => router({ shortCodes: [sc('9N', 'dial', 'N', { ars: 'missing' })] }), { instanceOf: TypeError, message: /^dialPlan\.shortCodes\[0\]\.ars: unknown ARS form "missing"/ });
  t.throws(() => router({}, [{ extension: '201', rights: 'x' }]), { instanceOf: TypeError, message: /^opts\.users\[0\]\.rights/ });
  t.throws(() => new Router({ dialPlan: DialPlanSchema.parse({}), users: [{ extension: '201', name: '201', priority: 5, shortCodes: [{ code: '9NN', feature: 'busy', number: '' }] }] }), {
    instanceOf: TypeError,
    message: /^opts\.users\[0\]\.shortCodes\[0\]\.code: must have at most one N/,
  });
});
