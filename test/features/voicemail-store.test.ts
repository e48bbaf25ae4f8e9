import test from 'ava';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestLogger, type TestLogger } from '../../src/core/logger.js';
import { Store } from '../../src/core/store.js';
import { checkPinPolicy, hashPin, verifyPin } from '../../src/features/voicemail/pin.js';
import { MailboxError, MailboxStore, type MailboxDef, type MailboxStoreOptions } from '../../src/features/voicemail/store.js';
import { pcm16WavHeader, repairWav } from '../../src/media/wav-repair.js';
import { parseWav } from '../../src/media/wav.js';

const MAILBOXES: MailboxDef[] = [
  { id: '201', kind: 'user', name: 'Alice', pin: '2580' },
  { id: '202', kind: 'user', name: 'Bob', quotaMinutes: 1 },
  { id: '600', kind: 'group', name: 'Sales' },
];

function setup(over: Partial<MailboxStoreOptions> = {}) {
  const root = mkdtempSync(join(tmpdir(), 'vm-store-'));
  const store = Store.open(join(root, 'db.sqlite'));
  const logger = createTestLogger();
  const opts: MailboxStoreOptions = {
    store, dir: join(root, 'vm'), mailboxes: MAILBOXES, mailboxQuotaMinutes: 10, nodeQuotaMinutes: 100, minFreeBytes: 0, logger, ...over,
  };
  return { root, store, logger, opts, boxes: new MailboxStore(opts) };
}

/** A recording as the engine leaves it: header sizes for `declaredMs`, audio for `actualMs` (+ `extra` bytes). */
function writeRecording(path: string, actualMs: number, declaredMs = actualMs, extra = 0): void {
  const data = Buffer.alloc(actualMs * 16 + extra);
  for (let i = 0; i + 1 < data.length; i += 2) data.writeInt16LE(Math.round(8000 * Math.sin(i / 10)), i);
  writeFileSync(path, Buffer.concat([pcm16WavHeader(declaredMs * 16), data]));
}

function logged(logger: TestLogger, level: string, re: RegExp) {
  return logger.records.filter((r) => r.level === level && re.test(String(r.message)));
}

test('PIN policy', (t) => {
  const p = { minLength: 4, complexity: true, mailbox: '2019' };
  t.is(checkPinPolicy('2580', p), undefined);
  t.is(checkPinPolicy('', p), 'must be 1 to 15 digits');
  t.is(checkPinPolicy('12a4', p), 'must be 1 to 15 digits');
  t.is(checkPinPolicy('1234567890123456', p), 'must be 1 to 15 digits');
  t.is(checkPinPolicy('258', p), 'must be at least 4 digits');
  t.is(checkPinPolicy('1111', p), 'must not be one digit repeated');
  t.is(checkPinPolicy('1234', p), 'must not be an ascending run of digits');
  t.is(checkPinPolicy('0123', p), 'must not be an ascending run of digits');
  t.is(checkPinPolicy('9876', p), 'must not be a descending run of digits');
  t.is(checkPinPolicy('8901', p), undefined, 'no wrapping from 9 to 0');
  t.is(checkPinPolicy('2019', p), 'must not be the mailbox number');
  t.is(checkPinPolicy('9102', p), 'must not be the mailbox number reversed');
  // without complexity only the length rules apply
  const loose = { ...p, complexity: false };
  t.is(checkPinPolicy('1111', loose), undefined);
  t.is(checkPinPolicy('2019', loose), undefined);
  t.is(checkPinPolicy('5', { ...p, minLength: 1 }), undefined, 'one digit is not "repeated"');
  t.is(checkPinPolicy('11', { ...p, minLength: 1 }), 'must not be one digit repeated');
  t.throws(() => checkPinPolicy('2580', { ...p, minLength: 0 }), { instanceOf: TypeError, message: /opts\.minLength/ });
  t.throws(() => checkPinPolicy('2580', { ...p, mailbox: 3 as unknown as string }), { instanceOf: TypeError, message: /opts\.mailbox/ });
});

