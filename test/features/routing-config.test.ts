import test from 'ava';
import { problemsOf } from '../helpers/config.js';
import { loadConfig, defaultConfigPath, parseConfig } from '../../src/core/config/index.js';
import { Router } from '../../src/features/routing/index.js';


const trunk = 'trunks:\n  - { name: t1, lineGroup: 1, type: peer, host: 192.0.2.1 }\n';

test('the default configuration has a working dial plan: meet-me on 8000..8099 and call classes', (t) => {
  const cfg = loadConfig(defaultConfigPath());
  t.is(cfg.dialPlan.timeZone, 'UTC');
  t.deepEqual(cfg.dialPlan.timeProfiles.map((p) => p.name), ['office']);
  t.deepEqual(cfg.dialPlan.callClasses.map((c) => c.name), ['internal', 'premium', 'international', 'national', 'local']);
  t.is(cfg.users[0]!.priority, 5);
  t.deepEqual(cfg.users[0]!.shortCodes, []);
  const r = new Router({ dialPlan: cfg.dialPlan, users: cfg.users });
  t.deepEqual(r.dial('8042', { user: '201' }).destination, { kind: 'feature', feature: 'meetMe', number: '8042' });
  t.is(r.dial('8100', { user: '201' }).destination.kind, 'notFound');
  t.like(r.barring('201', '0044123'), { class: 'international', allowed: true });
  t.true(r.timeProfileActive('office', new Date('2026-11-25T10:00:00Z')));
});

test('dial plan defaults fill in every field', (t) => {
  const cfg = parseConfig('dialPlan:\n  arsForms: [{ name: main }]\n  shortCodes: [{ code: "*20", feature: forwardOff }]\n');
  t.like(cfg.dialPlan.arsForms[0], { inService: true, alternatePriority: 3, alternateWaitSeconds: 30, shortCodes: [] });
  t.deepEqual(cfg.dialPlan.shortCodes[0], { code: '*20', feature: 'forwardOff', number: '' });
  // Left out, the system short codes are the meet-me range (8000..8099 are conferences),
  // voicemail from any phone, and the hunt-group log-in and night-service codes.
  t.deepEqual(parseConfig('').dialPlan, {
    timeZone: 'UTC',
    timeProfiles: [],
    shortCodes: [
      { code: '80XX', feature: 'meetMe', number: '80N' },
      { code: '*18', feature: 'voicemailCollect', number: '' },
      { code: '*55*N', feature: 'huntGroupLogin', number: 'N' },
      { code: '*56*N', feature: 'huntGroupLogout', number: 'N' },
      { code: '*57*N', feature: 'nightServiceOn', number: 'N' },
      { code: '*58*N', feature: 'nightServiceOff', number: 'N' },
    ],
    userRights: [],
    arsForms: [],
    incomingCallRoutes: [],
    incomingDefault: null,
    callClasses: [],
  });
});

test('short code references: unknown ARS form, a line group no trunk has, dial without a target, dialExtn to a non-extension', (t) => {
  const problems = problemsOf(`${trunk}users:
  - { extension: "201", password: s3cret-201, rights: nobody, shortCodes: [{ code: "7", feature: dial, lineGroup: 7 }] }
dialPlan:
  shortCodes:
    - { code: "9N", feature: dial, number: N, ars: nowhere }
    - { code: "8N", feature: dial, number: N, lineGroup: 1 }
    - { code: "6N", feature: dial, number: N }
    - { code: "*5", feature: dialExtn, number: "299" }
    - { code: "*6", feature: dialExtn, number: "201" }
`);
  t.deepEqual(problems.sort(), [
    'dialPlan.shortCodes[0].ars: unknown ARS form "nowhere"',
    'dialPlan.shortCodes[2]: dial needs exactly one of lineGroup and ars',
    'dialPlan.shortCodes[3].number: dialExtn to "299", which is not an extension',
    'users[0].rights: unknown user rights "nobody"',
    'users[0].shortCodes[0].lineGroup: no trunk has line group 7',
  ]);
});

test('bad code characters, duplicate names, unknown forms, profiles, classes and line groups', (t) => {
  const problems = problemsOf(`${trunk}dialPlan:
  timeZone: Mars/Olympus
  timeProfiles: [{ name: office }, { name: office }]
  callClasses: [{ name: local, patterns: ["N"] }]
  userRights: [{ name: r1, classes: [local, galactic] }]
  shortCodes:
    - { code: "9A", feature: busy }
    - { code: "9NN", feature: busy }
  arsForms:
    - { name: main, timeProfile: never, outOfHoursRoute: night, alternateRoute: main, shortCodes: [{ code: "N", feature: dial, number: N, lineGroup: 3 }] }
    - { name: main }
  incomingCallRoutes:
    - { lineGroup: 4, destination: "201", destinations: [{ timeProfile: holiday, destination: "202" }] }
`);
  for (const p of [
    'dialPlan.timeZone: must be an IANA time zone (e.g. "Europe/London")',
    'dialPlan.timeProfiles[1].name: duplicate time profile name "office" (also dialPlan.timeProfiles[0])',
    'dialPlan.userRights[0].classes[1]: unknown call class "galactic"',
    'dialPlan.shortCodes[0].code: bad character "A" (allowed: digits, *, #, N, X, ?, ;)',
    'dialPlan.shortCodes[1].code: must have at most one N',
    'dialPlan.arsForms[0].timeProfile: unknown time profile "never"',
    'dialPlan.arsForms[0].outOfHoursRoute: unknown ARS form "night"',
    'dialPlan.arsForms[0].shortCodes[0].lineGroup: no trunk has line group 3',
    'dialPlan.arsForms[1].name: duplicate ARS form name "main" (also dialPlan.arsForms[0])',
    'dialPlan.incomingCallRoutes[0].lineGroup: no trunk has line group 4',
    'dialPlan.incomingCallRoutes[0].destinations[0].timeProfile: unknown time profile "holiday"',
  ]) {
    t.true(problems.includes(p), `${p}\n  not in:\n${problems.join('\n')}`);
  }
  t.false(problems.some((p) => p.includes('alternateRoute')));
});
