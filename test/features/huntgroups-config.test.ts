import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { problemsOf } from '../helpers/config.js';
import { parseConfig } from '../../src/core/config/index.js';
import { SOLUTION_LIMITS } from '../../src/core/profiles.js';
import { Router } from '../../src/features/routing/index.js';

/** Users 201.. as YAML, with non-demo passwords. */
function users(n: number, first = 201): string {
  const lines = Array.from({ length: n }, (_, i) => `  - { extension: "${first + i}", password: pw-${first + i} }`);
  return `users:\n${lines.join('\n')}\n`;
}

const USERS = users(5); // 201..205
const OFFICE = 'dialPlan:\n  timeProfiles:\n    - { name: office, weekly: [{ days: [mon], from: "09:00", to: "17:00" }] }\n';

test('a hunt group with only an extension and members gets every default', (t) => {
  const cfg = parseConfig(`${USERS}huntGroups:\n  - { extension: "300", members: ["201", "202", { extension: "203", enabled: false }] }\n`);
  t.deepEqual(cfg.huntGroups, [
    {
      extension: '300',
      name: '300',
      members: [
        { extension: '201', enabled: true },
        { extension: '202', enabled: true },
        { extension: '203', enabled: false },
      ],
      ringMode: 'collective',
      noAnswerSeconds: 15,
      queue: { enabled: true, maxLength: null, announcementSeconds: 10, secondAnnouncementSeconds: null, repeatSeconds: 20 },
      voicemailAnswerSeconds: 45,
      voicemail: { enabled: true },
      service: { state: 'in' },
    },
  ]);
  t.deepEqual(parseConfig('').huntGroups, []);
});

test('a full hunt group parses as written', (t) => {
  const cfg = parseConfig(`${USERS}${OFFICE}huntGroups:
  - extension: "300"
    name: Sales
    members: ["201", "202"]
    ringMode: rotary
    noAnswerSeconds: 10
    queue: { maxLength: 5, announcementSeconds: 5, secondAnnouncementSeconds: 30, repeatSeconds: null }
    overflow: { groups: ["301"], seconds: 60 }
    voicemailAnswerSeconds: null
    voicemail: { pin: "1234", email: sales@example.com }
    service: { state: night, timeProfile: office, nightFallback: "250", outOfServiceFallback: "*17" }
  - { extension: "301", members: ["203"], ringMode: longestWaiting }
`);
  const g = cfg.huntGroups[0]!;
  t.like(g, { name: 'Sales', ringMode: 'rotary', noAnswerSeconds: 10, voicemailAnswerSeconds: null });
  t.deepEqual(g.queue, { enabled: true, maxLength: 5, announcementSeconds: 5, secondAnnouncementSeconds: 30, repeatSeconds: null });
  t.deepEqual(g.overflow, { groups: ['301'], seconds: 60 });
  t.deepEqual(g.service, { state: 'night', timeProfile: 'office', nightFallback: '250', outOfServiceFallback: '*17' });
  t.deepEqual(g.voicemail, { enabled: true, pin: '1234', email: 'sales@example.com' });
  t.true(Object.isFrozen(g.members[0]));
});

test('field problems are reported by path', (t) => {
  const problems = problemsOf(`${USERS}huntGroups:
  - extension: 300
    members: [201, "2x", { extension: "202", enabled: "no" }, { extension: "203", ring: true }]
    ringMode: roundRobin
    noAnswerSeconds: 2
    queue: { maxLength: 0, repeatSeconds: 1 }
    overflow: { groups: [], seconds: -1 }
    service: { state: closed, nightFallback: "abc" }
    colour: red
`);
  t.deepEqual(problems.sort(), [
    'huntGroups[0].colour: unknown key',
    'huntGroups[0].extension: must be a quoted string of 2..15 digits (e.g. "300")',
    'huntGroups[0].members[0]: must be an extension (quoted, e.g. "201") or { extension, enabled }',
    'huntGroups[0].members[1].extension: must be a quoted string of 2..15 digits (e.g. "300")',
    'huntGroups[0].members[2].enabled: must be true or false',
    'huntGroups[0].members[3].ring: unknown key',
    'huntGroups[0].noAnswerSeconds: must be an integer 5..600',
    'huntGroups[0].overflow.groups: must name at least one hunt group',
    'huntGroups[0].overflow.seconds: must be an integer 0..3600',
    'huntGroups[0].queue.maxLength: must be an integer 1..10000',
    'huntGroups[0].queue.repeatSeconds: must be an integer 5..3600',
    'huntGroups[0].ringMode: must be one of collective, collectiveCallWaiting, sequential, rotary, longestWaiting',
    'huntGroups[0].service.nightFallback: must be a number of digits, * or # (1..32)',
    'huntGroups[0].service.state: must be one of in, night, out',
  ]);
});