test('PIN hash and verify', (t) => {
  const h = hashPin('2580');
  t.regex(h, /^scrypt\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  t.not(hashPin('2580'), h, 'random salt');
  t.true(verifyPin('2580', h));
  t.false(verifyPin('2581', h));
  t.false(verifyPin('25800', h));
  t.false(verifyPin('*#', h));
  t.false(verifyPin('2580', 'scrypt$bad'));
  t.false(verifyPin('2580', 'plain$x$y'));
  t.throws(() => hashPin('12ab'), { instanceOf: TypeError, message: /^pin:/ });
});

test('repairWav rewrites the sizes from the file length and drops a trailing odd byte', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wav-repair-'));
  const path = join(dir, 'a.wav');
  writeRecording(path, 1500, 1000, 1); // header says 1 s, 1.5 s present, half a sample at the end
  t.is(parseWav(readFileSync(path)).declaredDataBytes, 16_000);
  t.deepEqual(repairWav(path), { samples: 12_000, durationMs: 1500 });
  const buf = readFileSync(path);
  t.is(buf.length, 44 + 24_000);
  t.is(buf.readUInt32LE(4), 36 + 24_000);
  t.is(parseWav(buf).declaredDataBytes, 24_000);
  t.deepEqual(repairWav(path), { samples: 12_000, durationMs: 1500 }, 'idempotent');
  writeFileSync(join(dir, 'short.wav'), Buffer.from('RIFF'));
  t.throws(() => repairWav(join(dir, 'short.wav')), { message: /short\.wav.*shorter than the 44-byte header/ });
  const ulaw = pcm16WavHeader(0);
  ulaw.writeUInt16LE(7, 20);
  writeFileSync(join(dir, 'ulaw.wav'), ulaw);
  t.throws(() => repairWav(join(dir, 'ulaw.wav')), { message: /ulaw\.wav.*format 7/ });
  t.throws(() => repairWav(join(dir, 'missing.wav')), { message: /missing\.wav/ });
});

test('begin, finish (keep and discard), counts, ordering and change events', (t) => {
  const { boxes } = setup();
  const events: [string, { new: number; saved: number }][] = [];
  boxes.on('change', (m, c) => events.push([m, c]));

  const a = boxes.begin('201', '300', 'Carol');
  t.regex(a.path, /[/\\]201[/\\]msg-\d+\.wav$/);
  t.is(a.maxMs, 120_000, 'reserved: the default longest message');
  t.deepEqual(boxes.counts('201'), { new: 0, saved: 0 }, 'a recording in progress is not counted');
  t.deepEqual(boxes.messages('201'), []);
  writeRecording(a.path, 3000, 2500); // header not yet rewritten: the file wins
  const m1 = boxes.finish(a.id, 3000, true);
  t.like(m1, { id: a.id, mailbox: '201', caller: '300', callerName: 'Carol', durationMs: 3000, state: 'new', path: a.path });
  t.deepEqual(events, [['201', { new: 1, saved: 0 }]]);

  const b = boxes.begin('201', '301', 'Dave');
  writeRecording(b.path, 1000);
  t.is(boxes.finish(b.id, 1000, false), undefined, 'discarded');
  t.false(existsSync(b.path), 'discarded file removed');
  t.is(boxes.message(b.id), undefined);
  t.is(events.length, 1, 'no change event for a discarded recording');

  const c = boxes.begin('201', '302', 'Erin');
  t.is(boxes.finish(c.id, 0, true), undefined, 'kept but no file: discarded');
  const d = boxes.begin('201', '303', 'Fay');
  writeRecording(d.path, 2000);
  boxes.finish(d.id, 2000, true);
  t.is(boxes.finish(d.id, 2000, true), undefined, 'finishing twice does nothing');

  t.true(boxes.markSaved(a.id));
  t.false(boxes.markSaved(a.id), 'already saved');
  t.deepEqual(boxes.counts('201'), { new: 1, saved: 1 });
  const e = boxes.begin('201', '304', 'Gus');
  writeRecording(e.path, 1200);
  boxes.finish(e.id, 1200, true);
  t.deepEqual(boxes.messages('201').map((m) => [m.id, m.state]), [[d.id, 'new'], [e.id, 'new'], [a.id, 'saved']]);
  t.deepEqual(boxes.usage(), { messages: 3, minutes: Math.round((6200 / 60_000) * 100) / 100, nodeQuotaMinutes: 100 });

  t.true(boxes.delete(d.id));
  t.false(existsSync(d.path));
  t.false(boxes.delete(d.id), 'already deleted');
  t.deepEqual(boxes.counts('201'), { new: 1, saved: 1 });
  t.deepEqual(events.map((x) => x[1]), [
    { new: 1, saved: 0 }, { new: 2, saved: 0 }, { new: 1, saved: 1 }, { new: 2, saved: 1 }, { new: 1, saved: 1 },
  ]);
  boxes.close();
  boxes.close();
  const f = boxes.begin('201', '305', '');
  writeRecording(f.path, 1000);
  boxes.finish(f.id, 1000, true);
  t.is(events.length, 5, 'no events after close');
  t.throws(() => boxes.begin('999', '1', ''), { instanceOf: MailboxError, message: /999.*no-mailbox/ });
  t.throws(() => boxes.begin('201', 5 as unknown as string, ''), { instanceOf: TypeError, message: /^caller:/ });
});

test('a message whose file is already gone can still be deleted', (t) => {
  const { boxes } = setup();
  const a = boxes.begin('600', '300', '');
  writeRecording(a.path, 1000);
  boxes.finish(a.id, 1000, true);
  rmSync(a.path);
  t.true(boxes.delete(a.id));
  t.is(boxes.message(a.id), undefined);
  t.deepEqual(boxes.counts('600'), { new: 0, saved: 0 });
});

