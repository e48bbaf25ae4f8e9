/**
 * A backup node takes standby registrations from the moment its SIP answers. Its SIP starts
 * before its part in the solution does (the bus server and the admin API start in between); a
 * phone whose standby REGISTER came in that window was refused as an unknown user, and its
 * retries locked the user out on the backup for the lockout time (found with the container
 * solution, where the phones start together with the nodes). Here a phone of the primary's user
 * 201 registers with the secondary again and again while the secondary starts (alone: the
 * primary is not needed for a standby registration): every answer it gets is a success.
 */
import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestNet } from '../helpers/netns.js';
import { NodeProcess } from '../helpers/node-process.js';
import { portBlock } from '../helpers/ports.js';
import { runSipp, scenario } from '../helpers/sipp.js';

const net = new TestNet('20sb', 150);
const NODES = ['pri', 'sec'];
const dir = mkdtempSync(join(tmpdir(), 'pbx-standby-start-'));
const file = join(dir, 'solution.yaml');
const ports = portBlock(150);
let node: NodeProcess | undefined;

test.before(() => {
  net.up(NODES);
  const entry = (name: string, role: string, profile: string) =>
    `  - { name: ${name}, role: ${role}, profile: ${profile}, address: ${net.addr(name)}, bus: { address: ${net.addr(name, 'bus')} }, dataDir: ${JSON.stringify(join(dir, name))} }`;
  writeFileSync(file, `log: { level: info, format: json }
bus: { password: bus-secret-20 }
nodes:
${entry('pri', 'primary', 'DL360')}
${entry('sec', 'secondary', 'DL120')}
users:
  - { extension: "201", password: secret201, node: pri }
`);
});

test.after.always(async () => {
  await node?.stop();
  net.down(NODES);
});

test("a phone's standby registration on the secondary while it starts: never refused, and the user is not locked out", async (t) => {
  node = new NodeProcess({ config: file, node: 'sec', netns: net.ns('sec') });
  let ok = false;
  let attempts = 0;
  const deadline = Date.now() + 60_000;
  while (!ok && Date.now() < deadline) {
    const r = await runSipp(
      [`${net.addr('sec')}:5060`, '-sf', scenario('register_auth.xml'), '-s', '201', '-au', '201', '-ap', 'secret201', '-m', '1', '-i', net.here, '-p', String(ports(attempts % 50))],
      { timeoutMs: 2000 },
    );
    attempts++;
    ok = r.code === 0;
  }
  t.true(ok, `201 registered in standby on the secondary (${attempts} attempts):\n${node.tail()}`);
  await node.waitFor('solution: node starting', () => true, 30_000);
  t.true(attempts > 1, 'the first attempts came before the secondary answered SIP (the test reached the start-up window)');
  const refused = node.lines.filter((l) => l.message === 'authentication failed' && l.user === '201');
  t.deepEqual(refused.map((l) => l.reason), [], 'no REGISTER of 201 was refused while the node started');
  t.false(node.has('security: user locked out after repeated authentication failures'), 'and 201 was not locked out');
});
