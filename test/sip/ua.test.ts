/**
 * The user-agent mechanics of the stack (src/sip/ua/): one digest-retry path for every client
 * request, in and out of dialogs; the INVITE client with cancel(); INVITEs built with the stack's
 * Allow and Supported; refusals and the dispatcher's error boundary. On a recording wire and a
 * manual clock (test/helpers/wire.ts), with the RFC's own timer values.
 */
import test from 'ava';
import { DigestClient, DigestServer } from '../../src/sip/auth/digest.js';
import { Dialog, DialogState } from '../../src/sip/dialog/dialog.js';
import { SipRequest, type SipResponse } from '../../src/sip/message/message.js';
import { ClientRequest } from '../../src/sip/ua/client-request.js';
import { InviteClient, InviteClientPhase } from '../../src/sip/ua/invite-client.js';
import { buildInvite } from '../../src/sip/ua/requests.js';
import { RequestDispatcher } from '../../src/sip/ua/dispatch.js';
import { createTestLogger } from '../../src/core/logger.js';
import { peerRequest, PEER, wire } from '../helpers/wire.js';

const TARGET = { protocol: 'udp' as const, address: '127.0.0.9', port: 5099 };
const secret = Buffer.alloc(16, 7);
const carrier = new DigestServer({ realm: 'carrier.example', secret, nonceLifetimeMs: 60_000, algorithms: ['MD5'] });
const proxy = new DigestServer({ realm: 'proxy.example', secret, nonceLifetimeMs: 60_000, algorithms: ['MD5'] });
const account = new DigestClient('acct', 's3cret');

function invite(w: ReturnType<typeof wire>, body = true): SipRequest {
  return buildInvite(w.stack, {
    uri: 'sip:0123@carrier.example', from: '<sip:pbx@127.0.0.1>;tag=ours', to: '<sip:0123@carrier.example>',
    contact: '<sip:pbx@127.0.0.1:5060>', maxForwards: 70, callId: 'call-x',
    body: body ? { type: 'application/sdp', data: Buffer.from('v=0\r\n') } : undefined,
  });
}

test('an INVITE is built with the stack\'s Allow and Supported, Max-Forwards one less than the call it continues', (t) => {
  const w = wire();
  const req = invite(w);
  t.is(req.get('allow'), w.stack.allow);
  t.is(req.get('supported'), 'replaces');
  t.is(req.get('max-forwards'), '69');
  t.is(req.cseq.seq, 1);
});

test('a request challenged by a proxy and then the server answers every challenge, keeping the credentials it holds', (t) => {
  const w = wire();
  const finals: string[] = [];
  const req = new SipRequest('OPTIONS', 'sip:0123@carrier.example');
  req.set('from', '<sip:pbx@127.0.0.1>;tag=a').set('to', '<sip:0123@carrier.example>').set('call-id', 'c1').set('cseq', '10 OPTIONS');
  const cr = new ClientRequest(w.stack, req, { onFinal: (res, why) => finals.push(`${res.status}${why ? ` ${why}` : ''}`), onFailure: (r) => finals.push(r) }, { target: TARGET, credentials: account }).start();
  // two proxies on the way each challenge (two Proxy-Authenticate, RFC 3261 22.3)
  w.answer(w.requests('OPTIONS')[0], 407, { headers: { 'proxy-authenticate': [...proxy.challenge(), ...carrier.challenge()] } });
  const second = w.requests('OPTIONS')[1];
  t.is(second.cseq.seq, 11, 'next CSeq');
  t.not(second.topVia?.branch, w.requests('OPTIONS')[0].topVia?.branch, 'new branch');
  t.is(second.callId, 'c1');
  t.is(second.getAll('proxy-authorization').length, 2, 'one answer per realm');
  for (const [i, server] of [proxy, carrier].entries()) {
    t.true(server.verify('OPTIONS', second.uriText, second.getAll('proxy-authorization')[i], () => 's3cret').ok);
  }
  // then the far end challenges too: both proxy answers stay, an Authorization is added
  w.answer(second, 401, { headers: { 'www-authenticate': carrier.challenge() } });
  const third = w.requests('OPTIONS')[2];
  t.is(third.getAll('proxy-authorization').length, 2);
  t.truthy(third.get('authorization'));
  w.answer(third, 200);
  t.deepEqual(finals, ['200']);
  t.is(cr.challenges, 2);
});