test('mailbox quota: reservations count, maxMs shrinks, then mailbox-full', (t) => {
  const { boxes } = setup();
  // 202 has 1 minute
  t.deepEqual(boxes.canRecord('202'), { ok: true, maxMs: 60_000 });
  const a = boxes.begin('202', '300', '', 40_000);
  t.is(a.maxMs, 40_000);
  t.deepEqual(boxes.canRecord('202'), { ok: true, maxMs: 20_000 }, 'the recording in progress holds its reservation');
  writeRecording(a.path, 30_000);
  boxes.finish(a.id, 30_000, true);
  t.deepEqual(boxes.canRecord('202'), { ok: true, maxMs: 30_000 }, 'the reservation becomes the real length');
  const b = boxes.begin('202', '301', '');
  t.is(b.maxMs, 30_000, 'capped to what is left');
  t.deepEqual(boxes.canRecord('202'), { ok: false, reason: 'mailbox-full' });
  const err = t.throws(() => boxes.begin('202', '302', ''), { instanceOf: MailboxError });
  t.is(err?.code, 'EFULL');
  t.is(err?.reason, 'mailbox-full');
  boxes.finish(b.id, 0, false);
  t.true(boxes.canRecord('202').ok, 'a discarded recording frees its reservation');
  t.deepEqual(boxes.canRecord('999'), { ok: false, reason: 'no-mailbox' });
});

test('node quota across mailboxes', (t) => {
  const { boxes } = setup({ nodeQuotaMinutes: 2 });
  const a = boxes.begin('201', '300', '', 60_000);
  writeRecording(a.path, 60_000);
  boxes.finish(a.id, 60_000, true);
  t.deepEqual(boxes.canRecord('600'), { ok: true, maxMs: 60_000 }, 'node quota left is smaller than the mailbox quota');
  const b = boxes.begin('600', '300', '', 59_500);
  t.deepEqual(boxes.canRecord('201'), { ok: false, reason: 'node-full' }, 'less than a second left');
  t.throws(() => boxes.begin('202', '1', ''), { instanceOf: MailboxError, message: /node-full/ });
  boxes.finish(b.id, 0, false);
  t.deepEqual(boxes.canRecord('201'), { ok: true, maxMs: 60_000 });
});

test('disk-full when free space is below minFreeBytes', (t) => {
  const { boxes, opts } = setup();
  const s = statfsSync(opts.dir);
  const free = s.bavail * s.bsize;
  const full = new MailboxStore({ ...opts, minFreeBytes: free + 1024 ** 3 });
  t.deepEqual(full.canRecord('201'), { ok: false, reason: 'disk-full' });
  t.throws(() => full.begin('201', '1', ''), { instanceOf: MailboxError, message: /disk-full/ });
  t.true(boxes.canRecord('201').ok);
});

test('crash recovery: a recording left by a killed process becomes a new message', (t) => {
  const { root, store, logger, opts, boxes } = setup();
  const a = boxes.begin('201', '300', 'Carol');
  // The engine wrote 2.75 s (+ half a sample) but rewrote the header at 2.5 s, then the process died.
  writeRecording(a.path, 2750, 2500, 1);
  const empty = boxes.begin('201', '301', '');
  writeFileSync(empty.path, pcm16WavHeader(0));
  const missing = boxes.begin('600', '302', '');
  mkdirSync(join(opts.dir, '201'), { recursive: true });
  writeFileSync(join(opts.dir, '201', 'greeting.tmp'), 'half a greeting');
  boxes.close();
  store.close();

  const store2 = Store.open(join(root, 'db.sqlite'));
  const after = new MailboxStore({ ...opts, store: store2, logger });
  t.deepEqual(after.recovered.map((m) => [m.id, m.durationMs, m.state]), [[a.id, 2750, 'new']]);
  t.like(after.message(a.id), { state: 'new', durationMs: 2750, caller: '300', callerName: 'Carol' });
  t.deepEqual(after.counts('201'), { new: 1, saved: 0 });
  t.is(after.message(empty.id), undefined);
  t.is(after.message(missing.id), undefined);
  t.false(existsSync(empty.path), 'empty recording removed');
  t.false(existsSync(join(opts.dir, '201', 'greeting.tmp')), 'stale temp removed');
  const buf = readFileSync(a.path);
  t.is(parseWav(buf).declaredDataBytes, 2750 * 16, 'header repaired');
  t.is(buf.length, 44 + 2750 * 16, 'odd byte dropped');
  t.is(logged(logger, 'info', /recovered message/).length, 1);
  // reservations of the dead recordings are gone: the whole quota is back minus the message
  t.deepEqual(after.canRecord('201'), { ok: true, maxMs: 600_000 - 2750 });
  store2.close();
});

