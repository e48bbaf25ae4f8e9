/**
 * A full disk under the store (defect 10): a real, small tmpfs filled to the last byte. The node
 * keeps serving from memory (registrations answered, OPTIONS answered), refuses the changes it
 * cannot keep (a feature code gets 500 and changes nothing), raises one alarm, and writes what it
 * held once space returns. Needs root for the mount, as `npm test` does for its peers.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { portBlock } from '../helpers/ports.js';
import { runSipp, scenario } from '../helpers/sipp.js';
import { startServer } from '../helpers/server.js';
import { eventually, until } from '../helpers/wait.js';
import { request, statusOf, UdpAttacker } from '../helpers/attacker.js';

const port = portBlock(133);
const REGISTER = scenario('register_auth.xml');
const FEATURE = scenario('uac_feature.xml');

/** Writes zeros until the disk says ENOSPC. */
function fill(path: string): void {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
    // and the last few bytes, so not even a page fits
    const one = Buffer.alloc(1);
    try {
      for (;;) writeSync(fd, one);
    } catch { /* full */ }
  } finally {
    closeSync(fd);
  }
}

test.serial('defect 10: with the disk full the node keeps serving from memory, refuses what it cannot keep, and catches up when space returns', async (t) => {
  const mnt = mkdtempSync(join(tmpdir(), 'pbx-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', mnt]);
  const filler = join(mnt, 'filler');
  const node = await startServer({ udp: port(0), dir: mnt, voicemail: 'minFreeMegabytes: 1' });
  const probe = await UdpAttacker.open('127.0.5.1');
  try {
    const reg = (user: string, localPort: number) => runSipp([`127.0.0.1:${port(0)}`, '-sf', REGISTER, '-s', user, '-au', user, '-ap', `demo${user}`,
      '-i', '127.0.0.1', '-p', String(localPort), '-m', '1'], { timeoutMs: 15_000 });
    t.is((await reg('201', port(10))).code, 0);
    fill(filler);

    t.is((await reg('202', port(11))).code, 0, 'a registration is answered 200 and served from memory');
    t.is(node.server.location.lookup('202').length, 1);
    await until('the store reports the full disk', () => node.server.alarms.isUp('store.write-failed'));
    const options = await probe.ask(request({ method: 'OPTIONS', uri: 'sip:127.0.0.1', fromUser: 'probe', toUser: 'probe', via: probe.via }), port(0));
    t.is(statusOf(options), '200 OK', 'the node is alive');
    t.like(node.server.alarms.list('store.write-failed')[0], { severity: 'critical', count: 1 });

    const code = await runSipp([`127.0.0.1:${port(0)}`, '-sf', FEATURE, '-s', '*21*203', '-au', '201', '-ap', 'demo201',
      '-key', 'caller', '201', '-key', 'codec_pt', '0', '-key', 'codec', 'PCMU',
      '-i', '127.0.0.1', '-p', String(port(12)), '-mi', '127.0.0.1', '-mp', String(port(17)), '-m', '1'], { timeoutMs: 15_000, trace: true });
    t.regex(code.messages, /^SIP\/2\.0 500 Server Internal Error/m, 'a setting it cannot store is refused');
    t.is(node.server.calls.settingsOf('201')?.forwardAll, undefined, 'and not made');

    rmSync(filler);
    await until('the registrations held in memory reach the disk', () => {
      const db = new Database(join(mnt, 'pbx.sqlite'), { readonly: true, fileMustExist: true });
      try {
        return (db.prepare("SELECT count(*) AS n FROM bindings WHERE aor = '202'").get() as { n: number }).n === 1;
      } finally {
        db.close();
      }
    }, 15_000);
    t.true(await eventually(() => !node.server.alarms.isUp('store.write-failed'), 5000), 'the alarm clears');
    t.is((await reg('203', port(13))).code, 0);
  } finally {
    probe.close();
    await node.close();
    execFileSync('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
  }
});
