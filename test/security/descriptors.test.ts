/**
 * Connections against media for file descriptors (defect 8): a node whose open-file limit is
 * small (prlimit) lowers its connection cap at start so the media ports keep their descriptors.
 * An attacker opening a thousand connections from many addresses then leaves the node able to
 * make an anchored call; before, the connections took every descriptor and the call failed with
 * "no media port".
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type net from 'node:net';
import { portBlock } from '../helpers/ports.js';
import { ROOT } from '../helpers/peers.js';
import { runSipp, startSipp, scenario } from '../helpers/sipp.js';
import { ulawSilence } from '../helpers/audio.js';
import { sleep, until } from '../helpers/wait.js';
import { tcpConnect } from '../helpers/attacker.js';

const port = portBlock(138);

test('defect 8: with 1,000 connections held by an attacker, an anchored call still gets its media ports', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pbx-fd-'));
  const config = join(dir, 'node.yaml');
  writeFileSync(config, `sip:
  listen:
    - { transport: udp, address: 127.0.0.1, port: ${port(0)} }
    - { transport: tcp, address: 127.0.0.1, port: ${port(0)} }
storage: { path: ${JSON.stringify(join(dir, 'pbx.sqlite'))} }
voicemail: { dir: ${JSON.stringify(join(dir, 'voicemail'))} }
media: { portMin: 42000, portMax: 42199 }
log: { level: info, format: json }
users:
  - { extension: "201", password: demo201 }
  - { extension: "202", password: demo202 }
`);
  // 900 descriptors: 200 for the media ports, 256 kept for the node itself, 444 for connections
  const child = spawn('prlimit', ['--nofile=900:900', process.execPath, '--import', 'tsx', 'src/cli.ts', 'start', '--config', config], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const sockets: net.Socket[] = [];
  let callee: ReturnType<typeof startSipp> | undefined;
  try {
    await until('the node to start', () => /server started/.test(out), 20_000, { detail: () => out.slice(-1000) });
    t.regex(out, /security\.connections\.max lowered to 444: the open-file limit is 900 and the media ports need 200/);
    for (let a = 1; a <= 10; a++) {
      for (let i = 0; i < 100; i++) {
        try {
          sockets.push(await tcpConnect(port(0), `127.0.10.${a}`));
        } catch { /* refused */ }
      }
    }
    await sleep(500);
    const open = sockets.filter((s) => !s.destroyed && s.readyState === 'open').length;
    t.true(open <= 444, `the node holds at most 444 of the attacker's connections (${open})`);
    const reg = await runSipp([`127.0.0.1:${port(0)}`, '-sf', scenario('register_keys.xml'), '-s', '202', '-au', '202', '-ap', 'demo202',
      '-key', 'contact', `<sip:202@127.0.0.1:${port(20)}>`, '-key', 'expires', '300', '-key', 'extra', 'X-Test: 1',
      '-i', '127.0.0.1', '-p', String(port(20)), '-m', '1'], { timeoutMs: 10_000 });
    t.is(reg.code, 0);
    callee = startSipp(['-sf', scenario('uas_answer.xml'), '-i', '127.0.0.1', '-p', String(port(20)), '-mp', String(port(24)), '-m', '1'], { timeoutMs: 30_000 });
    await sleep(300);
    const call = await runSipp([`127.0.0.1:${port(0)}`, '-sf', scenario('uac_call.xml'), '-s', '202', '-au', '201', '-ap', 'demo201',
      '-key', 'caller', '201', '-key', 'codec_pt', '0', '-key', 'codec', 'PCMU', '-key', 'rtp_file', `${ulawSilence(dir)},-1,0`,
      '-key', 'info_digit', '5', '-key', 'dtmf', '1', '-d', '500',
      '-i', '127.0.0.1', '-p', String(port(30)), '-mi', '127.0.0.1', '-mp', String(port(35)), '-m', '1'], { timeoutMs: 20_000, trace: true });
    t.is(call.code, 0, 'the call connects with anchored media and ends normally');
    t.notRegex(out, /no media port/);
  } finally {
    for (const s of sockets) s.destroy();
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(undefined) : child.once('close', r)));
    await callee?.stop();
  }
});
