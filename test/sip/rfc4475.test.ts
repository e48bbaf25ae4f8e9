/**
 * RFC 4475 torture messages, driven by test/vectors/rfc4475/manifest.json (the RFC's messages, one file each): every
 * message is parsed, then sent over UDP to a running node, and the answer checked against what
 * the manifest expects. Invalid messages must leave no state behind.
 */
import test from 'ava';
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { parseMessage, SipParseError } from '../../src/sip/message/parser.js';
import { SipResponse, type SipRequest } from '../../src/sip/message/message.js';
import { DigestClient } from '../../src/sip/auth/digest.js';
import { portBlock } from '../helpers/ports.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { RFC4475 } from '../helpers/peers.js';

const DIR = `${RFC4475}/`;
interface Entry { file: string; kind: string; expected: string; title: string }
const manifest = JSON.parse(readFileSync(DIR + 'manifest.json', 'utf8')) as Entry[];
const load = (f: string) => readFileSync(DIR + f);
const port = portBlock(5);

/**
 * What the node answers to each message over UDP: the final status codes allowed, or 'none'
 * (dropped). Valid requests must get anything but 400.
 */
const EXPECT: Record<string, number[] | 'none' | 'not-400'> = {
  'wsinv.dat': 'not-400', 'intmeth.dat': [501, 405], 'esc01.dat': 'not-400', 'escnull.dat': 'not-400',
  'esc02.dat': [501, 405], 'lwsdisp.dat': [200], 'longreq.dat': 'not-400', 'dblreq.dat': [401],
  'semiuri.dat': [200], 'transports.dat': [200], 'mpart01.dat': [405, 501], 'unreason.dat': 'none',
  'noreason.dat': 'none',
  'badinv01.dat': [400, -1], 'clerr.dat': [400, -1], 'ncl.dat': [400, -1], 'scalar02.dat': [400],
  'scalarlg.dat': 'none', 'quotbal.dat': [400, -1], 'ltgtruri.dat': [400, -1], 'lwsruri.dat': [400, -1],
  'lwsstart.dat': [400, -1], 'trws.dat': [400, -1], 'escruri.dat': [400], 'baddate.dat': 'not-400',
  'regbadct.dat': [400], 'badaspec.dat': [400, -1], 'baddn.dat': [400, -1], 'badvers.dat': [505],
  'mismatch01.dat': [400], 'mismatch02.dat': [400, 501], 'bigcode.dat': 'none',
  'badbranch.dat': [200], 'insuf.dat': [400], 'unkscm.dat': [416], 'novelsc.dat': [416],
  'unksm2.dat': 'not-400', 'bext01.dat': [420], 'invut.dat': [415], 'regaut01.dat': [401],
  'multi01.dat': [400], 'mcl01.dat': [400], 'bcast.dat': 'none', 'zeromf.dat': [200, 483],
  'cparam01.dat': [401], 'cparam02.dat': [401], 'regescrt.dat': [401], 'sdp01.dat': [406],
  'inv2543.dat': 'not-400',
};

test('the manifest and the expectations cover the same messages', (t) => {
  t.deepEqual(manifest.map((m) => m.file).sort(), Object.keys(EXPECT).sort());
});

for (const m of manifest) {
  test(`parse ${m.file} (${m.kind}): ${m.title}`, (t) => {
    const buf = load(m.file);
    if (m.kind === 'valid' || m.kind === 'compat' || m.kind === 'transaction' || ['unkscm.dat', 'novelsc.dat', 'unksm2.dat', 'bext01.dat', 'invut.dat', 'regaut01.dat', 'bcast.dat', 'zeromf.dat', 'cparam01.dat', 'cparam02.dat', 'regescrt.dat', 'sdp01.dat', 'baddate.dat'].includes(m.file)) {
      const msg = parseMessage(buf, true);
      t.truthy(msg.callId);
      return;
    }
    const err = t.throws(() => parseMessage(buf, true), { instanceOf: SipParseError });
    t.truthy(err.message.length > 0);
  });
}

