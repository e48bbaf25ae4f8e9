import test from 'ava';
import { parseAddress, parseVia } from '../../src/sip/message/address.js';
import { SipRequest, SipResponse, type SipMessageAny } from '../../src/sip/message/message.js';
import { parseMessage, SipParseError } from '../../src/sip/message/parser.js';
import { parseUri } from '../../src/sip/message/uri.js';

const INVITE = [
  'INVITE sip:202@127.0.0.1:5060;transport=udp SIP/2.0',
  'v: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bK776asdhds;rport, SIP/2.0/TCP proxy.example.com;branch=z9hG4bKx',
  'Via: SIP/2.0/UDP edge.example.com:5070;branch=z9hG4bKy',
  'Max-Forwards: 70',
  't: "Bob Two" <sip:202@127.0.0.1>',
  'f: Alice <sip:201@127.0.0.1>;tag=1928301774',
  'i: a84b4c76e66710@pc33.example.com',
  'CSeq: 314159 INVITE',
  'm: <sip:201@10.0.0.1:5062;transport=udp>;expires=60, "X, Y" <sip:x@y>',
  'c: application/sdp',
  'Subject: hello',
  'l: 13',
  '',
  'v=0\r\ns=-\r\nEXTRA',
].join('\r\n');

test('parses compact forms, multi-value headers, name-addr and the body bounded by Content-Length', (t) => {
  const m = parseMessage(Buffer.from(INVITE)) as SipRequest;
  t.true(m.isRequest);
  t.is(m.method, 'INVITE');
  t.is(m.uri.user, '202');
  t.is(m.uri.port, 5060);
  t.is(m.uri.params.get('transport'), 'udp');
  t.is(m.vias.length, 3);
  t.is(m.topVia?.branch, 'z9hG4bK776asdhds');
  t.is(m.topVia?.port, 5062);
  t.true(m.topVia!.params.has('rport'));
  t.is(m.vias[1].transport, 'TCP');
  t.is(m.to.displayName, 'Bob Two');
  t.is(m.from.tag, '1928301774');
  t.is(m.from.displayName, 'Alice');
  t.is(m.callId, 'a84b4c76e66710@pc33.example.com');
  t.deepEqual(m.cseq, { seq: 314159, method: 'INVITE' });
  t.is(m.contacts.length, 2);
  t.is(m.contacts[0].params.get('expires'), '60');
  t.is(m.contacts[1].displayName, 'X, Y');
  t.is(m.contentType, 'application/sdp');
  t.is(m.body.toString(), 'v=0\r\ns=-\r\nEXT', 'the octets past Content-Length are not body');
  t.is(m.get('SUBJECT'), 'hello');
});

test('serializes back to a message that parses to the same thing', (t) => {
  const m = parseMessage(Buffer.from(INVITE));
  const again = parseMessage(m.toBuffer());
  t.is(again.get('content-length'), '13');
  t.deepEqual([...again.headers.keys()].sort(), [...m.headers.keys()].sort());
  t.is(again.toString(), m.toString());
  t.regex(m.toString(), /^INVITE sip:202@127\.0\.0\.1:5060;transport=udp SIP\/2\.0\r\nVia: /);
  t.regex(m.toString(), /\r\nCall-ID: a84b/);
  t.regex(m.toString(), /\r\nCSeq: 314159 INVITE\r\n/);
});

test('builds requests and responses from scratch', (t) => {
  const r = new SipRequest('OPTIONS', parseUri('sip:alice@example.com'));
  r.set('via', 'SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKabc').set('from', '<sip:a@b>;tag=1').set('to', '<sip:c@d>');
  r.set('call-id', 'x').set('cseq', '1 OPTIONS');
  const p = parseMessage(r.toBuffer()) as SipRequest;
  t.is(p.method, 'OPTIONS');
  t.is(p.get('content-length'), '0');
  const res = new SipResponse(486);
  t.is(res.reason, 'Busy Here');
  res.set('via', 'SIP/2.0/UDP h;branch=z9hG4bK1').set('from', '<sip:a@b>;tag=1').set('to', '<sip:c@d>;tag=2').set('call-id', 'x').set('cseq', '1 INVITE');
  const pr = parseMessage(res.toBuffer()) as SipResponse;
  t.is(pr.status, 486);
  t.is(pr.to.tag, '2');
});

