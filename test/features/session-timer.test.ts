/**
 * RFC 4028 session timers on a caller's dialog (InboundLeg), on a recording SIP wire and a
 * manual clock (test doubles; test/helpers/wire.ts): the interval in our 2xx, who refreshes,
 * our refreshes at half the interval, the caller's refreshes answered with the interval again,
 * and a session nobody refreshed hung up with a BYE.
 */
import test from 'ava';
import { createTestLogger } from '../../src/core/logger.js';
import { InboundLeg } from '../../src/features/calls/leg.js';
import type { SipRequest, SipResponse } from '../../src/sip/message/message.js';
import type { InviteServerTransaction } from '../../src/sip/transaction/server.js';
import { peerRequest, wire } from '../helpers/wire.js';

const OFFER = 'v=0\r\no=caller 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';
const ANSWER = { type: 'application/sdp', data: Buffer.from('v=0\r\no=pbx 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n') };
const flush = () => new Promise((r) => setImmediate(r));

/** A caller's INVITE (with `headers`) answered by an InboundLeg whose session timer policy is `sessionExpires` s. */
function answered(callId: string, headers: Record<string, string>, sessionExpires: number) {
  const w = wire();
  const req = peerRequest('INVITE', { callId, branch: `z9hG4bK${callId}`, body: OFFER });
  for (const [k, v] of Object.entries(headers)) req.set(k, v);
  const tx = w.receive(req) as InviteServerTransaction;
  const leg = new InboundLeg(w.stack, tx.request, tx, '202', createTestLogger(), '<sip:pbx@127.0.0.1:5060>', { policy: { sessionExpires, minSE: 90 }, clock: w.clock });
  let byes = 0;
  leg.on('bye', () => byes++);
  leg.answer(ANSWER);
  leg.handleAck(peerRequest('ACK', { callId, toTag: leg.localTag, branch: `z9hG4bK${callId}ack` }));
  const ok = w.sent.find((m): m is SipResponse => !m.isRequest && m.status === 200 && m.callId === callId)!;
  /** Our requests of `method` in the dialog, one per CSeq (retransmissions left out). */
  const ours = (method: string) => [...new Map(w.requests(method).filter((r) => r.callId === callId).map((r) => [r.cseq.seq, r])).values()];
  return { w, leg, ok, ours, byes: () => byes };
}

test('a caller without timer support: our 2xx says we refresh; we re-INVITE at half the interval; a refresh answered 408 hangs up', async (t) => {
  const { w, leg, ok, ours, byes } = answered('st-uas', {}, 120);
  t.is(ok.get('session-expires'), '120;refresher=uas');
  t.is(ok.get('require'), undefined, 'no Require: timer towards a caller that does not support it');
  w.clock.advance(59_000);
  t.is(ours('INVITE').length, 0);
  w.clock.advance(1_000);
  const [refresh] = ours('INVITE');
  t.truthy(refresh, 'a refresh at half the interval');
  t.is(refresh!.get('session-expires'), '120;refresher=uas');
  t.is(refresh!.body.toString(), ANSWER.data.toString(), 'our SDP again (no change)');
  w.answer(refresh!, 200, { tag: 'peer', body: OFFER });
  await flush();
  w.clock.advance(60_000);
  const second = ours('INVITE')[1];
  t.truthy(second, 'the next refresh half an interval after the last');
  w.answer(second!, 408);
  await flush();
  t.is(ours('BYE').length, 1, 'the session ended: BYE');
  t.is(leg.state, 'ended');
  t.is(byes(), 1, 'the call hears the leg is gone');
});

test('a caller that refreshes: its refresh is answered with the interval again; no refresh by interval - interval/3 hangs up', async (t) => {
  const { w, leg, ok, ours, byes } = answered('st-uac', { supported: 'timer', 'session-expires': '90;refresher=uac' }, 1800);
  t.is(ok.get('session-expires'), '90;refresher=uac', 'the smaller interval; the caller refreshes');
  t.is(ok.get('require'), 'timer');
  leg.on('offer', (req: SipRequest, tx) => leg.answerRequest(req, tx, 200, ANSWER));
  w.clock.advance(50_000);
  const re = peerRequest('INVITE', { callId: 'st-uac', toTag: leg.localTag, cseq: 2, branch: 'z9hG4bKst-uac-re', body: OFFER });
  re.set('supported', 'timer').set('session-expires', '90;refresher=uac');
  const reTx = w.receive(re);
  leg.handleRequest(reTx.request, reTx);
  const reOk = w.sent.filter((m): m is SipResponse => !m.isRequest && m.status === 200 && m.callId === 'st-uac' && m.cseq.seq === 2)[0];
  t.is(reOk?.get('session-expires'), '90;refresher=uac', 'the refresh is answered with the interval');
  w.clock.advance(59_000);
  await flush();
  t.is(ours('BYE').length, 0, 'the refresh moved the end: 60 s after it');
  t.is(ours('INVITE').length + ours('UPDATE').length, 0, 'we do not refresh: the caller does');
  w.clock.advance(1_500);
  await flush();
  t.is(ours('BYE').length, 1, 'nobody refreshed: BYE');
  t.is(byes(), 1);
});

test('timers off (no policy): no Session-Expires, no refresh, and the dialog ends with no timer left', (t) => {
  const w = wire();
  const tx = w.receive(peerRequest('INVITE', { callId: 'st-off', branch: 'z9hG4bKst-off', body: OFFER })) as InviteServerTransaction;
  const leg = new InboundLeg(w.stack, tx.request, tx, '202', createTestLogger(), '<sip:pbx@127.0.0.1:5060>');
  leg.answer(ANSWER);
  const ok = w.sent.find((m): m is SipResponse => !m.isRequest && m.status === 200)!;
  t.is(ok.get('session-expires'), undefined);
  w.clock.advance(3_600_000);
  t.is(w.requests('INVITE').length, 0);
});
