import test from 'ava';
import { cli } from '../helpers/config.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';


const dir = mkdtempSync(join(tmpdir(), 'pbx-cli-'));
const bad = join(dir, 'bad.yaml');
writeFileSync(
  bad,
  `sip:
  listen:
    - { transport: udp, address: 0.0.0.0, port: 5060 }
users:
  - { extension: "201", password: demo201 }
  - { extension: "202", password: long-enough }
  - { extension: "203", password: long-enough }
  - { extension: "202", password: long-enough }
`,
);
const expectedProblems = [
  'users[3].extension: duplicate of users[1]',
  'users[0].password: demo passwords are only allowed when every sip.listen address is loopback (sip.listen[0].address is 0.0.0.0)',
];

test('check accepts the default configuration', async (t) => {
  const r = await cli('check');
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^OK: .*config[\\/]default\.yaml\n$/);
});

test('check on a bad file lists every problem and exits 1', async (t) => {
  const r = await cli('check', bad);
  t.is(r.code, 1);
  t.true(r.stderr.startsWith(`${bad}: configuration refused, 2 problems:`));
  for (const p of expectedProblems) t.true(r.stderr.includes(`  - ${p}\n`), p);
  t.false(r.stdout.includes('OK'));
});

test('the server does not start on an invalid file', async (t) => {
  const r = await cli('start', '--config', bad);
  t.is(r.code, 1);
  for (const p of expectedProblems) t.true(r.stderr.includes(p), p);
  t.false(r.stdout.includes('started'));
});

test('--help lists the commands; an unknown command is a usage error', async (t) => {
  const help = await cli('--help');
  t.is(help.code, 0);
  t.regex(help.stdout, /check/);
  t.regex(help.stdout, /start/);
  const unknown = await cli('frobnicate');
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /unknown command "frobnicate"/);
});
