import test from 'ava';
import { answerDirection, buildAudio, negotiate, parseAudio, SdpError } from '../../src/media/sdp.js';

const BARESIP = 'v=0\r\no=- 123 456 IN IP4 127.0.0.10\r\ns=-\r\nc=IN IP4 127.0.0.10\r\nt=0 0\r\nm=audio 20004 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=rtcp:20005\r\na=sendrecv\r\na=ptime:20\r\n';

test('reads the audio stream: address, port, codecs in preference order, telephone-event', (t) => {
  const a = parseAudio(BARESIP);
  t.is(a.address, '127.0.0.10');
  t.is(a.port, 20004);
  t.is(a.rtcpPort, 20005);
  t.deepEqual(a.codecs, [{ codec: 'PCMA', pt: 8 }, { codec: 'PCMU', pt: 0 }]);
  t.is(a.telephoneEventPt, 101);
  t.is(a.direction, 'sendrecv');
});

test('static payload types without rtpmap, hold forms, and unknown codecs', (t) => {
  const a = parseAudio('v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18 0\r\n');
  t.deepEqual(a.codecs, [{ codec: 'PCMU', pt: 0 }]);
  t.is(a.direction, 'sendonly', 'c=0.0.0.0 is the old way to hold');
  t.is(answerDirection('sendonly'), 'recvonly');
  t.is(answerDirection('inactive'), 'inactive');
});

test('negotiation picks the first common codec; nothing in common is a 488', (t) => {
  t.is(negotiate(parseAudio(BARESIP)).codec, 'PCMA');
  t.is(negotiate(parseAudio(BARESIP), ['PCMU']).codec, 'PCMU');
  const g729 = parseAudio('v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n');
  const err = t.throws(() => negotiate(g729), { instanceOf: SdpError });
  t.is(err.status, 488);
  t.is(t.throws(() => parseAudio('v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=video 4000 RTP/AVP 31\r\n'), { instanceOf: SdpError }).status, 488);
});

test('what we write parses back to the same stream', (t) => {
  const text = buildAudio({ address: '127.0.0.1', port: 20000, codecs: [{ codec: 'PCMU', pt: 0 }, { codec: 'PCMA', pt: 8 }], telephoneEventPt: 101, sessionId: 7, version: 2, direction: 'sendonly' });
  const a = parseAudio(text);
  t.is(a.port, 20000);
  t.deepEqual(a.codecs.map((c) => c.codec), ['PCMU', 'PCMA']);
  t.is(a.telephoneEventPt, 101);
  t.is(a.direction, 'sendonly');
  t.regex(text, /^o=pbx-core 7 2 IN IP4 127\.0\.0\.1\r$/m);
});

test('an answer has as many m= lines as the offer: a video stream is rejected with port 0 in its place (RFC 3264 6)', (t) => {
  const offer = parseAudio('v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n' +
    'm=video 5000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n');
  t.is(offer.port, 4000);
  t.is(offer.index, 1);
  t.deepEqual(offer.streams.map((m) => [m.type, m.port]), [['video', 5000], ['audio', 4000]]);
  const answer = buildAudio({ address: '127.0.0.1', port: 20000, codecs: [{ codec: 'PCMU', pt: 0 }], telephoneEventPt: 101, sessionId: 1, version: 1, answering: { streams: offer.streams, index: offer.index } });
  const mlines = answer.split('\r\n').filter((l) => l.startsWith('m='));
  t.deepEqual(mlines, ['m=video 0 RTP/AVP 96', 'm=audio 20000 RTP/AVP 0 101']);
  t.is(parseAudio(answer).port, 20000, 'the audio is where the offer had it');
});
