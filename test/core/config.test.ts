import test from 'ava';
import { problemsOf } from '../helpers/config.js';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, defaultConfigPath, loadConfig, parseConfig } from '../../src/core/config/index.js';
import { PROFILES, SOLUTION_LIMITS, getProfile } from '../../src/core/profiles.js';


test('config/default.yaml loads as a working single-node primary with ten demo users', (t) => {
  const path = defaultConfigPath();
  t.true(existsSync(path));
  t.regex(path, /config[\\/]default\.yaml$/);
  const cfg = loadConfig(path);
  t.is(cfg.node.role, 'primary');
  t.is(cfg.node.profile, 'DL360');
  t.deepEqual(
    cfg.sip.listen.map((l) => `${l.transport} ${l.address}:${l.port}`),
    ['udp 127.0.0.1:5060', 'tcp 127.0.0.1:5060', 'ws 127.0.0.1:8088'],
  );
  t.deepEqual(cfg.users.map((u) => u.extension), ['201', '202', '203', '204', '205', '206', '207', '208', '209', '210']);
  t.is(cfg.users[0]!.password, 'demo201');
  t.is(cfg.storage.path, 'var/pbx.sqlite');
  t.true(Object.isFrozen(cfg.sip.listen[0]));
});

test('defaults fill in every section so features read complete objects', (t) => {
  const cfg = parseConfig('users:\n  - { extension: "301", password: s3cret-301 }\n', 'min.yaml');
  t.deepEqual(cfg.sip.timers, { t1: 500, t2: 4000, t4: 5000 });
  t.deepEqual(cfg.registrar, { minExpires: 60, maxExpires: 3600, defaultExpires: 3600, maxContactsPerUser: 5, flowTimerSeconds: 25 });
  t.deepEqual(cfg.security.digest.algorithms, ['MD5']);
  t.is(cfg.security.secret, null);
  t.is(cfg.sip.listen.length, 2);
  t.is(cfg.users[0]!.name, '301');
  t.deepEqual(parseConfig('', 'empty.yaml').users, []);
});

test('a document with several problems lists every one by path', (t) => {
  const err = t.throws(
    () =>
      parseConfig(
        `node: { profile: DL999 }
sip:
  lisen: []
  listen:
    - { transport: udp, address: 127.0.0.1, port: 70000 }
    - { transport: tls, address: 127.0.0.1, port: 5061 }
media: { portMin: 30000, portMax: 20001 }
registrar: { minExpires: 120, defaultExpires: 60 }
users:
  - { extension: "201", password: secret201 }
  - { extension: "202", password: secret202 }
  - { extension: "203", password: x }
  - { extension: "202", password: secret204 }
`,
        'several.yaml',
      ),
    { instanceOf: ConfigError },
  );
  const expected = [
    'node.profile: must be one of DL360, DL120, IP500V2, ExpansionL',
    'sip.lisen: unknown key (did you mean listen?)',
    'sip.listen[0].port: must be an integer 1..65535',
    'users[2].password: must be a string of 4..64 characters',
    'users[3].extension: duplicate of users[1]',
    'sip.listen[1].certificate: required for tls',
    'sip.listen[1].privateKey: required for tls',
    'media.portMax: must be greater than media.portMin (30000)',
    'registrar.defaultExpires: must be between registrar.minExpires (120) and registrar.maxExpires (3600)',
  ];
  t.deepEqual([...err.problems].sort(), [...expected].sort());
  t.true(err.message.startsWith('several.yaml: configuration refused, 9 problems:'));
  for (const p of expected) t.true(err.message.includes(p), p);
});

test('YAML syntax errors name the line and column', (t) => {
  const problems = problemsOf('node:\n  name: n1\nsip: [1, 2\nusers: []\n');
  t.is(problems.length, 1);
  t.regex(problems[0]!, /^line 4, column 1: /);
  t.regex(problemsOf('node: {}\nnode: {}\n')[0]!, /^line 2, column 1: Map keys must be unique/);
});