test('starting PIN must be changed; the owner PIN survives a configuration change', (t) => {
  const { root, store, logger, opts, boxes } = setup();
  t.deepEqual(boxes.pinState('201'), { set: true, mustChange: true });
  t.deepEqual(boxes.pinState('202'), { set: false, mustChange: false });
  t.true(boxes.checkPin('201', '2580'));
  t.false(boxes.checkPin('201', '0000'));
  t.false(boxes.checkPin('202', ''));
  const policy = { minLength: 4, complexity: true };
  t.is(boxes.setPin('201', '1234', policy), 'must not be an ascending run of digits');
  t.is(boxes.setPin('201', '2580', policy), 'must differ from the starting PIN');
  t.is(boxes.setPin('201', '4711', policy), undefined);
  t.deepEqual(boxes.pinState('201'), { set: true, mustChange: false });
  t.true(boxes.checkPin('201', '4711'));
  t.false(boxes.checkPin('201', '2580'), 'the starting PIN no longer opens it');
  t.throws(() => boxes.checkPin('999', '1'), { instanceOf: TypeError, message: /^mailbox:/ });
  store.close();

  // configuration changes 201's starting PIN and gives 202 one
  const changed = MAILBOXES.map((m) => (m.id === '201' ? { ...m, pin: '1357' } : m.id === '202' ? { ...m, pin: '9753' } : m));
  const store2 = Store.open(join(root, 'db.sqlite'));
  const again = new MailboxStore({ ...opts, store: store2, logger, mailboxes: changed });
  t.true(again.checkPin('201', '4711'), 'the PIN the owner chose wins');
  t.false(again.checkPin('201', '1357'));
  t.deepEqual(again.pinState('202'), { set: true, mustChange: true });
  t.true(again.checkPin('202', '9753'));
  again.resetPin('201');
  t.deepEqual(again.pinState('201'), { set: true, mustChange: true });
  t.true(again.checkPin('201', '1357'));
  store2.close();
});

test('greeting: commit replaces atomically, remove goes back to the default', (t) => {
  const { root, store, logger, opts, boxes } = setup();
  t.is(boxes.greetingPath('201'), undefined);
  const tmp = boxes.greetingTempPath('201');
  t.regex(tmp, /[/\\]201[/\\]greeting\.tmp$/);
  t.throws(() => boxes.commitGreeting('201'), { message: /greeting\.tmp/ }, 'nothing recorded yet');
  writeRecording(tmp, 2000);
  t.deepEqual(boxes.commitGreeting('201'), { durationMs: 2000 });
  const path = boxes.greetingPath('201')!;
  t.regex(path, /[/\\]201[/\\]greeting\.wav$/);
  t.false(existsSync(tmp));
  t.is(parseWav(readFileSync(path)).dataBytes, 32_000);

  writeFileSync(tmp, pcm16WavHeader(0)); // a new attempt without audio leaves the old greeting
  t.throws(() => boxes.commitGreeting('201'), { message: /no audio/ });
  t.is(parseWav(readFileSync(path)).dataBytes, 32_000);

  writeRecording(tmp, 3000);
  boxes.commitGreeting('201');
  t.is(parseWav(readFileSync(path)).dataBytes, 48_000, 'replaced');
  store.close();
  const store2 = Store.open(join(root, 'db.sqlite'));
  const again = new MailboxStore({ ...opts, store: store2, logger });
  t.is(again.greetingPath('201'), path, 'known after a restart');
  t.true(again.removeGreeting('201'));
  t.false(again.removeGreeting('201'));
  t.is(again.greetingPath('201'), undefined);
  t.false(existsSync(path));
  store2.close();
});

test('constructor validates its options', (t) => {
  const { opts } = setup();
  t.throws(() => new MailboxStore({ ...opts, dir: '' }), { instanceOf: TypeError, message: /^opts\.dir:/ });
  t.throws(() => new MailboxStore({ ...opts, nodeQuotaMinutes: 0 }), { instanceOf: TypeError, message: /^opts\.nodeQuotaMinutes:/ });
  t.throws(() => new MailboxStore({ ...opts, mailboxes: [{ id: '../x', kind: 'user', name: '' }] }), {
    instanceOf: TypeError, message: /^opts\.mailboxes\[0\]\.id:/,
  });
  t.throws(() => new MailboxStore({ ...opts, mailboxes: [MAILBOXES[0]!, MAILBOXES[0]!] }), { instanceOf: TypeError, message: /listed twice/ });
  t.throws(() => new MailboxStore({ ...opts, mailboxes: [{ ...MAILBOXES[0]!, pin: '12ab' }] }), { instanceOf: TypeError, message: /\.pin:/ });
});
