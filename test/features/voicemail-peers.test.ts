/**
 * Voicemail with real phones (baresip): a caller leaves a message at 202, which does not answer;
 * the message holds the caller's 1 kHz tone; 202's phone (baresip's mwi module subscribes to its
 * message summary) hears Messages-Waiting: yes; 202 dials *17, gives its PIN, must choose a new
 * one, hears the message (the tone), deletes it, and the lamp goes out. Also: three wrong PINs
 * end the call; a full disk refuses new messages with a prompt; ports all busy give busy.
 */
import test from 'ava';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { lastHeard, startPhone, type Baresip } from '../helpers/baresip.js';
import { portBlock } from '../helpers/ports.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { hasTone, lacksTone, toneRatio } from '../helpers/tone.js';
import { readWav } from '../helpers/wav.js';
import { startSmtp, wavAttachment, header } from '../helpers/smtp.js';
import { readFileSync } from 'node:fs';
import { sleep, until } from '../helpers/wait.js';

const port = portBlock(21);

const USERS = [
  '  - { extension: "201", password: demo201 }',
  '  - { extension: "202", password: demo202, forward: { noAnswerSeconds: 5 }, voicemail: { pin: "2580" } }',
  '  - { extension: "203", password: demo203, voicemail: { pin: "2580" } }',
  '  - { extension: "204", password: demo204 }',
  '  - { extension: "205", password: demo205 }',
].join('\n');

const phone = (node: TestServer, ext: string, n: number, freq: number, serverPort: number, mwi = false): Promise<Baresip> =>
  startPhone({ dir: node.dir, ext, freq, mwi, listen: `127.0.0.${70 + n}:${port(100 + n)}`, ctrlPort: port(150 + n), server: `127.0.0.1:${serverPort}` });
const heard = lastHeard;

const logged = (node: TestServer, re: RegExp) => () => node.logger.records.some((r) => re.test(String(r.message)));

async function keys(bs: Baresip, digits: string): Promise<void> {
  for (const d of digits) {
    bs.command('sndcode', d);
    await sleep(250);
  }
}