test('URIs: escapes, IPv6, parameters, headers, comparison', (t) => {
  const u = parseUri('sip:%61lice:pw@[2001:db8::1]:5070;transport=TCP;lr?subject=hi');
  t.is(u.userDecoded, 'alice');
  t.is(u.password, 'pw');
  t.is(u.host, '[2001:db8::1]');
  t.is(u.port, 5070);
  t.is(u.params.get('transport'), 'TCP');
  t.is(u.params.get('lr'), null);
  t.is(u.headers, 'subject=hi');
  t.true(parseUri('sip:alice@EXAMPLE.com;transport=tcp').equals(parseUri('sip:%61lice@example.com;transport=TCP')));
  t.false(parseUri('sip:alice@example.com').equals(parseUri('sip:alice@example.com:5060')));
  t.is(parseUri('tel:+1-555-0100').scheme, 'tel');
  t.throws(() => parseUri('sip:alice@exa mple.com'));
  t.throws(() => parseUri('sip:alice@host:99999'));
});

test('name-addr forms and errors', (t) => {
  t.is(parseAddress('<sip:a@b;lr>;x=1').uri.params.get('lr'), null);
  t.is(parseAddress('sip:a@b;x=1').params.get('x'), '1', 'addr-spec parameters belong to the header');
  t.true(parseAddress('*').wildcard);
  t.is(parseAddress('"quoted \\" name" <sip:a@b>').displayName, 'quoted " name');
  t.throws(() => parseAddress('"unbalanced <sip:a@b>'));
  t.throws(() => parseAddress('Bell, Alexander <sip:a@b>'));
  t.throws(() => parseAddress('< sip:a@b >'));
  const v = parseVia('SIP / 2.0 / UDP host.example.com : 5060 ;branch=z9hG4bK1;received=1.2.3.4');
  t.is(v.port, 5060);
  t.is(v.params.get('received'), '1.2.3.4');
});

function reject(text: string): SipParseError {
  return (() => {
    try {
      parseMessage(Buffer.from(text));
    } catch (e) {
      return e as SipParseError;
    }
    throw new Error('parsed');
  })();
}

test('malformed messages are refused with the status a server should send', (t) => {
  const base = 'Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n';
  t.is(reject(`OPTIONS sip:c@d SIP/3.0\r\n${base}\r\n`).status, 505);
  t.is(reject(`OPTIONS sip:c@d SIP/2.0\r\n${base}Content-Length: 10\r\n\r\nshort`).status, 400);
  t.is(reject(`OPTIONS sip:c@d SIP/2.0\r\n${base.replace('CSeq: 1 OPTIONS', 'CSeq: 1 INVITE')}\r\n`).status, 400);
  t.is(reject(`OPTIONS sip:c@d SIP/2.0\r\n${base}Max-Forwards: 256\r\n\r\n`).status, 400);
  t.is(reject(`OPTIONS sip:c@d SIP/2.0\r\nFrom: <sip:a@b>\r\n\r\n`).status, undefined, 'no Via: nothing to answer to');
  t.is(reject('garbage\r\n\r\n').status, undefined);
  t.is(reject(`SIP/2.0 99999 Nope\r\n${base}\r\n`).status, undefined, 'responses are never answered');
  const m: SipMessageAny | undefined = reject(`OPTIONS sip:c@d SIP/2.0\r\n${base}Content-Length: 1\r\nContent-Length: 1\r\n\r\nx`).partial;
  t.is(m?.callId, 'x', 'the partial message is kept for the reply');
});

test('a stream message without Content-Length is refused; a datagram takes the rest as body', (t) => {
  const msg = 'OPTIONS sip:c@d SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\nbody';
  t.throws(() => parseMessage(Buffer.from(msg), false), { instanceOf: SipParseError });
  t.is(parseMessage(Buffer.from(msg), true).body.toString(), 'body');
});
