/**
 * A node killed with SIGKILL while a caller is leaving a message: at the next start the message
 * is in the mailbox, as new, up to about its last second, and its audio is the caller's tone.
 * The node runs as a child process (the CLI), so the kill is a real one.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Baresip, makeToneWav } from '../helpers/baresip.js';
import { portBlock } from '../helpers/ports.js';
import { startServer } from '../helpers/server.js';
import { hasTone, toneRatio } from '../helpers/tone.js';
import { readWav } from '../helpers/wav.js';
import { sleep } from '../helpers/wait.js';

const port = portBlock(22);
const ROOT = new URL('../../', import.meta.url).pathname;

const USERS = ['  - { extension: "201", password: demo201 }', '  - { extension: "202", password: demo202 }'].join('\n');

test('SIGKILL while recording: after restart the message is there, up to its last second, and holds the tone', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pbx-vm-crash-'));
  const config = join(dir, 'node.yaml');
  writeFileSync(config, [
    'sip:',
    '  domain: 127.0.0.1',
    `  listen: [{ transport: udp, address: 127.0.0.1, port: ${port(0)} }]`,
    `storage: { path: ${JSON.stringify(join(dir, 'pbx.sqlite'))} }`,
    'log: { level: info, format: json }',
    'media: { portMin: 40000, portMax: 49999 }',
    `voicemail: { dir: ${JSON.stringify(join(dir, 'voicemail'))} }`,
    'users:',
    USERS,
    '',
  ].join('\n'));
  let out = '';
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli.ts'), 'start', '--config', config], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const waitOut = async (re: RegExp, ms: number) => {
    const deadline = Date.now() + ms;
    while (!re.test(out)) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`node output did not show ${re}:\n${out.slice(-3000)}`);
      await sleep(50);
    }
  };
  let caller: Baresip | undefined;
  try {
    await waitOut(/server started/, 20_000);
    caller = await Baresip.start({
      listen: `127.0.0.81:${port(101)}`,
      ctrlPort: port(151),
      source: makeToneWav(join(dir, 'tone.wav'), 1000, 120),
      account: `<sip:201@127.0.0.1:${port(0)}>;auth_pass=demo201;regint=600;answermode=manual;audio_codecs=PCMU`,
    });
    await caller.waitRegistered();
    // 202 has no phone registered: voicemail answers at once
    caller.command('dial', `sip:202@127.0.0.1:${port(0)}`);
    await caller.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 10_000);
    await waitOut(/voicemail 202: recording message/, 20_000);
    await sleep(4000);
    child.kill('SIGKILL');
    await exited;
    t.notRegex(out, /message \d+ kept/, 'the node died before it could finish the message itself');
    caller.command('hangup');
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await caller?.stop();
  }

  const node = await startServer({ udp: port(1), dir, users: USERS });
  try {
    t.true(node.logger.records.some((r) => /recovered/.test(String(r.message))), 'the restart logs the recovery');
    const msgs = node.server.voicemail!.store.messages('202');
    t.is(msgs.length, 1, 'the message is in the mailbox');
    const m = msgs[0]!;
    t.is(m.state, 'new');
    t.is(m.caller, '201');
    // 4 s were recorded before the kill; at most the last second may be missing
    t.true(m.durationMs >= 3000 && m.durationMs <= 5500, `kept up to its last second: ${m.durationMs} ms`);
    const s = (await readWav(m.path)).samples;
    t.is(Math.round(s.length / 8), m.durationMs, 'the file header matches the recovered duration');
    const body = s.subarray(2000, s.length - 2000);
    t.true(hasTone(body, 1000, 0.5), `the audio is the caller's tone (ratio ${toneRatio(body, 1000).toFixed(2)})`);
    t.deepEqual(node.server.voicemail!.store.counts('202'), { new: 1, saved: 0 });
  } finally {
    await node.close();
  }
});