test('a message left at 202 holds the tone, lights 202\'s lamp, is played by *17 and deleted, and the lamp goes out', async (t) => {
  const node = await startServer({ udp: port(0), users: USERS, voicemail: 'minMessageSeconds: 1' });
  const phones: Baresip[] = [];
  try {
    const b = await phone(node, '202', 2, 440, port(0), true);
    phones.push(b);
    const a = await phone(node, '201', 1, 1000, port(0));
    phones.push(a);
    const mwi = (yes: boolean) => (e: { type?: string; param?: string }) => e.type === 'MWI_NOTIFY' && new RegExp(`Messages-Waiting:\\s*${yes ? 'yes' : 'no'}`, 'i').test(String(e.param));
    await b.waitEvent(mwi(false), 10_000);
    t.pass('202 subscribed and was told: no messages');

    a.command('dial', `sip:202@127.0.0.1:${port(0)}`);
    await b.waitEvent((e) => e.type === 'CALL_INCOMING', 10_000);
    // 202 lets it ring: after its 5 s no-answer time the caller is answered by voicemail
    await a.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 15_000);
    await until('the recording to start', logged(node, /voicemail 202: recording message/), 20_000);
    await sleep(5000);
    a.command('hangup');
    await until('the message to be kept', logged(node, /voicemail 202: message \d+ kept/), 10_000);

    const store = node.server.voicemail!.store;
    const msgs = store.messages('202');
    t.is(msgs.length, 1, 'one message in 202');
    const m = msgs[0]!;
    t.is(m.state, 'new');
    t.is(m.caller, '201');
    t.true(m.durationMs > 4000 && m.durationMs < 7000, `about 5 s long: ${m.durationMs} ms`);
    const rec = (await readWav(m.path)).samples;
    const body = rec.subarray(4000, rec.length - 4000);
    t.true(hasTone(body, 1000, 0.5), `the message holds the caller's 1 kHz tone (ratio ${toneRatio(body, 1000).toFixed(2)})`);
    t.true(lacksTone(body, 440, 0.05), 'and not 202\'s own audio');
    t.deepEqual(store.counts('202'), { new: 1, saved: 0 });
    await b.waitEvent(mwi(true), 5000);
    t.pass('202\'s phone was told Messages-Waiting: yes');

    // 202 collects: PIN 2580 (the starting PIN), then a forced new PIN, then 1 (listen)
    const before = b.events.length;
    b.command('dial', `sip:*17@127.0.0.1:${port(0)}`);
    await b.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 10_000);
    await sleep(1000);
    await keys(b, '2580#');
    await sleep(1500);
    await keys(b, '4739#');
    await sleep(1500);
    await keys(b, '4739#');
    await until('the PIN change', logged(node, /voicemail 202: PIN changed/), 10_000);
    await sleep(1000);
    await keys(b, '1');
    await until('the message to play', () => node.server.voicemail!.status().inUse === 1, 1000);
    // intro ("new message from 2 0 1") and the 5 s message
    await sleep(9000);
    t.deepEqual(store.counts('202'), { new: 0, saved: 1 }, 'played: the message is read');
    await keys(b, '3');
    await until('the delete', logged(node, /voicemail 202: message \d+ deleted/), 10_000);
    t.deepEqual(store.counts('202'), { new: 0, saved: 0 });
    t.false(readdirSync(join(node.dir, 'voicemail', '202')).some((f) => f === `msg-${m.id}.wav`), 'the file is gone');
    await b.waitEvent((e) => b.events.indexOf(e) > before && mwi(false)(e), 5000);
    t.pass('the lamp went out (read, then deleted): Messages-Waiting: no');
    await keys(b, '*');
    await b.waitEvent((e) => b.events.indexOf(e) > before && e.type === 'CALL_CLOSED', 15_000);
    const got = await heard(b);
    t.true(hasTone(got, 1000, 0.02), `202 heard the message's tone when it played (ratio ${toneRatio(got, 1000).toFixed(3)})`);
    t.true(logged(node, /voicemail 202: collecting messages/)());
  } finally {
    for (const p of phones) await p.stop();
    await node.close();
  }
});

test('from another phone (*18): mailbox number, then three wrong PINs end the call and let nobody in', async (t) => {
  const node = await startServer({ udp: port(1), users: USERS });
  const phones: Baresip[] = [];
  try {
    const c = await phone(node, '201', 3, 440, port(1));
    phones.push(c);
    c.command('dial', `sip:*18@127.0.0.1:${port(1)}`);
    await c.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 10_000);
    await sleep(800);
    await keys(c, '203#');
    await sleep(1500);
    for (const pin of ['1111#', '1234#', '9999#']) {
      await keys(c, pin);
      await sleep(2500);
    }
    await c.waitEvent((e) => e.type === 'CALL_CLOSED', 15_000);
    t.true(logged(node, /security: voicemail 203: 3 wrong PINs from 201/)(), 'the security log names the mailbox and caller');
    t.false(logged(node, /collecting messages/)(), 'nobody got in');
  } finally {
    for (const p of phones) await p.stop();
    await node.close();
  }
});

test('a full disk refuses a new message with a prompt and stores nothing; all ports busy give busy', async (t) => {
  // more free space required than any disk has: the store counts the disk as full
  const node = await startServer({ udp: port(2), users: USERS, voicemail: 'minFreeMegabytes: 1000000, channels: 1' });
  const phones: Baresip[] = [];
  try {
    const a = await phone(node, '201', 4, 1000, port(2));
    phones.push(a);
    const d = await phone(node, '205', 5, 1000, port(2));
    phones.push(d);
    // 204 has no phone registered: straight to voicemail
    a.command('dial', `sip:204@127.0.0.1:${port(2)}`);
    await a.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 10_000);
    await until('the refusal', logged(node, /voicemail 204: message refused \(disk-full\)/), 5000);
    // the one port is taken while the prompt plays: a second caller gets busy
    d.command('dial', `sip:204@127.0.0.1:${port(2)}`);
    const closed = await d.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
    t.regex(String(closed.param), /486|busy/i, `second caller refused busy: ${String(closed.param)}`);
    await a.waitEvent((e) => e.type === 'CALL_CLOSED', 15_000);
    t.pass('the server hung up after the prompt');
    t.deepEqual(node.server.voicemail!.store.counts('204'), { new: 0, saved: 0 });
    t.is(node.server.voicemail!.store.messages('204').length, 0);
  } finally {
    for (const p of phones) await p.stop();
    await node.close();
  }
});