test('a challenge repeated for a realm just answered is a refusal; stale=true is answered again', (t) => {
  const w = wire();
  const finals: string[] = [];
  const req = new SipRequest('BYE', 'sip:0123@carrier.example');
  req.set('from', '<sip:pbx@127.0.0.1>;tag=a').set('to', '<sip:0123@carrier.example>;tag=b').set('call-id', 'c2').set('cseq', '2 BYE');
  new ClientRequest(w.stack, req, { onFinal: (res, why) => finals.push(`${res.status} ${why}`), onFailure: (r) => finals.push(r) }, { target: TARGET, credentials: account }).start();
  w.answer(w.requests('BYE')[0], 401, { headers: { 'www-authenticate': carrier.challenge() } });
  w.answer(w.requests('BYE')[1], 401, { headers: { 'www-authenticate': carrier.challenge(true) } });
  t.is(w.requests('BYE').length, 3, 'a stale nonce is answered with the new one');
  w.answer(w.requests('BYE')[2], 401, { headers: { 'www-authenticate': carrier.challenge() } });
  t.deepEqual(finals, ['401 refused']);
  t.is(w.requests('BYE').length, 3);
  const w2 = wire();
  const none: string[] = [];
  new ClientRequest(w2.stack, req, { onFinal: (res, why) => none.push(`${res.status} ${why}`), onFailure: (r) => none.push(r) }, { target: TARGET }).start();
  w2.answer(w2.requests('BYE')[0], 407, { headers: { 'proxy-authenticate': carrier.challenge() } });
  t.deepEqual(none, ['407 no-credentials']);
});

test('a carrier that challenges a BYE in the dialog gets credentials on the dialog\'s next CSeq', async (t) => {
  const w = wire();
  const d = new Dialog(w.stack, {
    callId: 'c3', localTag: 'ours', remoteTag: 'theirs', localUri: '<sip:pbx@127.0.0.1>', remoteUri: '<sip:0123@127.0.0.9>',
    remoteTarget: peerRequest('INVITE').contacts[0].uri, routeSet: [], localSeq: 1, remoteSeq: undefined,
    localContact: '<sip:pbx@127.0.0.1:5060>', flow: undefined, secure: false, state: DialogState.Confirmed,
  });
  d.credentials = account;
  const result = d.send('BYE');
  w.answer(w.requests('BYE')[0], 407, { headers: { 'proxy-authenticate': carrier.challenge() } });
  const retry = w.requests('BYE')[1];
  t.is(retry.cseq.seq, 3, 'CSeq 2 was challenged, the retry takes 3');
  t.true(carrier.verify('BYE', retry.uriText, retry.get('proxy-authorization'), () => 's3cret').ok);
  w.answer(retry, 200);
  t.is((await result).status, 200);
  t.is(d.localSeq, 3, 'the dialog counts the retry');
});

function client(w: ReturnType<typeof wire>, o: { body?: boolean; ackLater?: boolean } = {}) {
  const events: string[] = [];
  const c = new InviteClient(w.stack, invite(w, o.body ?? true), {
    onProgress: (res) => events.push(`progress ${res.status}`),
    onAnswered: (res) => events.push(`answered ${res.status}`),
    onFailed: (status, _res, why) => events.push(`failed ${status}${why ? ` ${why}` : ''}`),
  }, { target: TARGET, credentials: account, ackLater: o.ackLater });
  c.start();
  return { c, events };
}

test('INVITE client: a challenge is answered, the 2xx is ACKed with the retried INVITE\'s CSeq', (t) => {
  const w = wire();
  const { c, events } = client(w);
  w.answer(w.requests('INVITE')[0], 407, { headers: { 'proxy-authenticate': carrier.challenge() } });
  t.is(w.requests('ACK').length, 1, 'the 407 is ACKed by its transaction');
  const retry = w.requests('INVITE')[1];
  t.is(retry.cseq.seq, 2);
  w.answer(retry, 180, { tag: 'x' });
  w.answer(retry, 200, { tag: 'x' });
  t.deepEqual(events, ['progress 180', 'answered 200']);
  t.is(c.phase, InviteClientPhase.Answered);
  const ack = w.requests('ACK')[1];
  t.is(ack.cseq.seq, 2);
  t.is(ack.to.tag, 'x');
  t.is(c.dialog?.state, DialogState.Confirmed);
  w.answer(retry, 200, { tag: 'x' });
  t.is(w.requests('ACK').length, 3, 'a retransmitted 2xx is ACKed again');
  t.deepEqual(events, ['progress 180', 'answered 200'], 'and not passed up again');
});

test('INVITE client: cancel() before any provisional sends no CANCEL until one comes (RFC 3261 9.1); 487 ends it quietly', (t) => {
  const w = wire();
  const { c, events } = client(w);
  c.cancel();
  t.is(w.requests('CANCEL').length, 0);
  const inv = w.requests('INVITE')[0];
  w.answer(inv, 180, { tag: 'x' });
  const cancel = w.requests('CANCEL')[0];
  t.truthy(cancel);
  t.is(cancel.topVia?.branch, inv.topVia?.branch, 'CANCEL matches the INVITE');
  t.is(cancel.cseq.method, 'CANCEL');
  t.is(cancel.cseq.seq, 1);
  w.answer(inv, 487, { tag: 'x' });
  t.is(c.phase, InviteClientPhase.Cancelled);
  t.deepEqual(events, [], 'the user hears nothing after cancelling');
});

