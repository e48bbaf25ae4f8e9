import test from 'ava';
import { Writable } from 'node:stream';
import { createLogger, createTestLogger, redact } from '../../src/core/logger.js';

function capture(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  return { stream, text: () => chunks.join('') };
}

const secrets = {
  password: 'hunter2-top',
  sip: { Authorization: 'Digest username="201", response="r3sp0nse"', 'Proxy-Authorization': 'Digest p4'},
  list: [{ auth_pass: 'tr0mb0ne' }],
  user: { Secret: 'n0nce-key', extension: '201' },
};

test('a password never reaches the output, in JSON or text, at any depth', (t) => {
  for (const format of ['json', 'text'] as const) {
    const out = capture();
    const logger = createLogger({ level: 'debug', format }, { stream: out.stream });
    logger.child({ callId: 'c1', password: 'hunter2-top' }).info('register', secrets);
    logger.debug('digest', { credentials: secrets });
    const text = out.text();
    for (const s of ['hunter2-top', 'r3sp0nse', 'p4', 'tr0mb0ne', 'n0nce-key']) t.false(text.includes(s), `${format}: ${s}`);
    t.true(text.includes('[redacted]'));
    t.true(text.includes('201'), 'non-secret fields are kept');
  }
  // The caller's objects are left alone.
  t.is(secrets.password, 'hunter2-top');
  t.is(secrets.list[0]!.auth_pass, 'tr0mb0ne');
});

test('redact copies, keeps non-secrets and survives cycles', (t) => {
  const a: Record<string, unknown> = { name: 'x', userPassword: 'p' };
  a.self = a;
  const r = redact(a);
  t.is(r.name, 'x');
  t.is(r.userPassword, '[redacted]');
  t.is((r.self as Record<string, unknown>).userPassword, '[redacted]');
  t.is(a.userPassword, 'p');
});

test('JSON lines when stdout is not a TTY, carrying the callId of a child logger', (t) => {
  const out = capture();
  const logger = createLogger({ level: 'info', format: 'auto' }, { stream: out.stream, isTTY: false });
  logger.child({ callId: 'a84b4c76e66710@pc33' }).child({ branch: 'z9hG4bK776' }).info('INVITE received', { from: '201' });
  logger.debug('below the level');
  const lines = out.text().trim().split('\n');
  t.is(lines.length, 1);
  const rec = JSON.parse(lines[0]!);
  t.like(rec, { level: 'info', message: 'INVITE received', callId: 'a84b4c76e66710@pc33', branch: 'z9hG4bK776', from: '201' });
  t.is(typeof rec.timestamp, 'string');
});

test('readable lines on a TTY', (t) => {
  const out = capture();
  createLogger({ level: 'info', format: 'auto' }, { stream: out.stream, isTTY: true }).warn('lockout', { source: '192.0.2.1' });
  t.regex(out.text(), /^\d\d:\d\d:\d\d\.\d{3} .*warn.* lockout \{"source":"192\.0\.2\.1"\}\n$/);
});

test('createTestLogger captures records, errors included', (t) => {
  const log = createTestLogger();
  log.child({ callId: 'x' }).error('failed', { err: new Error('boom'), password: 'p' });
  t.is(log.records.length, 1);
  t.like(log.records[0], { callId: 'x', message: 'failed', password: '[redacted]', err: { message: 'boom' } });
});
