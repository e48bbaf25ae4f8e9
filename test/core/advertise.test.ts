// A node bound to a wildcard address (0.0.0.0: every interface) must still tell its peers an
// address they can reach: 0.0.0.0 in a Contact is nowhere, and in SDP it even means "on hold".
import test from 'ava';
import { networkInterfaces } from 'node:os';
import { advertisedAddress } from '../../src/core/advertise.js';
import { parseConfig, ConfigError } from '../../src/core/config/index.js';
import { portBlock } from '../helpers/ports.js';
import { runSipp, startSipp, traced, SCENARIOS } from '../helpers/sipp.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { scenario } from '../helpers/peers.js';
import { sleep } from '../helpers/wait.js';
import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { soxTone } from '../helpers/audio.js';

const port = portBlock(145);
const USERS = ['201', '202'].map((e) => `  - { extension: "${e}", password: not-a-demo-${e} }`).join('\n');

let tone = '';
test.before(async () => {
  tone = await soxTone(mkdtempSync(join(tmpdir(), 'pbx-advertise-')), { freq: 1000, seconds: 5, format: 'ulaw-raw', name: 'caller-1k' });
});

const nic = (address: string, family: 'IPv4' | 'IPv6', internal = false) =>
  ({ address, family, internal, netmask: '', mac: '00:00:00:00:00:00', cidr: null, ...(family === 'IPv6' ? { scopeid: 0 } : {}) }) as never;

test('advertisedAddress: an explicit advertise wins, a bound address is kept, a wildcard becomes the first reachable address of its family', (t) => {
  const nets = { lo: [nic('127.0.0.1', 'IPv4', true), nic('::1', 'IPv6', true)], eth0: [nic('fe80::1', 'IPv6'), nic('192.0.2.7', 'IPv4'), nic('2001:db8::7', 'IPv6')] };
  t.is(advertisedAddress('0.0.0.0', 'pbx.example.com', nets), 'pbx.example.com');
  t.is(advertisedAddress('198.51.100.1', undefined, nets), '198.51.100.1');
  t.is(advertisedAddress('0.0.0.0', undefined, nets), '192.0.2.7');
  t.is(advertisedAddress('::', undefined, nets), '2001:db8::7', 'a link-local address is skipped');
  t.is(advertisedAddress('0.0.0.0', undefined, { lo: nets.lo }), '127.0.0.1', 'only loopback: loopback');
  t.is(advertisedAddress('::', undefined, {}), '::1');
});

test('configuration: advertise takes an address or a host name, and a bad one is refused with its path', (t) => {
  const doc = (adv: string, media = '') => `sip:\n  listen:\n    - { transport: udp, address: 0.0.0.0, port: 5060, advertise: ${adv} }\n${media}users: []\n`;
  t.is(parseConfig(doc('pbx.example.com')).sip.listen[0]!.advertise, 'pbx.example.com');
  t.is(parseConfig(doc('192.0.2.7')).sip.listen[0]!.advertise, '192.0.2.7');
  const bad = t.throws(() => parseConfig(doc('"not a host!"')), { instanceOf: ConfigError });
  t.regex(bad.message, /sip\.listen\[0\]\.advertise: must be an IP address or a host name/);
  const media = t.throws(() => parseConfig(doc('192.0.2.7', 'media: { address: 0.0.0.0, advertise: pbx.example.com }\n')), { instanceOf: ConfigError });
  t.regex(media.message, /media\.advertise: must be an IPv4 or IPv6 address/);
});

/** 201 (sipp) calls 202 (a sipp answerer registered at `phonePort`); returns what both saw. */
async function call(node: TestServer, base: number) {
  const reg = await runSipp([`127.0.0.1:${port(0)}`, '-sf', scenario('register_keys.xml'), '-s', '202', '-au', '202', '-ap', 'not-a-demo-202',
    '-key', 'contact', `<sip:202@127.0.0.1:${base + 1}>`, '-key', 'expires', '300', '-key', 'extra', 'X-Test: 1',
    '-i', '127.0.0.1', '-p', String(base), '-m', '1'], { timeoutMs: 10_000 });
  if (reg.code !== 0) throw new Error(`register: ${reg.stderr}`);
  const phone = startSipp(['-sf', join(SCENARIOS, 'uas_answer.xml'), '-i', '127.0.0.1', '-p', String(base + 1), '-mi', '127.0.0.1', '-mp', String(base + 4), '-m', '1'], { timeoutMs: 20_000, trace: true });
  try {
    await sleep(300); // sipp binds its socket after it starts
    const caller = await runSipp([`127.0.0.1:${port(0)}`, '-sf', scenario('uac_call.xml'), '-s', '202', '-au', '201', '-ap', 'not-a-demo-201', '-key', 'caller', '201',
      '-key', 'codec_pt', '0', '-key', 'codec', 'PCMU', '-key', 'rtp_file', `${tone},-1,0`, '-key', 'info_digit', '5', '-key', 'dtmf', '1', '-d', '300',
      '-i', '127.0.0.1', '-p', String(base + 10), '-mi', '127.0.0.1', '-mp', String(base + 12), '-m', '1'], { timeoutMs: 30_000, trace: true });
    const answered = await phone.done;
    const invite = traced(answered.messages).find((m) => m.received && /^INVITE /.test(m.text))?.text ?? '';
    const ok = traced(caller.messages).find((m) => m.received && /^SIP\/2\.0 200 OK/.test(m.text) && /CSeq: 2 INVITE/i.test(m.text))?.text ?? '';
    return { caller, answered, invite, ok };
  } finally {
    await phone.stop();
  }
}

