/**
 * Voicemail email forwarding against a real SMTP server (smtp-server on 127.0.0.1): a message
 * arrives with its WAV byte for byte; a message queued while no server listens is delivered once
 * one does; the outbox survives a restart and the deletion of the original message; a 5xx refusal
 * is logged as an error and retried. Also: the voicemail prompts load, and the helpers built on them.
 */
import test from 'ava';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SmtpConfig } from '../../src/core/config/voicemail-schema.js';
import { createTestLogger, type TestLogger } from '../../src/core/logger.js';
import { Store } from '../../src/core/store.js';
import { EmailForwarder, type EmailMessage } from '../../src/features/voicemail/email.js';
import { BEEP, concatPcm, digitsOf, loadVoicemailPrompts, VOICEMAIL_PROMPTS } from '../../src/features/voicemail/prompts.js';
import { renderTones } from '../../src/media/index.js';
import { portBlock } from '../helpers/ports.js';
import { hasTone, lacksTone } from '../helpers/tone.js';
import { startSmtp, wavAttachment, header } from '../helpers/smtp.js';
import { sleep, until } from '../helpers/wait.js';

const port = portBlock(24);

/** A 16-bit PCM 8 kHz mono WAV of a 1 kHz tone. */
function toneWav(path: string, seconds = 1): Buffer {
  const n = 8000 * seconds;
  const buf = Buffer.alloc(44 + n * 2);
  buf.write('RIFF', 0, 'ascii');
  buf.writeUInt32LE(36 + n * 2, 4);
  buf.write('WAVEfmt ', 8, 'ascii');
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20); // PCM
  buf.writeUInt16LE(1, 22);
  buf.writeUInt32LE(8000, 24);
  buf.writeUInt32LE(16000, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write('data', 36, 'ascii');
  buf.writeUInt32LE(n * 2, 40);
  for (let i = 0; i < n; i++) buf.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 1000 * i) / 8000)), 44 + i * 2);
  writeFileSync(path, buf);
  return buf;
}

interface Setup {
  dir: string;
  dbPath: string;
  store: Store;
  logger: TestLogger;
  smtp: SmtpConfig;
  open(): EmailForwarder;
  message(extra?: Partial<EmailMessage>): { m: EmailMessage; wav: Buffer };
  cleanup(): void;
}

