/**
 * The command line of operations: `pbx account` (the first administrator, made offline), `pbx
 * status` (a running node's state from its API, with a phone registered by sipp), and the rule
 * that an API off loopback needs HTTPS and never runs with a default password.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/core/config/index.js';
import { createTestLogger } from '../../src/core/logger.js';
import { Server } from '../../src/server.js';
import { cli } from '../helpers/config.js';
import { portBlock } from '../helpers/ports.js';
import { runSipp, scenario } from '../helpers/sipp.js';

const port = portBlock(124);

function nodeFile(dir: string, admin: string, udp: number): string {
  const file = join(dir, 'pbx.yaml');
  writeFileSync(file, `sip:
  listen:
    - { transport: udp, address: 127.0.0.1, port: ${udp} }
storage: { path: ${JSON.stringify(join(dir, 'pbx.sqlite'))} }
voicemail: { dir: ${JSON.stringify(join(dir, 'vm'))} }
media: { portMin: 40000, portMax: 49999 }
admin: { ${admin} }
users:
  - { extension: "201", password: demo201 }
`);
  return file;
}

async function startFrom(file: string): Promise<Server> {
  const s = new Server(loadConfig(file), createTestLogger('warn'), { source: { text: readFileSync(file, 'utf8'), path: file } });
  await s.start();
  return s;
}

test('pbx account sets the password, pbx status prints the node, its capacity and a registered phone', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pbx-cli-status-'));
  const file = nodeFile(dir, `port: ${port(1)}`, port(0));
  const pw = join(dir, 'pw');
  writeFileSync(pw, 'status-test-pw\n');
  const server = await startFrom(file);
  try {
    const before = await cli('status', '--config', file, '--password-file', pw);
    t.is(before.code, 1);
    t.regex(before.stderr, /login refused \(401\)/);
    const set = await cli('account', 'password', 'admin', '--config', file, '--password-file', pw);
    t.is(set.code, 0, set.stderr);
    const reg = await runSipp([`127.0.0.1:${port(0)}`, '-sf', scenario('register_auth.xml'), '-s', '201', '-au', '201', '-ap', 'demo201', '-m', '1', '-i', '127.0.0.1', '-p', String(port(2))]);
    t.is(reg.code, 0, reg.stderr);
    const r = await cli('status', '--config', file, '--password-file', pw);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /^node node1: up \(primary, DL360\), configuration revision 1/);
    t.regex(r.stdout, /users\s+1 \/ 500/);
    t.regex(r.stdout, /calls\s+0 \/ 256/);
    t.regex(r.stdout, /registrations \(1\):\n\s+201\s+udp:127\.0\.0\.1:\d+/);
    const json = await cli('status', '--config', file, '--password-file', pw, '--json');
    t.is(JSON.parse(json.stdout).status.node.name, 'node1');
    const list = await cli('account', 'list', '--config', file);
    t.is(list.stdout.trim(), 'admin\tadministrator');
    const weak = await cli('account', 'add', 'ops', '--role', 'operator', '--config', file, '--password-file', join(dir, 'pbx.yaml'));
    t.is(weak.code, 1);
    t.regex(weak.stderr, /password: must be 8\.\.128 characters/);
    t.is((await cli('account', 'add', 'ops', '--config', file)).code, 2, '--role is required');
  } finally {
    await server.close();
  }
});

test('an admin API off loopback needs HTTPS, and never starts with a default password; pbx status trusts the node\'s certificate', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pbx-cli-tls-'));
  const plain = await cli('check', nodeFile(dir, `address: 0.0.0.0, port: ${port(11)}`, port(10)));
  t.is(plain.code, 1);
  t.regex(plain.stderr, /admin\.address: 0\.0\.0\.0 is not loopback: set admin\.certificate and admin\.privateKey/);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  const file = nodeFile(dir, `address: 0.0.0.0, port: ${port(11)}, certificate: ${join(dir, 'cert.pem')}, privateKey: ${join(dir, 'key.pem')}`, port(10));
  const pw = join(dir, 'pw');
  writeFileSync(pw, 'tls-test-password\n');
  // a store that already has admin/admin (as a node on loopback made it) is refused off loopback
  const { Store } = await import('../../src/core/store.js');
  const { Accounts } = await import('../../src/admin/accounts.js');
  const store = Store.open(join(dir, 'pbx.sqlite'));
  await new Accounts(store).addDefault();
  store.close();
  await t.throwsAsync(startFrom(file), { message: /is not loopback and account admin still has its default password: set one with `pbx account password admin`/ });
  t.is((await cli('account', 'password', 'admin', '--config', file, '--password-file', pw)).code, 0);
  const server = await startFrom(file);
  try {
    const r = await cli('status', '--config', file, '--password-file', pw);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /^node node1: up/);
  } finally {
    await server.close();
  }
});