test('a new message is emailed to the mailbox owner with the WAV attached', async (t) => {
  const smtp = await startSmtp(port(60));
  const users = USERS.replace('extension: "204", password: demo204 }', 'extension: "204", password: demo204, voicemail: { email: "ann@example.com" } }');
  const node = await startServer({
    udp: port(3), users,
    voicemail: `minMessageSeconds: 1, smtp: { host: 127.0.0.1, port: ${port(60)}, starttls: false, from: "vm@pbx.example", retrySeconds: 1 }`,
  });
  const phones: Baresip[] = [];
  try {
    const a = await phone(node, '201', 6, 1000, port(3));
    phones.push(a);
    a.command('dial', `sip:204@127.0.0.1:${port(3)}`);
    await a.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 10_000);
    await until('the recording to start', logged(node, /voicemail 204: recording message/), 20_000);
    await sleep(3000);
    a.command('hangup');
    await until('the email', () => smtp.got.length > 0, 15_000);
    const mail = smtp.got[0]!;
    t.deepEqual(mail.to, ['ann@example.com']);
    t.is(mail.from, 'vm@pbx.example');
    t.regex(header(mail.raw.slice(0, mail.raw.indexOf('\r\n\r\n')), 'Subject') ?? '', /201/, 'the subject names the caller');
    const att = wavAttachment(mail.raw);
    const m = node.server.voicemail!.store.messages('204')[0]!;
    t.true(att.bytes.equals(readFileSync(m.path)), 'the attachment is the stored message, byte for byte');
    t.true(hasTone((await readWav(m.path)).samples.subarray(2000), 1000, 0.5), 'and it holds the caller\'s tone');
  } finally {
    for (const p of phones) await p.stop();
    await node.close();
    await smtp.close();
  }
});

test('a user in do not disturb, or busy without call waiting, sends callers straight to voicemail', async (t) => {
  const users = USERS.replace('extension: "205", password: demo205 }', 'extension: "205", password: demo205, doNotDisturb: true }')
    .replace('extension: "204", password: demo204 }', 'extension: "204", password: demo204, callWaiting: false }');
  const node = await startServer({ udp: port(4), users });
  const phones: Baresip[] = [];
  try {
    const a = await phone(node, '201', 7, 1000, port(4));
    phones.push(a);
    const d = await phone(node, '204', 8, 440, port(4));
    phones.push(d);
    const started = Date.now();
    a.command('dial', `sip:205@127.0.0.1:${port(4)}`);
    await a.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 10_000);
    t.true(Date.now() - started < 3000, 'answered by voicemail at once, without ringing');
    await until('the DND log line', logged(node, /205 in do not disturb: call goes to voicemail/), 5000);
    await until('the greeting for 205', logged(node, /voicemail 205: recording message/), 20_000);
    a.command('hangup');
    await a.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
    // 204 is on a call (with 201) and has call waiting off: busy goes to voicemail
    d.command('dial', `sip:8001@127.0.0.1:${port(4)}`);
    await d.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 10_000);
    const before = a.events.length;
    a.command('dial', `sip:204@127.0.0.1:${port(4)}`);
    await a.waitEvent((e) => a.events.indexOf(e) >= before && e.type === 'CALL_ESTABLISHED', 10_000);
    await until('the busy log line', logged(node, /204 busy: call goes to voicemail/), 5000);
    t.pass();
  } finally {
    for (const p of phones) await p.stop();
    await node.close();
  }
});
