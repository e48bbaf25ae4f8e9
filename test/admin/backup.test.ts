/**
 * Backup and restore with real phones: a caller leaves a message (a 1 kHz tone) at 202; `pbx
 * backup` makes a set while the node runs; a damaged copy and a restore over another node's
 * configuration are refused and change nothing; the set restored onto a new node (another
 * folder) starts, and 202 dials *17 there and hears the restored message. Scheduled backups keep
 * the newest `keep` sets.
 */
import test from 'ava';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BackupSchedule } from '../../src/admin/backup-schedule.js';
import { verifyBackup } from '../../src/admin/backup.js';
import { loadConfig } from '../../src/core/config/index.js';
import { createTestLogger, type TestLogger } from '../../src/core/logger.js';
import { Server } from '../../src/server.js';
import { lastHeard, makeToneWav, startPhone, type Baresip } from '../helpers/baresip.js';
import { cli } from '../helpers/config.js';
import { portBlock } from '../helpers/ports.js';
import { startServer } from '../helpers/server.js';
import { hasTone, toneRatio } from '../helpers/tone.js';
import { sleep, until } from '../helpers/wait.js';

const port = portBlock(123);

function nodeYaml(dir: string, name = 'node1'): string {
  return `node: { name: ${name} }
sip:
  listen:
    - { transport: udp, address: 127.0.0.1, port: ${port(0)} }
storage: { path: ${JSON.stringify(join(dir, 'pbx.sqlite'))} }
voicemail: { dir: ${JSON.stringify(join(dir, 'voicemail'))}, minMessageSeconds: 1 }
media: { portMin: 40000, portMax: 49999 }
admin: { enabled: false }
calls: { musicOnHold: ${JSON.stringify(join(dir, 'moh.wav'))} }
users:
  - { extension: "201", password: demo201 }
  - { extension: "202", password: demo202, forward: { noAnswerSeconds: 5 }, voicemail: { pin: "2580" } }
`;
}

async function startFrom(file: string, logger: TestLogger): Promise<Server> {
  const s = new Server(loadConfig(file), logger, { source: { text: readFileSync(file, 'utf8'), path: file } });
  await s.start();
  return s;
}

const logged = (l: TestLogger, re: RegExp) => () => l.records.some((r) => re.test(String(r.message)));

async function keys(bs: Baresip, digits: string): Promise<void> {
  for (const d of digits) {
    bs.command('sndcode', d);
    await sleep(250);
  }
}

