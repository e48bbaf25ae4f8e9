/**
 * Call records: the SQLite store, the SMDR stream read by plain TCP clients (node:net, as a
 * billing system reads it), and the facade that must never throw into the call path.
 */
import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import { ConfigError, parseConfig } from '../../src/core/config/index.js';
import { createTestLogger, type TestLogger } from '../../src/core/logger.js';
import { Store } from '../../src/core/store.js';
import {
  CallRecords,
  CdrStore,
  SMDR_FIELDS,
  SMDR_HEADER,
  SmdrServer,
  formatSmdr,
  openCallRecords,
  type CallRecord,
} from '../../src/features/cdr/index.js';
import { portBlock } from '../helpers/ports.js';

const port = portBlock(30);

const ANSWERED: CallRecord = {
  id: 'node1-000042',
  start: new Date('2026-11-24T10:00:00.250Z'),
  answer: new Date('2026-11-24T10:00:07.750Z'),
  end: new Date('2026-11-24T11:02:03.250Z'),
  callerNumber: '201',
  callerName: 'Smith, "Bob"',
  calledNumber: '202',
  connectedNumber: '202',
  direction: 'internal',
  legs: [
    {
      role: 'caller',
      sipCallId: 'a84b4c76e66710@192.0.2.4',
      party: '201',
      codec: 'PCMU',
      quality: { packetsLost: 3, fractionLost: 0.01171875, jitterMs: 4.5, rttMs: 12 },
    },
    {
      role: 'callee',
      sipCallId: 'b2bua-7f3a@127.0.0.1',
      party: '202',
      codec: 'PCMA',
      quality: { packetsLost: -1, fractionLost: 0, jitterMs: 0.25, rttMs: undefined },
    },
  ],
  durationSec: 3715.5,
  ringSec: 7.5,
  disposition: 'answered',
  cause: 'caller BYE',
};

const BUSY: CallRecord = {
  id: 'node1-000043',
  start: new Date('2026-11-24T12:00:00.000Z'),
  answer: undefined,
  end: new Date('2026-11-24T12:00:02.000Z'),
  callerNumber: '+442071234567',
  callerName: '',
  calledNumber: '01234567',
  connectedNumber: undefined,
  direction: 'incoming',
  legs: [{ role: 'caller', sipCallId: 'trunk-1@203.0.113.9', party: 'sip-trunk', codec: undefined, quality: undefined }],
  durationSec: 0,
  ringSec: 2,
  disposition: 'busy',
  cause: '486',
};

/** A record like `base` with another id and start (ms after base's start) and the given changes. */
function variant(base: CallRecord, n: number, changes: Partial<CallRecord> = {}): CallRecord {
  const start = new Date(base.start.getTime() + n * 1000);
  return { ...base, id: `${base.id}-${n}`, start, end: new Date(start.getTime() + 2000), answer: undefined, ...changes };
}

function tempFile(): string {
  return join(mkdtempSync(join(tmpdir(), 'pbx-cdr-')), 'pbx.sqlite');
}

/** One CSV line per RFC 4180 (the test's own reader, as a billing import would parse it). */
function parseCsvLine(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    let v = '';
    if (line[i] === '"') {
      for (i++; ; i++) {
        if (line[i] === '"' && line[i + 1] === '"') (v += '"'), i++;
        else if (line[i] === '"') break;
        else if (i >= line.length) throw new Error(`unterminated quote in ${line}`);
        else v += line[i];
      }
      i++;
    } else {
      while (i < line.length && line[i] !== ',') v += line[i++];
    }
    out.push(v);
    if (i >= line.length) return out;
    if (line[i] !== ',') throw new Error(`bad CSV at ${i}: ${line}`);
    i++;
  }
}

