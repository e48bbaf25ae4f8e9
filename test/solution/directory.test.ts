/**
 * Two nodes of a solution in this process, on loopback addresses of their own: the status shows
 * the applied revision and the bus, the directory says which nodes are up and where a user's
 * phone is registered, and close() leaves no nats-server behind.
 */
import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestLogger } from '../../src/core/logger.js';
import { Server } from '../../src/server.js';
import { bootNode } from '../../src/solution/boot.js';
import { runSipp, scenario } from '../helpers/sipp.js';
import { until } from '../helpers/wait.js';

const PRI = '127.16.5.11';
const EXP = '127.16.5.13';

function statusOf(s: Server): { revision: number; source: string; bus: { state: string }; nodes: { name: string; up: boolean }[] } {
  return s.status().solution as never;
}

test('status shows the applied revision and the bus; the directory knows which nodes are up and where a phone is registered', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pbx-directory-'));
  const file = join(dir, 'solution.yaml');
  writeFileSync(file, `log: { level: info }
bus: { heartbeatSeconds: 1, holdDownSeconds: 2 }
admin: { enabled: false }
media: { portMin: 41000, portMax: 41999 }
nodes:
  - { name: pri, role: primary, profile: DL360, address: ${PRI}, dataDir: ${JSON.stringify(join(dir, 'pri'))} }
  - { name: exp1, role: expansion, profile: ExpansionL, address: ${EXP}, dataDir: ${JSON.stringify(join(dir, 'exp1'))} }
users:
  - { extension: "201", password: secret201 }
  - { extension: "301", password: secret301, node: exp1 }
`);
  const servers: Server[] = [];
  t.teardown(async () => {
    for (const s of servers.reverse()) await s.close();
  });
  for (const name of ['pri', 'exp1']) {
    const logger = createTestLogger('info');
    const boot = bootNode(file, name, logger);
    const s = new Server(boot.view, logger, { solution: boot });
    servers.push(s);
    await s.start();
  }
  const [pri, exp] = servers as [Server, Server];
  await until('revision 1 applied on both nodes', () => statusOf(pri).revision === 1 && statusOf(exp).revision === 1);
  t.like(statusOf(exp), { revision: 1, source: 'bus', bus: { state: 'connected' } });
  t.deepEqual(exp.config.users.map((u) => u.extension), ['301']);

  const reg = await runSipp([`${EXP}:5060`, '-sf', scenario('register_auth.xml'), '-s', '301', '-au', '301', '-ap', 'secret301', '-m', '1', '-i', '127.16.5.1', '-p', '5099'], { timeoutMs: 10_000 });
  t.is(reg.code, 0, reg.stderr);
  const directory = pri.solution!.directory;
  await until('the primary hears that 301 is registered on exp1', () => directory.whereIs('301').join() === 'exp1');
  t.true(directory.isUp('exp1'));
  t.deepEqual(directory.whereIs('201'), []);
  t.like(statusOf(pri).nodes.find((n) => n.name === 'exp1'), { up: true });
  // no node is down: each user is served by its home node
  t.is(directory.servingNode('201'), 'pri');
  t.is(directory.servingNode('301'), 'exp1');
  t.is(directory.servingNode('999'), undefined);
  t.like((pri.status().solution as { failover: unknown }).failover, { home: 'serving', backupFor: [], serving: [] });

  const serverPid = (statusOf(pri).bus as unknown as { server: { pid: number } }).server.pid;
  await exp.close();
  await until('exp1 down after the hold-down', () => !directory.isUp('exp1'), 10_000);
  await pri.close();
  t.throws(() => process.kill(serverPid, 0), undefined, "the primary's nats-server is gone");
});