test('references: unique group numbers, not a user, members are users once, overflow groups exist, time profile exists', (t) => {
  const problems = problemsOf(`${USERS}${OFFICE}huntGroups:
  - extension: "300"
    members: ["201", "202", "201", "299", { extension: "202", enabled: false }]
    overflow: { groups: ["300", "301", "399", "301"] }
    service: { timeProfile: nights, nightFallback: "300", outOfServiceFallback: "300" }
  - { extension: "301", members: [] }
  - { extension: "300" }
  - { extension: "205", service: { timeProfile: office } }
`);
  t.deepEqual(problems, [
    'huntGroups[0].members[2]: 201 is already a member (members[0])',
    'huntGroups[0].members[3]: 299 is not a user\'s extension',
    'huntGroups[0].members[4]: 202 is already a member (members[1])',
    'huntGroups[0].overflow.groups[0]: a group cannot overflow to itself',
    'huntGroups[0].overflow.groups[2]: 399 is not a hunt group',
    'huntGroups[0].overflow.groups[3]: 301 is named twice',
    'huntGroups[0].service.timeProfile: unknown time profile "nights" (dialPlan.timeProfiles)',
    'huntGroups[0].service.nightFallback: must not be the group\'s own extension',
    'huntGroups[0].service.outOfServiceFallback: must not be the group\'s own extension',
    'huntGroups[2].extension: duplicate of huntGroups[0]',
    'huntGroups[3].extension: 205 is a user\'s extension',
  ]);
});

test('announcement files must exist', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pbx-hunt-cfg-'));
  const wav = join(dir, 'welcome.wav');
  writeFileSync(wav, 'not checked here');
  const missing = join(dir, 'missing.wav');
  t.deepEqual(
    problemsOf(`huntGroups:\n  - { extension: "300", queue: { announcement: ${JSON.stringify(wav)}, secondAnnouncement: ${JSON.stringify(missing)} } }\n`),
    [`huntGroups[0].queue.secondAnnouncement: file not found: ${missing}`],
  );
});

test('solution limits: 200 hunt groups, 500 members per group, 2000 memberships in all', (t) => {
  t.is(SOLUTION_LIMITS.huntGroups, 200);
  const groups = (n: number, members: (i: number) => string = () => '[]') =>
    `huntGroups:\n${Array.from({ length: n }, (_, i) => `  - { extension: "${3000 + i}", members: ${members(i)} }`).join('\n')}\n`;
  t.deepEqual(problemsOf(groups(200)), []);
  t.deepEqual(problemsOf(groups(201)), ['huntGroups: 201 hunt groups, the solution limit is 200']);

  const many = (n: number) => JSON.stringify(Array.from({ length: n }, (_, i) => String(201 + i)));
  t.deepEqual(problemsOf(`${users(501)}${groups(4, (i) => (i === 3 ? many(501) : '["201"]'))}`), [
    'huntGroups[3].members: 501 members, the limit is 500 per group',
  ]);
  t.deepEqual(problemsOf(`${users(500)}${groups(4, () => many(500))}`), [], '2000 memberships are allowed');
  t.deepEqual(problemsOf(`${users(500)}${groups(5, (i) => (i === 4 ? '["201"]' : many(500)))}`), [
    'huntGroups: 2001 memberships in all, the limit is 2000',
  ]);
});

test('default system short codes: *55*N / *56*N log in / out, *57*N / *58*N night service on / off, next to meet-me', (t) => {
  const cfg = parseConfig(`${USERS}huntGroups:\n  - { extension: "300", members: ["201"] }\n`);
  const r = new Router({ dialPlan: cfg.dialPlan, users: cfg.users });
  const dial = (n: string) => r.dial(n, { user: '201' }).destination;
  t.deepEqual(dial('*55*300'), { kind: 'feature', feature: 'huntGroupLogin', number: '300' });
  t.deepEqual(dial('*56*300'), { kind: 'feature', feature: 'huntGroupLogout', number: '300' });
  t.deepEqual(dial('*57*300'), { kind: 'feature', feature: 'nightServiceOn', number: '300' });
  t.deepEqual(dial('*58*300'), { kind: 'feature', feature: 'nightServiceOff', number: '300' });
  t.deepEqual(dial('8042'), { kind: 'feature', feature: 'meetMe', number: '8042' });
  t.is(dial('*55').kind, 'incomplete');
  t.is(dial('*59*300').kind, 'notFound');
  // a config's own system short codes replace the whole default list
  const own = parseConfig('dialPlan: { shortCodes: [{ code: "*20", feature: forwardOff }] }\n');
  t.deepEqual(own.dialPlan.shortCodes.map((s) => s.code), ['*20']);
});