test('parse details the RFC singles out', (t) => {
  const wsinv = parseMessage(load('wsinv.dat')) as SipRequest;
  t.is(wsinv.vias.length, 3);
  t.is(wsinv.to.tag, '1918181833n');
  t.is(wsinv.from.tag, '98asjd8');
  t.is(wsinv.from.displayName, 'J Rosenberg \\"');
  t.is(wsinv.maxForwards, 68);
  const esc01 = parseMessage(load('esc01.dat')) as SipRequest;
  t.is(esc01.uri.userDecoded, 'sips:user@example.com');
  t.is(esc01.to.uri.userDecoded, 'user');
  t.is(esc01.from.uri.userDecoded, 'I have spaces');
  const escnull = parseMessage(load('escnull.dat')) as SipRequest;
  t.true(escnull.to.uri.userDecoded!.includes('\u0000'), '%00 stays data');
  t.is(escnull.to.uri.userDecoded, 'null-\u0000-null', 'no truncation at %00');
  const semi = parseMessage(load('semiuri.dat')) as SipRequest;
  t.is(semi.uri.user, 'user;par=u%40example.net');
  const dbl = parseMessage(load('dblreq.dat'));
  t.is(dbl.body.length, 0, 'Content-Length bounds the body; trailing octets ignored');
  const longreq = parseMessage(load('longreq.dat'));
  t.true(longreq.vias.length >= 30);
  const mpart = parseMessage(load('mpart01.dat'));
  t.is(mpart.body.length, Number(mpart.get('content-length')));
  t.true(mpart.body.toString('latin1').trimEnd().endsWith('--7a9cbec02ceef655--'), 'the whole multipart body, closing boundary included');
  const unreason = parseMessage(load('unreason.dat')) as SipResponse;
  t.is(unreason.status, 200);
  t.true(unreason.reason.length > 10);
  const noreason = parseMessage(load('noreason.dat')) as SipResponse;
  t.is(noreason.reason, '');
  const cparam01 = parseMessage(load('cparam01.dat'));
  t.is(cparam01.contacts[0].uri.toString(), 'sip:+19725552222@gw1.example.net');
  t.true(cparam01.contacts[0].params.has('unknownparam'));
  const cparam02 = parseMessage(load('cparam02.dat'));
  t.true(cparam02.contacts[0].uri.params.has('unknownparam'));
  t.false(cparam02.contacts[0].params.has('unknownparam'));
});

/** A UDP peer on 127.0.0.45:5060: the torture messages' Vias carry port 5060 and no rport. */
class Peer {
  sock: Socket;
  inbox: SipResponse[] = [];
  waiters: (() => void)[] = [];
  callId: string | undefined;
  constructor(sock: Socket) {
    this.sock = sock;
    sock.on('message', (buf) => {
      let res: SipResponse;
      try {
        res = parseMessage(buf) as SipResponse;
      } catch (e) {
        // A reply to a malformed request copies what it can and may not parse itself (400 to
        // insuf has no From/To/Call-ID, the one to scalar02 repeats its huge CSeq): read its
        // status line and Call-ID by hand.
        const text = buf.toString('latin1');
        const status = /^SIP\/2\.0 (\d{3}) (.*?)\r\n/.exec(text);
        if (!status) return;
        res = new SipResponse(Number(status[1]), status[2]);
        const callId = /^Call-ID:[ \t]*(.*?)\r$/im.exec(text)?.[1];
        if (callId !== undefined) res.set('call-id', callId);
      }
      if ((res.get('call-id') ?? undefined) === this.callId) this.inbox.push(res);
      for (const w of this.waiters.splice(0)) w();
    });
  }
  static async open(): Promise<Peer> {
    const sock = createSocket('udp4');
    await new Promise<void>((res) => sock.bind(5060, '127.0.0.45', res));
    return new Peer(sock);
  }
  /** Sends and collects responses until a final one or `ms` of silence. */
  async exchange(buf: Buffer, to: number, ms = 400): Promise<SipResponse[]> {
    this.inbox = [];
    // Final responses to earlier INVITEs are retransmitted (we never ACK them): keep only
    // the answers to this message, matched by its Call-ID (or its lack of one).
    const callId = /^(?:Call-ID|i)[ \t]*:[ \t]*(.*?)\r?$/im.exec(buf.toString('latin1'))?.[1];
    this.callId = callId;
    this.sock.send(buf, to, '127.0.0.1');
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (this.inbox.some((r) => r.status >= 200)) break;
      await new Promise<void>((res) => {
        const timer = setTimeout(res, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(timer);
          res();
        });
      });
    }
    return this.inbox.slice();
  }
}

let node: TestServer;
let peer: Peer;
test.before(async () => {
  // the torture messages address example.com: make it this node's domain
  node = await startServer({ udp: port(0), domain: 'example.com' });
  peer = await Peer.open();
});
test.after.always(async () => {
  peer?.sock.close();
  await node?.close();
});