function setup(smtpPort: number, retry: Partial<SmtpConfig> = {}): Setup {
  const dir = mkdtempSync(join(tmpdir(), 'vm-email-'));
  const dbPath = join(dir, 'store.db');
  const s: Setup = {
    dir,
    dbPath,
    store: Store.open(dbPath),
    logger: createTestLogger('debug'),
    smtp: { host: '127.0.0.1', port: smtpPort, starttls: false, from: 'voicemail@pbx.test', retrySeconds: 1, retryMaxSeconds: 2, ...retry },
    open: () => new EmailForwarder({ store: s.store, smtp: s.smtp, dir: join(dir, 'outbox'), logger: s.logger }),
    message(extra = {}) {
      const wavPath = join(dir, `msg-${Math.random().toString(36).slice(2)}.wav`);
      const wav = toneWav(wavPath);
      const m: EmailMessage = {
        to: 'alice@example.test',
        mailbox: '201',
        mailboxName: 'Alice Smith',
        caller: '202',
        callerName: 'Bob',
        receivedAt: Date.UTC(2026, 10, 25, 1, 40, 5),
        durationMs: 5_200,
        wavPath,
        ...extra,
      };
      return { m, wav };
    },
    cleanup() {
      if (!s.store.closed) s.store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return s;
}

test('a message enqueued while the server is up arrives with its WAV byte for byte', async (t) => {
  const smtp = await startSmtp(port(0));
  const s = setup(port(0));
  const fwd = s.open();
  t.teardown(async () => {
    fwd.close();
    await smtp.close();
    s.cleanup();
  });
  const { m, wav } = s.message();
  fwd.enqueue(m);
  // Hard-linked, not copied, when the outbox is on the same file system.
  const [copy] = readdirSync(join(s.dir, 'outbox'));
  t.is(statSync(join(s.dir, 'outbox', copy!)).ino, statSync(m.wavPath).ino);
  await until('the email', () => smtp.got.length === 1, 5000);
  const mail = smtp.got[0]!;
  t.is(mail.from, 'voicemail@pbx.test');
  t.deepEqual(mail.to, ['alice@example.test']);
  t.is(header(mail.raw.slice(0, mail.raw.indexOf('\r\n\r\n')), 'Subject'), 'Voicemail from Bob 202 (0:05)');
  const att = wavAttachment(mail.raw);
  t.regex(att.filename, /^message-\d+\.wav$/);
  t.is(att.type, 'audio/wav');
  t.true(att.bytes.equals(wav));
  await until('the sent count', () => fwd.status().sent === 1, 2000);
  t.deepEqual(fwd.status(), { queued: 0, sent: 1, failures: 0 });
  t.deepEqual(readdirSync(join(s.dir, 'outbox')), []);
  t.true(existsSync(m.wavPath), 'the message itself stays');
  t.is((s.store.prepare('SELECT COUNT(*) AS n FROM voicemail_email_outbox').get() as { n: number }).n, 0);
  t.true(s.logger.records.some((r) => r.level === 'info' && r.message === 'voicemail email sent'));
});

test('the audio is copied where a hard link cannot be made (another file system)', async (t) => {
  // /dev/shm is a tmpfs on Linux; elsewhere, or on the same device as tmpdir(), nothing to test.
  if (!existsSync('/dev/shm') || statSync('/dev/shm').dev === statSync(tmpdir()).dev) return t.pass();
  const smtp = await startSmtp(port(6));
  const s = setup(port(6));
  const other = mkdtempSync('/dev/shm/vm-email-');
  const fwd = s.open();
  t.teardown(async () => {
    fwd.close();
    await smtp.close();
    s.cleanup();
    rmSync(other, { recursive: true, force: true });
  });
  const { m, wav } = s.message({ wavPath: join(other, 'msg.wav') });
  toneWav(m.wavPath);
  fwd.enqueue(m);
  unlinkSync(m.wavPath); // the copy, unlike a link, must not need the original
  await until('the email', () => smtp.got.length === 1, 5000);
  t.true(wavAttachment(smtp.got[0]!.raw).bytes.equals(wav));
});

test('a message enqueued while nothing listens is delivered once the server is up', async (t) => {
  const s = setup(port(1));
  const fwd = s.open();
  let smtp: Awaited<ReturnType<typeof startSmtp>> | undefined;
  t.teardown(async () => {
    fwd.close();
    await smtp?.close();
    s.cleanup();
  });
  const { m, wav } = s.message();
  fwd.enqueue(m);
  await until('a failed attempt', () => fwd.status().failures >= 1, 5000);
  t.is(fwd.status().queued, 1);
  const warn = s.logger.records.find((r) => r.level === 'warn' && r.message === 'voicemail email not sent');
  t.truthy(warn);
  t.is(warn!.retryInSeconds, 1);
  smtp = await startSmtp(port(1));
  await until('the email after the server started', () => smtp!.got.length === 1, 8000);
  t.true(wavAttachment(smtp.got[0]!.raw).bytes.equals(wav));
  await until('an empty outbox', () => fwd.status().queued === 0, 2000);
});

test('the outbox survives a restart and the deletion of the original message', async (t) => {
  const s = setup(port(2));
  let smtp: Awaited<ReturnType<typeof startSmtp>> | undefined;
  let second: EmailForwarder | undefined;
  t.teardown(async () => {
    second?.close();
    await smtp?.close();
    s.cleanup();
  });
  const first = s.open();
  const { m, wav } = s.message();
  first.enqueue(m);
  await until('a failed attempt', () => first.status().failures >= 1, 5000);
  first.close();
  first.close(); // idempotent
  t.throws(() => first.enqueue(m), { message: /closed/ });
  s.store.close();
  unlinkSync(m.wavPath); // the user deleted the message meanwhile

  s.store = Store.open(s.dbPath);
  second = s.open();
  t.is(second.status().queued, 1);
  smtp = await startSmtp(port(2));
  await until('the email after the restart', () => smtp!.got.length === 1, 8000);
  t.true(wavAttachment(smtp.got[0]!.raw).bytes.equals(wav));
  await until('an empty outbox', () => second!.status().queued === 0, 2000);
  t.deepEqual(readdirSync(join(s.dir, 'outbox')), []);
});

test('a 5xx refusal is logged as an error and retried at the longest interval', async (t) => {
  const smtp = await startSmtp(port(3), 550);
  const s = setup(port(3), { retrySeconds: 1, retryMaxSeconds: 2 });
  const fwd = s.open();
  t.teardown(async () => {
    fwd.close();
    await smtp.close();
    s.cleanup();
  });
  fwd.enqueue(s.message().m);
  await until('two refused attempts', () => fwd.status().failures >= 2, 8000);
  t.is(fwd.status().queued, 1);
  const err = s.logger.records.find((r) => r.level === 'error' && r.message === 'voicemail email refused by the SMTP server');
  t.truthy(err);
  t.is(err!.responseCode, 550);
  t.is(err!.retryInSeconds, 2, 'the longest interval at once');
  t.is(smtp.got.length, 0);
  const row = s.store.prepare('SELECT attempts, last_error FROM voicemail_email_outbox').get() as { attempts: number; last_error: string };
  t.true(row.attempts >= 2);
  t.regex(row.last_error, /550/);
});

test('close() aborts a send in flight and leaves no socket behind', async (t) => {
  // A server that accepts the connection and never greets: the send hangs until close().
  const sockets: Socket[] = [];
  const closed: Promise<void>[] = [];
  const silent = createServer((sock) => {
    sockets.push(sock);
    closed.push(new Promise((ok) => sock.on('close', () => ok())));
    sock.on('error', () => {});
  });
  await new Promise<void>((ok) => silent.listen(port(5), '127.0.0.1', () => ok()));
  const s = setup(port(5));
  const fwd = s.open();
  t.teardown(async () => {
    fwd.close();
    for (const sock of sockets) sock.destroy();
    await new Promise<void>((ok) => silent.close(() => ok()));
    s.cleanup();
  });
  fwd.enqueue(s.message().m);
  await until('the connection', () => sockets.length === 1, 3000);
  fwd.close();
  await Promise.race([closed[0], sleep(2000).then(() => t.fail('socket still open after close()'))]);
  t.is(fwd.status().failures, 0, 'an abort by close() is not a failure');
  t.is((s.store.prepare('SELECT COUNT(*) AS n FROM voicemail_email_outbox').get() as { n: number }).n, 1, 'the row stays');
});

test('bad input is refused with a TypeError naming the field', (t) => {
  const s = setup(port(4));
  const fwd = s.open();
  t.teardown(() => {
    fwd.close();
    s.cleanup();
  });
  const { m } = s.message();
  t.throws(() => fwd.enqueue({ ...m, to: 'nobody' }), { instanceOf: TypeError, message: /^m\.to:/ });
  t.throws(() => fwd.enqueue({ ...m, durationMs: NaN }), { instanceOf: TypeError, message: /^m\.durationMs:/ });
  t.throws(() => fwd.enqueue({ ...m, wavPath: '' }), { instanceOf: TypeError, message: /^m\.wavPath:/ });
  t.throws(() => fwd.enqueue({ ...m, wavPath: join(s.dir, 'missing.wav') }), { message: /missing\.wav/ });
  t.is(fwd.status().queued, 0, 'a failed enqueue leaves no row');
  t.throws(() => new EmailForwarder({ store: s.store, smtp: { ...s.smtp, port: 0 }, dir: s.dir, logger: s.logger }), {
    instanceOf: TypeError,
    message: /^opts\.smtp\.port:/,
  });
  t.throws(() => new EmailForwarder({ store: s.store, smtp: s.smtp, dir: '', logger: s.logger }), { instanceOf: TypeError, message: /^opts\.dir:/ });
});

test('voicemail prompts load, speak digits and join with gaps', (t) => {
  const p = loadVoicemailPrompts();
  t.is(Object.keys(p).length, VOICEMAIL_PROMPTS.length);
  for (const name of VOICEMAIL_PROMPTS) {
    t.true(p[name].length > 8000 * 0.3, `${name} has audio`);
    t.true(p[name].length < 8000 * 10, `${name} is short`);
  }
  const digits = digitsOf(p, '201');
  t.deepEqual(digits, [p['digit-2'], p['digit-0'], p['digit-1']]);
  t.throws(() => digitsOf(p, '2*1'), { instanceOf: TypeError, message: /^number:/ });
  const greeting = concatPcm([p.extension, ...digits, p['not-available']], 100);
  t.is(greeting.length, p.extension.length + digits.reduce((n, d) => n + d.length, 0) + p['not-available'].length + 4 * 800);
  t.is(greeting[p.extension.length + 10], 0, 'silence between parts');
  t.is(concatPcm([]).length, 0);

  const beep = renderTones(BEEP);
  t.is(beep.length, 3200);
  t.true(hasTone(beep, 800, 0.9));
  t.true(lacksTone(beep, 1000));
});

test('a missing voicemail prompt is named in the error', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vm-prompts-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(new URL('../../prompts/voicemail', import.meta.url).pathname, dir, { recursive: true });
  unlinkSync(join(dir, 'pin-changed.wav'));
  t.throws(() => loadVoicemailPrompts(dir), { message: /pin-changed\.wav cannot be read/ });
  writeFileSync(join(dir, 'pin-changed.wav'), 'not a wav');
  t.throws(() => loadVoicemailPrompts(dir), { message: /pin-changed\.wav is not a usable WAV/ });
});