/** A billing system's end of the SMDR stream: raw text, split into CRLF-terminated lines. */
class SmdrClient {
  text = '';
  readonly socket: Socket;
  readonly closed: Promise<void>;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (this.text += d));
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  /** Connected and the header received, so the server has registered this client. */
  static async connect(p: number): Promise<SmdrClient> {
    const socket = connect({ host: '127.0.0.1', port: p });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const client = new SmdrClient(socket);
    await client.lines(1);
    return client;
  }

  get complete(): string[] {
    const parts = this.text.split('\r\n');
    parts.pop();
    return parts;
  }

  async lines(n: number, timeoutMs = 5000): Promise<string[]> {
    const until = Date.now() + timeoutMs;
    while (this.complete.length < n) {
      if (Date.now() > until) throw new Error(`expected ${n} lines, got ${this.complete.length}: ${this.text.slice(0, 500)}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    return this.complete;
  }

  end(): Promise<void> {
    this.socket.end();
    return this.closed;
  }
}

function logged(logger: TestLogger, level: string, message: RegExp) {
  return logger.records.filter((r) => r.level === level && message.test(String(r.message)));
}

test('records are written and queried back with every field, newest first, by time and by number', (t) => {
  const store = Store.open(':memory:');
  const cdr = new CdrStore(store);
  t.is(cdr.count(), 0);
  cdr.write(ANSWERED);
  cdr.write(BUSY);
  cdr.write(variant(BUSY, 60, { callerNumber: '203', calledNumber: '9123', connectedNumber: '204', direction: 'outgoing' }));
  t.is(cdr.count(), 3);

  const all = cdr.query();
  t.deepEqual(all.map((r) => r.id), ['node1-000043-60', 'node1-000043', 'node1-000042']);
  t.deepEqual(all[2], ANSWERED);
  t.deepEqual(all[1], BUSY);
  t.true(all[2]!.start instanceof Date && all[2]!.legs[1]!.quality!.rttMs === undefined);

  t.deepEqual(cdr.query({ from: BUSY.start }).map((r) => r.id), ['node1-000043-60', 'node1-000043']);
  t.deepEqual(cdr.query({ to: BUSY.start }).map((r) => r.id), ['node1-000042'], 'to is exclusive');
  t.deepEqual(cdr.query({ from: ANSWERED.start, to: new Date(BUSY.start.getTime() + 1) }).map((r) => r.id), ['node1-000043', 'node1-000042']);
  t.deepEqual(cdr.query({ number: '202' }).map((r) => r.id), ['node1-000042'], 'called and connected');
  t.deepEqual(cdr.query({ number: '+442071234567' }).map((r) => r.id), ['node1-000043'], 'caller');
  t.deepEqual(cdr.query({ number: '204' }).map((r) => r.id), ['node1-000043-60'], 'connected only');
  t.deepEqual(cdr.query({ number: '204', from: ANSWERED.end }).map((r) => r.id), ['node1-000043-60']);
  t.deepEqual(cdr.query({ limit: 1 }).map((r) => r.id), ['node1-000043-60']);
  store.close();
});

test('bad records and filters are refused with a TypeError naming the field', (t) => {
  const store = Store.open(':memory:');
  const cdr = new CdrStore(store);
  const bad = (r: unknown) => t.throws(() => cdr.write(r as CallRecord), { instanceOf: TypeError }).message;
  t.regex(bad({ ...ANSWERED, direction: 'sideways' }), /^record\.direction: must be one of internal, incoming, outgoing/);
  t.regex(bad({ ...ANSWERED, end: new Date('nope') }), /^record\.end: must be a valid Date/);
  t.regex(bad({ ...ANSWERED, id: '' }), /^record\.id: /);
  t.regex(bad({ ...ANSWERED, legs: [{ ...ANSWERED.legs[0], codec: 'G729' }] }), /^record\.legs\[0\]\.codec: /);
  t.regex(bad({ ...ANSWERED, legs: [{ ...ANSWERED.legs[0], quality: { ...ANSWERED.legs[0]!.quality, fractionLost: 2 } }] }), /^record\.legs\[0\]\.quality\.fractionLost: /);
  t.regex(bad({ ...ANSWERED, durationSec: -1 }), /^record\.durationSec: /);
  t.regex(t.throws(() => cdr.query({ limit: 0 }))!.message, /^filter\.limit: /);
  t.regex(t.throws(() => cdr.query({ from: 'yesterday' as unknown as Date }))!.message, /^filter\.from: /);
  t.is(cdr.count(), 0);
  store.close();
});

test('records survive closing and reopening the store file', (t) => {
  const path = tempFile();
  let store = Store.open(path);
  new CdrStore(store).write(ANSWERED);
  store.close();
  store = Store.open(path);
  const cdr = new CdrStore(store);
  t.is(store.version('cdr'), 1);
  cdr.write(BUSY);
  t.deepEqual(cdr.query(), [BUSY, ANSWERED]);
  store.close();
});

test('formatSmdr: fixed field order, local time with offset, RFC 4180 quoting, CRLF', (t) => {
  const tz = process.env.TZ;
  process.env.TZ = 'Asia/Kolkata'; // +05:30: a half-hour offset shows the minutes are right
  try {
    t.is(
      formatSmdr(ANSWERED),
      '2026-11-24T15:30:00+05:30,01:01:56,8,201,N,202,202,202,answered,caller BYE,node1-000042,"Smith, ""Bob"""\r\n',
    );
    t.is(formatSmdr(BUSY), '2026-11-24T17:30:00+05:30,00:00:00,2,+442071234567,I,01234567,01234567,,busy,486,node1-000043,\r\n');
    process.env.TZ = 'America/New_York';
    t.regex(formatSmdr(BUSY), /^2026-11-24T07:00:00-05:00,/);
  } finally {
    if (tz === undefined) delete process.env.TZ;
    else process.env.TZ = tz;
  }
  const line = formatSmdr(variant(ANSWERED, 1, { callerName: 'Evil\r\nName', direction: 'outgoing' }));
  t.is(line.indexOf('\r\n'), line.length - 2, 'a line break in a field never splits the record');
  t.is(parseCsvLine(line.slice(0, -2))[11], 'Evil  Name');
  t.is(parseCsvLine(line.slice(0, -2))[4], 'O');
  t.is(SMDR_HEADER, SMDR_FIELDS.join(',') + '\r\n');
  t.throws(() => formatSmdr({ ...BUSY, disposition: 'lost' } as unknown as CallRecord), { message: /^record\.disposition: / });
});

test('SMDR clients get the header, then one CSV line per record; a later client only later records', async (t) => {
  const logger = createTestLogger();
  const smdr = new SmdrServer({ address: '127.0.0.1', port: port(0), logger });
  await smdr.start();
  t.teardown(() => smdr.close());
  const a = await SmdrClient.connect(port(0));
  const b = await SmdrClient.connect(port(0));
  t.is(smdr.clientCount, 2);
  t.is(a.text, SMDR_HEADER);

  smdr.publish(ANSWERED);
  await a.lines(2);
  await b.lines(2);
  const c = await SmdrClient.connect(port(0));
  smdr.publish(BUSY);

  for (const client of [a, b]) {
    const lines = await client.lines(3);
    t.deepEqual(lines, [SMDR_HEADER.slice(0, -2), formatSmdr(ANSWERED).slice(0, -2), formatSmdr(BUSY).slice(0, -2)]);
    t.true(client.text.endsWith('\r\n'));
  }
  const fields = parseCsvLine(a.complete[1]!);
  t.is(fields.length, SMDR_FIELDS.length);
  t.is(fields[SMDR_FIELDS.indexOf('Caller Name')], 'Smith, "Bob"');
  t.is(fields[SMDR_FIELDS.indexOf('Call ID')], 'node1-000042');
  t.is(new Date(fields[0]!).getTime(), new Date('2026-11-24T10:00:00Z').getTime(), 'call start to the second');
  t.is(fields[1], '01:01:56');

  t.deepEqual(await c.lines(2), [SMDR_HEADER.slice(0, -2), formatSmdr(BUSY).slice(0, -2)], 'no replay for a late client');

  await a.end();
  for (let i = 0; i < 100 && smdr.clientCount !== 2; i++) await new Promise((r) => setTimeout(r, 5));
  t.is(smdr.clientCount, 2, 'a client that leaves is forgotten');
  await smdr.close();
  await Promise.all([b.closed, c.closed]);
  t.true(logged(logger, 'info', /^SMDR client connected/).length === 3);
});

test('close() is idempotent and releases the port; a busy port is refused naming address:port', async (t) => {
  const logger = createTestLogger();
  const first = new SmdrServer({ address: '127.0.0.1', port: port(1), logger });
  await first.start();
  const client = await SmdrClient.connect(port(1));

  const second = new SmdrServer({ address: '127.0.0.1', port: port(1), logger });
  const err = await t.throwsAsync(second.start());
  t.is(err.message, `SMDR: cannot listen on 127.0.0.1:${port(1)}: address already in use`);

  const closing = first.close();
  t.is(first.close(), closing);
  await closing;
  await client.closed;
  await first.close();

  await second.start(); // the same object may try again once the port is free
  t.is(second.port, port(1));
  await second.close();
  const third = new SmdrServer({ address: '127.0.0.1', port: port(1), logger });
  await third.start();
  await third.close();
  await new SmdrServer({ address: '127.0.0.1', port: port(2), logger }).close(); // never started
  await t.throwsAsync(first.start(), { message: /closed/ });
});

test('a client that stops reading is dropped with a warning and does not hold up the others', async (t) => {
  const logger = createTestLogger();
  const smdr = new SmdrServer({ address: '127.0.0.1', port: port(3), logger, maxBufferedBytes: 64 * 1024 });
  await smdr.start();
  t.teardown(() => smdr.close());
  const slow = await SmdrClient.connect(port(3));
  slow.socket.pause();
  const fast = await SmdrClient.connect(port(3));

  const big = { ...BUSY, callerName: 'x'.repeat(16 * 1024) };
  let sent = 0;
  // Enough to fill both kernel buffers of the paused connection and then the limit.
  while (logged(logger, 'warn', /^SMDR client dropped/).length === 0 && sent < 4000) {
    for (let i = 0; i < 8; i++, sent++) smdr.publish({ ...big, id: `big-${sent}` });
    await tick();
  }
  const [warn] = logged(logger, 'warn', /^SMDR client dropped/);
  t.truthy(warn, `no drop after ${sent} records`);
  t.true((warn!.bufferedBytes as number) > 64 * 1024);
  t.regex(String(warn!.remote), /^127\.0\.0\.1:\d+$/);

  smdr.publish(ANSWERED);
  const lines = await fast.lines(sent + 2, 20_000);
  t.is(lines.length, sent + 2, 'the reading client got every record');
  t.is(lines.at(-1), formatSmdr(ANSWERED).slice(0, -2));
  slow.socket.resume();
  await slow.closed;
  t.is(smdr.clientCount, 1);
});

test('clients beyond maxClients are refused, so buffers stay bounded', async (t) => {
  const logger = createTestLogger();
  const smdr = new SmdrServer({ address: '127.0.0.1', port: port(4), logger, maxClients: 1 });
  await smdr.start();
  t.teardown(() => smdr.close());
  await SmdrClient.connect(port(4));
  const extra = connect({ host: '127.0.0.1', port: port(4) });
  let got = '';
  extra.on('data', (d) => (got += d));
  await new Promise((r) => extra.once('close', r));
  t.is(got, '');
  t.is(logged(logger, 'warn', /^SMDR client refused/).length, 1);
});

test('CallRecords stores and publishes; a store failure is logged with the call id and never thrown', async (t) => {
  const logger = createTestLogger();
  const store = Store.open(':memory:');
  const smdr = new SmdrServer({ address: '127.0.0.1', port: port(5), logger });
  await smdr.start();
  const records = new CallRecords({ store, smdr, logger });
  const client = await SmdrClient.connect(port(5));

  records.record(ANSWERED);
  t.is(records.count(), 1);
  t.deepEqual(records.query({ number: '201' }), [ANSWERED]);

  const bad = { ...BUSY, id: 'bad', direction: 'up', legs: [{ ...BUSY.legs[0], sipCallId: '' }] } as unknown as CallRecord;
  t.notThrows(() => records.record(bad));
  const [repaired] = logged(logger, 'warn', /^call record repaired: /);
  t.regex(String(repaired?.message), /record\.direction: was "up"; record\.legs\[0\]\.sipCallId: was ""/);
  t.like(records.query({ number: BUSY.callerNumber }).find((r) => r.id === 'bad'), { direction: 'internal', legs: [{ sipCallId: '(none)' }] }, 'stored, not lost');

  store.close(); // as if the database were gone
  t.notThrows(() => records.record(BUSY));
  const [err] = logged(logger, 'error', /^call record not stored/);
  t.is(err?.callId, BUSY.id);
  t.deepEqual(err?.sipCallIds, ['trunk-1@203.0.113.9']);
  t.is(records.waiting, 1, 'kept in memory');
  const lines = await client.lines(4);
  t.deepEqual([lines[0], lines[1], lines[3]], [SMDR_HEADER, formatSmdr(ANSWERED), formatSmdr(BUSY)].map((l) => l.slice(0, -2)), 'SMDR still gets it');

  await records.close();
  await records.close();
  await client.closed;
  t.is(smdr.clientCount, 0);
  t.regex(String(logged(logger, 'error', /^call records lost: 1 could not be stored before shutdown/)[0]?.message), /lost/);
  t.notThrows(() => records.record(BUSY));
  t.is(logged(logger, 'error', /^call record lost: call records are closed/)[0]?.callId, BUSY.id);
});

test('a full disk (SQLITE_FULL) is logged with the call id, and records fit again once there is room', (t) => {
  const logger = createTestLogger();
  const store = Store.open(tempFile());
  const records = new CallRecords({ store, logger });
  const pages = store.prepare('PRAGMA page_count').pluck().get() as number;
  store.prepare(`PRAGMA max_page_count = ${pages + 2}`).get();
  const big = { ...BUSY, callerName: 'y'.repeat(4000) };
  let n = 0;
  while (logged(logger, 'error', /^call record not stored/).length === 0 && n < 200) {
    t.notThrows(() => records.record({ ...big, id: `full-${n++}` }));
  }
  const [err] = logged(logger, 'error', /^call record not stored/);
  t.is(err?.code, 'SQLITE_FULL');
  t.is(err?.callId, `full-${n - 1}`);
  t.is(records.count(), n - 1);
  t.is(records.waiting, 1, 'the record that did not fit waits in memory');
  store.prepare('PRAGMA max_page_count = 1000000').get();
  records.record(ANSWERED);
  t.is(records.count(), n + 1, 'and is written, in order, once there is room');
  t.is(records.waiting, 0);
  t.truthy(records.query({ limit: 100000 }).find((r) => r.id === `full-${n - 1}`));
  store.close();
});

test('config: cdr.smdr defaults, refusals, a port taken by SIP, and openCallRecords', async (t) => {
  t.deepEqual(parseConfig('', 'empty.yaml').cdr, { smdr: { enabled: false, address: '127.0.0.1', port: 8808 } });
  const problems = (text: string) => {
    const e = t.throws(() => parseConfig(text, 't.yaml'), { instanceOf: ConfigError });
    return [...e.problems];
  };
  t.deepEqual(problems('cdr: { smdr: { enable: true, port: 0, address: host } }').sort(), [
    'cdr.smdr.address: must be an IPv4 or IPv6 address',
    'cdr.smdr.enable: unknown key (did you mean enabled?)',
    'cdr.smdr.port: must be an integer 1..65535',
  ]);
  t.deepEqual(problems('cdr: { smdr: { enabled: true, port: 5060 } }'), [
    'cdr.smdr.port: 127.0.0.1 port 5060 is already taken by sip.listen[1] (tcp)',
  ]);
  t.deepEqual(
    problems('sip: { listen: [{ transport: ws, address: 0.0.0.0, port: 8808 }] }\ncdr: { smdr: { enabled: true } }'),
    ['cdr.smdr.port: 127.0.0.1 port 8808 is already taken by sip.listen[0] (ws)'],
  );
  t.notThrows(() => parseConfig('cdr: { smdr: { enabled: false, port: 5060 } }', 'off.yaml'), 'off: no socket to collide');

  const logger = createTestLogger();
  const store = Store.open(':memory:');
  const cfg = parseConfig(`cdr: { smdr: { enabled: true, port: ${port(6)} } }`, 'on.yaml');
  const records = await openCallRecords(cfg.cdr, store, logger);
  const client = await SmdrClient.connect(port(6));
  records.record(ANSWERED);
  t.is((await client.lines(2))[1], formatSmdr(ANSWERED).slice(0, -2));
  await records.close();
  const off = await openCallRecords(parseConfig('', 'off.yaml').cdr, store, logger);
  off.record(BUSY);
  t.is(off.count(), 2);
  await off.close();
  store.close();
});