test.serial('each message gets the answer the manifest lists, and invalid ones leave no state', async (t) => {
  const problems: string[] = [];
  for (const m of manifest) {
    // Several messages reuse a branch and sent-by (z9hG4bKkdjuw from saturn.example.com...):
    // sent back to back, the node rightly takes the later ones for retransmissions. Each is
    // meant on its own, so give each its own branch (badbranch's bare cookie is left alone).
    const own = Buffer.from(load(m.file).toString('latin1').replace(/branch=(z9hG4bK[^;,\s]+)/, `branch=$1.${m.file.replace('.dat', '')}`), 'latin1');
    const replies = await peer.exchange(own, port(0), EXPECT[m.file] === 'none' || (Array.isArray(EXPECT[m.file]) && (EXPECT[m.file] as number[]).includes(-1)) ? 250 : 1500);
    const final = replies.find((r) => r.status >= 200);
    const exp = EXPECT[m.file];
    const got = final ? final.status : -1;
    if (exp === 'none') {
      if (replies.length) problems.push(`${m.file}: expected no answer, got ${got}`);
    } else if (exp === 'not-400') {
      if (!final || got === 400) problems.push(`${m.file}: expected a non-400 answer, got ${got}`);
    } else if (!exp.includes(got)) problems.push(`${m.file}: expected ${exp.join('/')}, got ${got}`);
    if (final && m.file === 'bext01.dat') t.truthy(final.get('unsupported'), 'bext01: 420 lists Unsupported');
    if (final && m.file === 'invut.dat') t.regex(final.get('accept') ?? '', /application\/sdp/);
    if (final && m.file === 'regaut01.dat') t.regex(final.get('www-authenticate') ?? '', /^Digest /);
    if (final && m.file === 'insuf.dat') t.regex(final.reason, /From.*To.*Call-ID/);
  }
  t.deepEqual(problems, []);
  t.is(node.server.location.size, 0, 'no binding was created');
  const opts = await peer.exchange(load('lwsdisp.dat'), port(0), 1500);
  t.is(opts.find((r) => r.status >= 200)?.status, 200, 'still serving');
});

test.serial('contact parameters of REGISTER torture messages end up in the right place once authenticated', async (t) => {
  const cases: [string, string][] = [
    ['cparam01.dat', 'sip:+19725552222@gw1.example.net'],
    ['cparam02.dat', 'sip:+19725552222@gw1.example.net;unknownparam'],
    ['regescrt.dat', 'sip:user@example.com?Route=%3Csip:sip.example.com%3E'],
  ];
  for (const [file, contact] of cases) {
    // The messages register made-up users; register them as extension 201 of this node instead.
    const text = load(file).toString('latin1').replace(/^(To|From): sip:[a-z]+@example.com/gim, '$1: sip:201@example.com')
      .replace(/branch=z9hG4bK[a-z0-9]+/, `branch=z9hG4bK${file.replace('.dat', '')}x1`);
    const first = await peer.exchange(Buffer.from(text, 'latin1'), port(0), 1500);
    const challenge = first.find((r) => r.status === 401)?.getAll('www-authenticate').find((c) => /MD5/.test(c));
    t.truthy(challenge, `${file}: challenged ${first.map((r) => r.toString()).join('\n')}`);
    const auth = new DigestClient('201', 'demo201').authorize(challenge!, 'REGISTER', 'sip:example.com');
    const second = text.replace(/^CSeq: (\d+)/m, (_m, n: string) => `CSeq: ${Number(n) + 1}`)
      .replace(/branch=z9hG4bK[a-z0-9]+/, `branch=z9hG4bK${file.replace('.dat', '')}x2`)
      .replace(/\r\n\r\n/, `\r\nAuthorization: ${auth}\r\n\r\n`);
    const ok = await peer.exchange(Buffer.from(second, 'latin1'), port(0), 1500);
    t.is(ok.find((r) => r.status >= 200)?.status, 200, `${file}: registered ${JSON.stringify(node.logger.records.filter((r) => /authentication failed|challenging/.test(String(r.message))))}`);
    const bindings = node.server.location.lookup('201');
    t.true(bindings.some((b) => b.contact === contact), `${file}: binding ${contact} in ${bindings.map((b) => b.contact).join(' ')}`);
  }
});