test('a set made while the node runs is checked, refused when damaged or foreign, and restored onto a new node whose 202 hears the message', async (t) => {
  const a = mkdtempSync(join(tmpdir(), 'pbx-backup-a-'));
  const b = mkdtempSync(join(tmpdir(), 'pbx-backup-b-'));
  const set = join(a, 'set');
  const fileA = join(a, 'pbx.yaml');
  writeFileSync(fileA, nodeYaml(a));
  makeToneWav(join(a, 'moh.wav'), 300, 2);
  const phones: Baresip[] = [];
  const phone = async (dir: string, ext: string, n: number, freq: number) => {
    const p = await startPhone({ dir, ext, freq, listen: `127.0.0.${120 + n}:${port(100 + n)}`, ctrlPort: port(150 + n), server: `127.0.0.1:${port(0)}` });
    phones.push(p);
    return p;
  };
  const logA = createTestLogger('info');
  let node = await startFrom(fileA, logA);
  try {
    const caller = await phone(a, '201', 1, 1000);
    await phone(a, '202', 2, 440);
    caller.command('dial', `sip:202@127.0.0.1:${port(0)}`);
    await until('the recording to start', logged(logA, /voicemail 202: recording message/), 20_000);
    await sleep(4000);
    caller.command('hangup');
    await until('the message to be kept', logged(logA, /voicemail 202: message \d+ kept/), 10_000);
    for (const p of phones.splice(0)) await p.stop();

    const r = await cli('backup', '--config', fileA, '--out', set);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /backup of node node1: .*\n  \d+ files, [\d.]+ MB: configuration, store, 1 voicemail files, 1 custom prompts/);
    t.regex(r.stderr, /voicemail: 1 \/ 1/, 'progress shown');
    t.deepEqual(await verifyBackup(set), []);
    const manifest = JSON.parse(readFileSync(join(set, 'manifest.json'), 'utf8'));
    t.is(manifest.node.name, 'node1');
    t.is(manifest.configRevision, 1);
    t.truthy(manifest.installation);
    await node.close();

    // damaged: one byte of the message changed
    const damaged = join(a, 'damaged');
    cpSync(set, damaged, { recursive: true });
    const msg = manifest.files.find((f: { kind: string }) => f.kind === 'voicemail').path as string;
    const bytes = readFileSync(join(damaged, msg));
    bytes[bytes.length - 10] ^= 0xff;
    writeFileSync(join(damaged, msg), bytes);
    const fileB = join(b, 'pbx.yaml');
    const d = await cli('restore', '--from', damaged, '--config', fileB, '--storage', join(b, 'pbx.sqlite'), '--voicemail-dir', join(b, 'voicemail'));
    t.is(d.code, 1);
    t.true(d.stderr.includes(`pbx restore: refused: ${damaged} is damaged; nothing was restored:\n  - ${msg}: checksum differs from the manifest (damaged)`), d.stderr);
    t.false(existsSync(fileB), 'nothing written');
    // foreign: the target is another node's configuration
    const other = join(b, 'other.yaml');
    writeFileSync(other, nodeYaml(join(b, 'other'), 'node2'));
    const f = await cli('restore', '--from', set, '--config', other);
    t.is(f.code, 1);
    t.regex(f.stderr, /refused: the set is a backup of node node1, and .*other\.yaml is the configuration of node node2/);
    const notOurs = await cli('restore', '--from', b, '--config', fileB);
    t.regex(notOurs.stderr, /is not a pbx-core backup: manifest\.json is missing/);

    rmSync(join(a, 'moh.wav'));
    const ok = await cli('restore', '--from', set, '--config', fileB, '--storage', join(b, 'pbx.sqlite'), '--voicemail-dir', join(b, 'voicemail'));
    t.is(ok.code, 0, ok.stderr);
    t.true(existsSync(join(a, 'moh.wav')), 'the custom music on hold is back where the configuration names it');
    const again = await cli('restore', '--from', set, '--config', fileB);
    t.regex(again.stderr, /exists: this restores node node1 over it only with --force/);

    const logB = createTestLogger('info');
    node = await startFrom(fileB, logB);
    t.is(node.config.storage.path, join(b, 'pbx.sqlite'));
    t.deepEqual(node.voicemail!.store.counts('202'), { new: 1, saved: 0 });
    const owner = await phone(b, '202', 3, 440);
    owner.command('dial', `sip:*17@127.0.0.1:${port(0)}`);
    await owner.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 10_000);
    await sleep(1000);
    await keys(owner, '2580#');
    await sleep(1500);
    await keys(owner, '4739#');
    await sleep(1500);
    await keys(owner, '4739#');
    await until('the PIN change', logged(logB, /voicemail 202: PIN changed/), 10_000);
    await sleep(1000);
    await keys(owner, '1');
    await sleep(8000);
    owner.command('hangup');
    await owner.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
    const heard = await lastHeard(owner);
    t.true(hasTone(heard, 1000, 0.02), `202 heard the restored message's tone (ratio ${toneRatio(heard, 1000).toFixed(3)})`);
    t.deepEqual(node.voicemail!.store.counts('202'), { new: 0, saved: 1 });
  } finally {
    for (const p of phones) await p.stop();
    await node.close();
  }
});

test('scheduled backups: a set per run, only the newest `keep` kept; a failure raises an alarm and the next run clears it', async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'pbx-sched-'));
  const dir = join(base, 'backups');
  const node = await startServer({ udp: port(20), dir: base, admin: `enabled: false, backup: { dir: ${JSON.stringify(dir)}, everyHours: 24, keep: 2 }` });
  const schedule = new BackupSchedule(node.server, node.logger);
  try {
    t.true(node.server.parts.includes('backup-schedule'), 'the node runs the schedule');
    const made: string[] = [];
    for (let i = 0; i < 3; i++) {
      const m = await schedule.runNow();
      t.truthy(m);
      made.push(readdirSync(dir).sort().at(-1)!);
      await sleep(5);
    }
    t.deepEqual(readdirSync(dir).sort(), made.slice(1), 'the oldest set went, the newest 2 stay');
    for (const s of made.slice(1)) t.deepEqual(await verifyBackup(join(dir, s)), []);
    // a file where the backup folder should be: the backup fails, an alarm says so
    rmSync(dir, { recursive: true });
    writeFileSync(dir, 'not a folder');
    t.is(await schedule.runNow(), undefined);
    t.true(node.server.alarms.isUp('backup-failed'));
    rmSync(dir);
    t.truthy(await schedule.runNow());
    t.false(node.server.alarms.isUp('backup-failed'));
  } finally {
    await schedule.close();
    await node.close();
  }
});
