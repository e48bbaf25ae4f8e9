/**
 * A node shutting down on SIGTERM (the `pbx start` process, as an operator runs it), with sipp
 * phones: new calls are refused with 503 and Retry-After so phones and trunks fail over, a
 * ringing caller gets the same and its callee a CANCEL, an answered call is ended with BYEs that
 * are retransmitted and awaited, and the process exits by itself within its bounded time.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { portBlock } from '../helpers/ports.js';
import { runSipp, startSipp, traced, type SippRun } from '../helpers/sipp.js';
import { ulawSilence } from '../helpers/audio.js';
import { scenario } from '../helpers/peers.js';
import { until } from '../helpers/wait.js';

const port = portBlock(29);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const REG = scenario('register_keys.xml');
const UNTIL_BYE = scenario('uac_until_bye.xml');

test('SIGTERM: new and ringing calls get 503 with Retry-After, answered calls end with awaited BYEs, the process exits', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pbx-shutdown-'));
  const users = ['201', '202', '203', '204', '205'].map((e) => `  - { extension: "${e}", password: demo${e} }`).join('\n');
  writeFileSync(join(dir, 'pbx.yaml'), `sip:
  listen: [{ transport: udp, address: 127.0.0.1, port: ${port(0)} }]
storage: { path: ${JSON.stringify(join(dir, 'pbx.sqlite'))} }
media: { portMin: 40000, portMax: 49999 }
voicemail: { dir: ${JSON.stringify(join(dir, 'voicemail'))}, channels: 0 }
log: { level: debug, format: json }
users:
${users}
`);
  const node = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start', '--config', join(dir, 'pbx.yaml')], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: { message?: string; [k: string]: unknown }[] = [];
  let rest = '';
  node.stdout!.on('data', (d: Buffer) => {
    const lines = (rest + d.toString()).split('\n');
    rest = lines.pop()!;
    for (const l of lines) if (l.trim()) logs.push(JSON.parse(l));
  });
  const exited = new Promise<number | null>((resolve) => node.on('exit', (code) => resolve(code)));
  const logged = (re: RegExp) => () => logs.some((l) => re.test(String(l.message)));
  const runs: SippRun[] = [];
  try {
    await until('the node to start', logged(/^started$/), 30_000);
    const silence = `${ulawSilence(dir)},-1,0`;
    const register = async (ext: string, p: number) => {
      const r = await runSipp([`127.0.0.1:${port(0)}`, '-sf', REG, '-s', ext, '-au', ext, '-ap', `demo${ext}`, '-key', 'contact', `<sip:${ext}@127.0.0.1:${p}>`,
        '-key', 'expires', '300', '-key', 'extra', 'X-Test: 1', '-i', '127.0.0.1', '-p', String(p), '-m', '1'], { timeoutMs: 10_000 });
      t.is(r.code, 0, `${ext} registers`);
    };
    const phone = (sf: string, p: number) => {
      const run = startSipp(['-sf', scenario(sf), '-i', '127.0.0.1', '-p', String(p), '-mi', '127.0.0.1', '-mp', String(p + 100), '-m', '1'], { timeoutMs: 40_000, trace: true });
      runs.push(run);
      return run;
    };
    // each caller's media ports 10 apart: sipp binds the one given and the next ones (video at +2),
    // and the late caller must not find a port the answered caller still holds
    const call = (from: string, to: string, p: number) => {
      const run = startSipp([`127.0.0.1:${port(0)}`, '-sf', UNTIL_BYE, '-s', to, '-au', from, '-ap', `demo${from}`, '-key', 'caller', from, '-key', 'rtp_file', silence,
        '-i', '127.0.0.1', '-p', String(p), '-mi', '127.0.0.1', '-mp', String(p + 100 + 10 * (p - port(20))), '-m', '1'], { timeoutMs: 40_000, trace: true });
      runs.push(run);
      return run;
    };
    await register('202', port(10));
    await register('203', port(11));
    const callee = phone('uas_slow_bye.xml', port(10));
    const ringer = phone('uas_ring.xml', port(11));
    const answered = call('201', '202', port(20));
    await until('the first call answered', logged(/^call answered$/), 15_000);
    const ringing = call('204', '203', port(21));
    await until('the second call ringing', () => logs.filter((l) => /^call routing -> ringing/.test(String(l.message))).length >= 2, 15_000);

    const stopAt = Date.now();
    node.kill('SIGTERM');
    await until('the shutdown to begin', logged(/^shutting down$/), 5000);
    const late = call('205', '202', port(22));
    const code = await exited;
    const took = Date.now() - stopAt;

    t.is(code, 0, 'the process ends cleanly');
    t.true(took < 5000 + 10_000, `within its bounded time (${took} ms)`);
    t.true(logged(/^server stopped$/)());
    const statusOf = (trace: string, status: number) => traced(trace).find((m) => m.received && m.text.startsWith(`SIP/2.0 ${status} `))?.text ?? '';
    const lateRun = await late.done;
    t.regex(statusOf(lateRun.messages, 503), /Retry-After: \d+/i, `a call made while draining is refused with Retry-After: ${lateRun.messages.slice(-1500)}`);
    const ringRun = await ringing.done;
    t.regex(statusOf(ringRun.messages, 503), /Retry-After: \d+/i, 'the ringing caller is told to try elsewhere');
    const rr = await ringer.done;
    t.is(rr.code, 0, `the ringing phone was cancelled (CANCEL, 487, ACK): ${rr.stderr.slice(-500)}`);
    const a = await answered.done;
    t.is(a.code, 0, 'the caller of the answered call got its BYE');
    const b = await callee.done;
    t.is(b.code, 0, 'the callee answered the BYE, late');
    const byes = traced(b.messages).filter((m) => m.received && m.text.startsWith('BYE ')).length;
    t.true(byes >= 2, `the BYE was retransmitted while unanswered (${byes} received)`);
    t.true(took >= 2500, 'the node waited for the late answer to its BYE');
  } finally {
    if (node.exitCode === null) node.kill('SIGKILL');
    await Promise.all(runs.map((r) => r.stop()));
  }
});
