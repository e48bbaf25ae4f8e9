/**
 * A node killed with calls up (defect 12): the call that was answered when `kill -9` came is
 * billed at the next start, ending when the node was last seen alive. The node runs as its own
 * process (`pbx start`), as in production; the restarted node reads the same store.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { portBlock } from '../helpers/ports.js';
import { ROOT } from '../helpers/peers.js';
import { runSipp, startSipp, scenario } from '../helpers/sipp.js';
import { startServer } from '../helpers/server.js';
import { ulawSilence } from '../helpers/audio.js';
import { sleep, until } from '../helpers/wait.js';

const port = portBlock(137);

test('defect 12: calls up when a node is killed get their records at the next start', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pbx-kill-'));
  const config = join(dir, 'node.yaml');
  writeFileSync(config, `sip:
  listen: [{ transport: udp, address: 127.0.0.1, port: ${port(0)} }]
storage: { path: ${JSON.stringify(join(dir, 'pbx.sqlite'))} }
voicemail: { dir: ${JSON.stringify(join(dir, 'voicemail'))} }
media: { portMin: 41000, portMax: 41999 }
log: { level: info, format: json }
users:
  - { extension: "201", password: demo201 }
  - { extension: "202", password: demo202 }
`);
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start', '--config', config], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  let callee: ReturnType<typeof startSipp> | undefined;
  let caller: ReturnType<typeof startSipp> | undefined;
  try {
    await until('the node to start', () => /server started/.test(out), 20_000, { detail: () => out.slice(-1000) });
    const reg = await runSipp([`127.0.0.1:${port(0)}`, '-sf', scenario('register_keys.xml'), '-s', '202', '-au', '202', '-ap', 'demo202',
      '-key', 'contact', `<sip:202@127.0.0.1:${port(20)}>`, '-key', 'expires', '300', '-key', 'extra', 'X-Test: 1',
      '-i', '127.0.0.1', '-p', String(port(20)), '-m', '1'], { timeoutMs: 10_000 });
    t.is(reg.code, 0);
    // 202's phone answers on the address it registered from
    callee = startSipp(['-sf', scenario('uas_answer.xml'), '-i', '127.0.0.1', '-p', String(port(20)), '-mp', String(port(24)), '-m', '1'], { timeoutMs: 30_000 });
    await sleep(300);
    caller = startSipp([`127.0.0.1:${port(0)}`, '-sf', scenario('uac_until_bye.xml'), '-s', '202', '-au', '201', '-ap', 'demo201',
      '-key', 'caller', '201', '-key', 'rtp_file', `${ulawSilence(dir)},-1,0`,
      '-i', '127.0.0.1', '-p', String(port(30)), '-mi', '127.0.0.1', '-mp', String(port(32)), '-m', '1'], { timeoutMs: 30_000 });
    await until('the call to be answered', () => /call answered/.test(out), 10_000, { detail: () => out.slice(-1500) });
    await sleep(3000); // a few journal writes while the call is up
    child.kill('SIGKILL');
    await new Promise((r) => child.once('close', r));

    const node = await startServer({ udp: port(0), dir });
    try {
      const [r] = node.server.records.query({ number: '201' });
      t.like(r, { callerNumber: '201', calledNumber: '202', connectedNumber: '202', disposition: 'answered', cause: 'node stopped', direction: 'internal' });
      t.true(r!.durationSec >= 1 && r!.durationSec <= 4, `billed up to the last moment the node was seen alive (${r!.durationSec} s of the 3 s)`);
      t.true(node.logger.records.some((x) => /^call records written for 1 calls that were up when the node stopped/.test(String(x.message))));
    } finally {
      await node.close();
    }
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await caller?.stop();
    await callee?.stop();
  }
});