const header = (text: string, name: string) => new RegExp(`^${name}:\\s*(.+)$`, 'im').exec(text)?.[1] ?? '';
const connection = (text: string) => /^c=IN IP4 (\S+)/m.exec(text)?.[1] ?? '';

test.serial('a node bound to 0.0.0.0 writes a reachable address, never 0.0.0.0, into Via, Contact and SDP, and the call connects', async (t) => {
  const node = await startServer({ udp: port(0), users: USERS, bind: '0.0.0.0' });
  try {
    // what this machine can be reached at (inside the suite's namespace: loopback only)
    const reachable = Object.values(networkInterfaces()).flat().find((i) => i && !i.internal && i.family === 'IPv4');
    const expected = reachable?.address ?? '127.0.0.1';
    const r = await call(node, port(20));
    t.is(r.caller.code, 0, `${r.caller.stderr}\n${r.caller.messages.slice(-2000)}`);
    t.is(r.answered.code, 0, 'the callee got the call and its ACK and BYE');
    t.regex(header(r.invite, 'Via'), new RegExp(`^SIP/2\\.0/UDP ${expected.replaceAll('.', '\\.')}:${port(0)};`));
    t.regex(header(r.invite, 'Contact'), new RegExp(`@${expected.replaceAll('.', '\\.')}:${port(0)}`));
    t.is(connection(r.invite), expected, 'the offer to the callee');
    t.regex(header(r.ok, 'Contact'), new RegExp(`@${expected.replaceAll('.', '\\.')}:${port(0)}`));
    t.is(connection(r.ok), expected, 'the answer to the caller');
    t.true(node.logger.records.some((r) => /sip\.listen\[0\]: bound to 0\.0\.0\.0, advertising/.test(String(r.message))), 'the choice is logged');
  } finally {
    await node.close();
  }
});

test.serial('advertise names what a node behind NAT writes: its public host in Via and Contact, its public address in SDP', async (t) => {
  const node = await startServer({ udp: port(1), users: USERS, bind: '0.0.0.0', advertise: { sip: 'pbx.example.com', media: '192.0.2.7' } });
  try {
    // the caller's signalling goes back by Via's received/rport; only the callee's ACK and BYE would
    // need the (unresolvable) host, so this checks what was written, not the call's end
    const reg = await runSipp([`127.0.0.1:${port(1)}`, '-sf', scenario('register_keys.xml'), '-s', '202', '-au', '202', '-ap', 'not-a-demo-202',
      '-key', 'contact', `<sip:202@127.0.0.1:${port(41)}>`, '-key', 'expires', '300', '-key', 'extra', 'X-Test: 1',
      '-i', '127.0.0.1', '-p', String(port(40)), '-m', '1'], { timeoutMs: 10_000, trace: true });
    t.is(reg.code, 0, reg.stderr);
    const phone = startSipp(['-sf', join(SCENARIOS, 'uas_answer.xml'), '-i', '127.0.0.1', '-p', String(port(41)), '-mi', '127.0.0.1', '-mp', String(port(44)), '-m', '1'], { timeoutMs: 8_000, trace: true });
    try {
      await sleep(300);
      const caller = startSipp([`127.0.0.1:${port(1)}`, '-sf', scenario('uac_call.xml'), '-s', '202', '-au', '201', '-ap', 'not-a-demo-201', '-key', 'caller', '201',
        '-key', 'codec_pt', '0', '-key', 'codec', 'PCMU', '-key', 'rtp_file', `${tone},-1,0`, '-key', 'info_digit', '5', '-key', 'dtmf', '1', '-d', '300',
        '-i', '127.0.0.1', '-p', String(port(50)), '-mi', '127.0.0.1', '-mp', String(port(52)), '-m', '1'], { timeoutMs: 8_000, trace: true });
      const answered = await phone.done;
      await caller.stop();
      const invite = traced(answered.messages).find((m) => m.received && /^INVITE /.test(m.text))?.text ?? '';
      t.regex(header(invite, 'Via'), new RegExp(`^SIP/2\\.0/UDP pbx\\.example\\.com:${port(1)};`));
      t.regex(header(invite, 'Contact'), new RegExp(`@pbx\\.example\\.com:${port(1)}`));
      t.is(connection(invite), '192.0.2.7');
    } finally {
      await phone.stop();
    }
  } finally {
    await node.close();
  }
});