test('INVITE client: a 200 crossing the CANCEL is ACKed and ended with BYE', (t) => {
  const w = wire();
  const { c, events } = client(w);
  const inv = w.requests('INVITE')[0];
  w.answer(inv, 183, { tag: 'x' });
  c.cancel();
  t.is(w.requests('CANCEL').length, 1);
  w.answer(inv, 200, { tag: 'x' });
  t.is(w.requests('ACK').length, 1);
  t.is(w.requests('BYE').length, 1);
  t.is(w.requests('BYE')[0].to.tag, 'x');
  t.deepEqual(events, ['progress 183']);
  t.is(c.phase, InviteClientPhase.Cancelled);
});

test('INVITE client: a CANCEL that gets no final answer stops the wait after 64*T1', (t) => {
  const w = wire();
  const { c } = client(w);
  w.answer(w.requests('INVITE')[0], 180, { tag: 'x' });
  c.cancel();
  w.clock.advance(64 * 500 - 1);
  t.is(c.phase, InviteClientPhase.Cancelling);
  w.clock.advance(1);
  t.is(c.phase, InviteClientPhase.Cancelled);
  t.is(w.stack.transactions.clientCount, 0, 'no transaction left: the INVITE abandoned, the unanswered CANCEL timed out');
});

test('INVITE client: a second fork\'s 2xx gets its own ACK and a BYE; the first is the call', (t) => {
  const w = wire();
  const { c, events } = client(w);
  const inv = w.requests('INVITE')[0];
  w.answer(inv, 200, { tag: 'first' });
  w.answer(inv, 200, { tag: 'second' });
  t.deepEqual(events, ['answered 200']);
  t.is(c.dialog?.remoteTag, 'first');
  t.deepEqual(w.requests('ACK').map((a) => a.to.tag), ['first', 'second']);
  t.deepEqual(w.requests('BYE').map((b) => b.to.tag), ['second']);
});

test('INVITE client: a delayed offer is ACKed by the user, with the answer', (t) => {
  const w = wire();
  const { c } = client(w, { body: false, ackLater: true });
  w.answer(w.requests('INVITE')[0], 200, { tag: 'x', body: 'v=0\r\n' });
  t.is(w.requests('ACK').length, 0, 'no ACK before the answer is known');
  c.ack({ type: 'application/sdp', data: Buffer.from('answer') });
  const ack = w.requests('ACK')[0];
  t.is(ack.body.toString(), 'answer');
  t.is(ack.contentType, 'application/sdp');
});

test('INVITE client: no answer at all is 408 after Timer B; an unreachable target 503', (t) => {
  const w = wire();
  const { events } = client(w);
  w.clock.advance(64 * 500);
  t.deepEqual(events, ['failed 408']);
  const w2 = wire();
  w2.stack.send = (_b, _t, cb) => cb?.(new Error('ECONNREFUSED'));
  const { events: e2 } = client(w2);
  t.deepEqual(e2, ['failed 503']);
});

test('refuse(): one final answer per request; 405 names what is allowed; the dispatcher answers 500 when a handler throws', (t) => {
  const w = wire();
  const tx = w.receive(peerRequest('MESSAGE'));
  w.stack.refuse(tx, 405);
  w.stack.refuse(tx, 500);
  const answers = w.sent.filter((m): m is SipResponse => !m.isRequest);
  t.deepEqual(answers.map((r) => r.status), [405], 'the first refusal stands');
  t.is(answers[0].get('allow'), w.stack.allow);
  t.throws(() => w.stack.refuse(tx, 200), { instanceOf: TypeError, message: /^status/ });
  const logger = createTestLogger();
  const d = new RequestDispatcher(logger);
  d.attach(w.stack);
  d.on('INVITE', () => {
    throw new Error('boom');
  });
  const inv = w.receive(peerRequest('INVITE', { branch: 'z9hG4bKboom' }));
  d.dispatch(inv.request, inv);
  const last = w.sent.at(-1) as SipResponse;
  t.is(last.status, 500);
  t.true(logger.records.some((r) => r.level === 'error' && /INVITE handler failed: boom/.test(String(r.message)) && r.callId === 'call-1'));
  const bye = w.receive(peerRequest('BYE', { branch: 'z9hG4bKbye' }));
  d.dispatch(bye.request, bye);
  t.is((w.sent.at(-1) as SipResponse).status, 481, 'a BYE outside any dialog');
  const inDialog = w.receive(peerRequest('INFO', { branch: 'z9hG4bKinfo', toTag: 'gone' }));
  d.dispatch(inDialog.request, inDialog);
  t.is((w.sent.at(-1) as SipResponse).status, 481, 'a request for a dialog nobody holds');
  t.is(PEER.port, 5099);
});