test('demo passwords are refused unless every listen address is loopback', (t) => {
  const users = 'users:\n  - { extension: "201", password: demo201 }\n  - { extension: "202", password: good-password }\n';
  const on = (address: string) =>
    `sip:\n  listen:\n    - { transport: udp, address: 127.0.0.1, port: 5060 }\n    - { transport: tcp, address: ${address}, port: 5060 }\n${users}`;
  t.deepEqual(problemsOf(on('0.0.0.0')), [
    'users[0].password: demo passwords are only allowed when every sip.listen address is loopback (sip.listen[1].address is 0.0.0.0)',
  ]);
  t.is(problemsOf(on('"::"')).length, 1);
  t.is(problemsOf(on('192.0.2.10')).length, 1);
  t.deepEqual(problemsOf(on('127.0.0.2')), []);
  t.deepEqual(problemsOf(on('"::1"')), []);
  // Any of demo201..demo210 counts, whatever the extension.
  t.is(problemsOf(on('0.0.0.0').replace('good-password', 'demo205')).length, 2);
  t.deepEqual(problemsOf(on('0.0.0.0').replace('password: demo201', 'password: real-pass')), []);
});

test('duplicate sockets, and a stream port taken by another stream transport, are refused', (t) => {
  const problems = problemsOf(`sip:
  listen:
    - { transport: udp, address: 127.0.0.1, port: 5060 }
    - { transport: tcp, address: 127.0.0.1, port: 5060 }
    - { transport: udp, address: 127.0.0.1, port: 5060 }
    - { transport: ws, address: 127.0.0.1, port: 5060 }
`);
  t.deepEqual(problems, [
    'sip.listen[2]: duplicate of sip.listen[0]',
    'sip.listen[3].port: 127.0.0.1 port 5060 is already taken by sip.listen[1] (tcp)',
  ]);
});

test('tls needs certificate and key files that exist', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pbx-cfg-'));
  const cert = join(dir, 'pbx.crt');
  writeFileSync(cert, 'not checked here');
  const problems = problemsOf(
    `sip:\n  listen:\n    - { transport: tls, address: 127.0.0.1, port: 5061, certificate: ${JSON.stringify(cert)}, privateKey: ${JSON.stringify(join(dir, 'missing.key'))} }\n`,
  );
  t.deepEqual(problems, [`sip.listen[0].privateKey: file not found: ${join(dir, 'missing.key')}`]);
});

test('users beyond the solution limit are refused; the node profile is enforced at registration', (t) => {
  const mk = (n: number) => Array.from({ length: n }, (_, i) => `  - { extension: "${1000 + i}", password: pw-${i}-long }`).join('\n');
  t.deepEqual(problemsOf(`node: { profile: DL120 }\nusers:\n${mk(251)}\n`), []);
  t.deepEqual(problemsOf(`node: { profile: DL360 }\nusers:\n${mk(1001)}\n`), [
    'users: 1001 users exceed the solution limit of 1000',
  ]);
});

test('an unquoted extension and an unknown top-level key are explained', (t) => {
  t.deepEqual(problemsOf('usres: []\nusers:\n  - { extension: 201, password: secret201 }\n').sort(), [
    'usres: unknown key (did you mean users?)',
    'users[0].extension: must be a quoted string of 2..15 digits (e.g. "201")',
  ].sort());
});

test('loadConfig on a missing file names the file', (t) => {
  const err = t.throws(() => loadConfig('/nonexistent/pbx.yaml'), { instanceOf: ConfigError });
  t.regex(err.message, /^\/nonexistent\/pbx\.yaml: configuration refused/);
  t.regex(err.problems[0]!, /^cannot read the file: ENOENT/);
});

test('profiles carry the capacity figures and are frozen', (t) => {
  t.is(PROFILES.DL360.users, 500);
  t.is(PROFILES.DL120.voicemailChannels, 40);
  t.is(PROFILES.IP500V2.busyHourCallAttempts, 7200);
  t.is(getProfile('IP500V2').sipTrunkChannels, 120);
  t.is(SOLUTION_LIMITS.nodes, 32);
  t.true(Object.isFrozen(PROFILES.DL360));
  t.throws(() => getProfile('DL999'), { instanceOf: TypeError, message: /^profile: / });
});

test('a missing required field says so, and problems read in document order', (t) => {
  t.deepEqual(
    problemsOf(`sip: { listen: [ { port: 5 } ] }
users:
  - { extension: "203" }
  - { password: "abcdef" }
node: { role: boss }
`),
    [
      'sip.listen[0].transport: is required',
      'sip.listen[0].address: is required',
      'users[0].password: is required',
      'users[1].extension: is required',
      'node.role: must be one of primary, secondary, expansion',
    ],
  );
});
