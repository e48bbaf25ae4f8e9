/**
 * The RFC 3261 section 17 state machines, driven with a recording transport and a manual clock
 * (unit-test doubles): the RFC's own timer values, and every timer seen firing at its time.
 */
import test from 'ava';
import { SipRequest, SipResponse } from '../../src/sip/message/message.js';
import { parseMessage } from '../../src/sip/message/parser.js';
import type { ClientTransaction } from '../../src/sip/transaction/client.js';
import { InviteClientState, NonInviteClientState } from '../../src/sip/transaction/client.js';
import { TransactionLayer } from '../../src/sip/transaction/layer.js';
import { InviteServerState, NonInviteServerState, type InviteServerTransaction, type NonInviteServerTransaction } from '../../src/sip/transaction/server.js';
import { TimerHeap } from '../../src/sip/transaction/timers.js';
import type { Source, Target } from '../../src/sip/transport/types.js';
import { ManualClock } from '../helpers/clock.js';

const T1 = 500;
const T2 = 4000;
const T4 = 5000;

function harness() {
  const sent: { buf: Buffer; at: number }[] = [];
  const clock = new ManualClock();
  const start = clock.now();
  const layer = new TransactionLayer({
    t1: T1, t2: T2, t4: T4,
    timers: new TimerHeap(clock),
    responseTarget: () => UDP,
    sendResponse: (buf) => sent.push({ buf, at: clock.now() - start }),
    sendRequest: (buf) => sent.push({ buf, at: clock.now() - start }),
  });
  return { layer, sent, clock, msgs: () => sent.map((s) => parseMessage(s.buf)) };
}

function request(method: string, branch = 'z9hG4bKtest1'): SipRequest {
  const r = new SipRequest(method, 'sip:202@127.0.0.1');
  r.set('via', `SIP/2.0/UDP 127.0.0.9:5099;branch=${branch}`).set('from', '<sip:201@127.0.0.1>;tag=aa');
  r.set('to', '<sip:202@127.0.0.1>').set('call-id', 'call-1').set('cseq', `7 ${method}`).set('max-forwards', '70');
  return parseMessage(r.toBuffer()) as SipRequest;
}

function response(req: SipRequest, status: number, toTag = 'bb'): SipResponse {
  const res = new SipResponse(status);
  res.set('via', req.get('via')!).set('from', req.get('from')!).set('to', `${req.get('to')};tag=${toTag}`);
  res.set('call-id', req.callId).set('cseq', req.get('cseq')!);
  return parseMessage(res.toBuffer()) as SipResponse;
}

const UDP: Target = { protocol: 'udp', address: '127.0.0.9', port: 5099 };
const TCP: Target = { protocol: 'tcp', address: '127.0.0.9', port: 5099 };
const SRC: Source = { protocol: 'udp', address: '127.0.0.9', port: 5099, localAddress: '127.0.0.1', localPort: 5060 };

function recorder() {
  const events: string[] = [];
  return {
    events,
    tu: {
      onResponse: (res: SipResponse) => events.push(`response ${res.status}`),
      onFailure: (why: string) => events.push(`failure ${why}`),
    },
  };
}

test('non-INVITE client over UDP: Timer E doubles up to T2, Timer F times out', (t) => {
  const { layer, sent, clock } = harness();
  const { events, tu } = recorder();
  const tx = layer.createClient(request('OPTIONS'), UDP, tu);
  clock.advance(64 * T1 - 1);
  t.deepEqual(events, [], 'still trying just before Timer F');
  clock.advance(1);
  t.deepEqual(events, ['failure timeout']);
  t.is(tx.state, NonInviteClientState.Terminated);
  t.is(layer.clientCount, 0);
  // sent at 0, T1, 3T1, 7T1, then every T2 until 64T1 (RFC 3261 17.1.2.2)
  t.deepEqual(sent.map((s) => s.at), [0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
  layer.close();
});

test('non-INVITE client over TCP: no retransmission; a final response completes it', (t) => {
  const { layer, sent, clock } = harness();
  const { events, tu } = recorder();
  const req = request('OPTIONS');
  const tx = layer.createClient(req, TCP, tu);
  clock.advance(10 * T1);
  t.is(sent.length, 1);
  t.true(layer.receiveResponse(response(req, 200)));
  t.deepEqual(events, ['response 200']);
  t.is(tx.state, NonInviteClientState.Completed);
  clock.advance(0);
  t.is(tx.state, NonInviteClientState.Terminated, 'Timer K is 0 on a reliable transport');
  layer.close();
});

test('INVITE client: 1xx stops Timer A; a non-2xx final is ACKed by the transaction, once passed up', (t) => {
  const { layer, msgs, clock } = harness();
  const { events, tu } = recorder();
  const inv = request('INVITE', 'z9hG4bKinv1');
  const tx = layer.createClient(inv, UDP, tu) as ClientTransaction;
  clock.advance(T1);
  t.is(msgs().length, 2, 'Timer A retransmitted once');
  layer.receiveResponse(response(inv, 180));
  t.is(tx.state, InviteClientState.Proceeding);
  clock.advance(100 * T1);
  t.is(msgs().length, 2, 'no retransmission after a provisional, and Timer B does not end a ringing call');
  t.is(tx.state, InviteClientState.Proceeding);
  layer.receiveResponse(response(inv, 486));
  layer.receiveResponse(response(inv, 486));
  t.deepEqual(events, ['response 180', 'response 486']);
  const acks = msgs().filter((m) => m.isRequest && (m as SipRequest).method === 'ACK') as SipRequest[];
  t.is(acks.length, 2, 'each 486 gets an ACK');
  t.is(acks[0].topVia?.branch, 'z9hG4bKinv1', 'same branch as the INVITE');
  t.is(acks[0].to.tag, 'bb', 'To tag of the response');
  t.is(acks[0].cseq.method, 'ACK');
  t.is(acks[0].cseq.seq, 7);
  t.is(tx.state, InviteClientState.Completed);
  layer.close();
});

test('INVITE client: 2xx moves to Accepted (RFC 6026) and retransmitted 2xx reach the TU', (t) => {
  const { layer } = harness();
  const { events, tu } = recorder();
  const inv = request('INVITE', 'z9hG4bKinv2');
  const tx = layer.createClient(inv, UDP, tu);
  layer.receiveResponse(response(inv, 200));
  layer.receiveResponse(response(inv, 200));
  t.deepEqual(events, ['response 200', 'response 200']);
  t.is(tx.state, InviteClientState.Accepted);
  layer.close();
});

test('INVITE server over UDP: Timer G retransmits a final error until the ACK, which is absorbed', (t) => {
  const { layer, msgs, clock, sent } = harness();
  const inv = request('INVITE', 'z9hG4bKsrv1');
  const tx = layer.createServer(inv, SRC) as InviteServerTransaction;
  tx.respond(response(inv, 180));
  t.is(layer.matchServer(request('INVITE', 'z9hG4bKsrv1')), tx, 'a retransmitted INVITE matches');
  tx.receiveRequest(request('INVITE', 'z9hG4bKsrv1'));
  t.is(msgs().length, 2, 'the 180 is sent again for the retransmitted INVITE');
  tx.respond(response(inv, 486));
  clock.advance(3 * T1);
  const all = msgs();
  const at486 = sent.filter((_, i) => !all[i].isRequest && (all[i] as SipResponse).status === 486).map((s) => s.at);
  t.deepEqual(at486, [0, T1, 3 * T1], 'sent, then Timer G at T1 and 2T1 later');
  const ack = request('ACK', 'z9hG4bKsrv1');
  t.is(layer.matchServer(ack), tx, 'the ACK matches the INVITE transaction');
  tx.receiveRequest(ack);
  t.is(tx.state, InviteServerState.Confirmed);
  const before = msgs().length;
  clock.advance(T4 - 1);
  t.is(tx.state, InviteServerState.Confirmed, 'Timer I is T4');
  clock.advance(1);
  t.is(msgs().length, before, 'no more retransmissions');
  t.is(tx.state, InviteServerState.Terminated, 'Timer I ended it');
  layer.close();
});

test('INVITE server: Timer H gives up when no ACK comes', (t) => {
  const { layer, clock } = harness();
  const inv = request('INVITE', 'z9hG4bKsrv2');
  const tx = layer.createServer(inv, SRC) as InviteServerTransaction;
  let failed = false;
  tx.onTransportError = () => (failed = true);
  tx.respond(response(inv, 603));
  clock.advance(64 * T1 - 1);
  t.false(failed);
  clock.advance(1);
  t.true(failed);
  t.is(layer.serverCount, 0);
  layer.close();
});

test('non-INVITE server: a retransmitted request gets the last response again; Timer J ends it', (t) => {
  const { layer, msgs, clock } = harness();
  const req = request('REGISTER', 'z9hG4bKreg1');
  const tx = layer.createServer(req, SRC) as NonInviteServerTransaction;
  tx.respond(response(req, 200));
  const again = request('REGISTER', 'z9hG4bKreg1');
  layer.matchServer(again)?.receiveRequest(again);
  t.is(msgs().length, 2);
  t.is(tx.state, NonInviteServerState.Completed);
  clock.advance(64 * T1);
  t.is(tx.state, NonInviteServerState.Terminated);
  t.is(layer.matchServer(again), undefined);
  layer.close();
});

test('RFC 2543 requests without the magic cookie match by their other fields', (t) => {
  const { layer } = harness();
  const old = request('OPTIONS', 'oldbranch');
  const tx = layer.createServer(old, SRC);
  t.is(layer.matchServer(request('OPTIONS', 'oldbranch')), tx);
  t.is(layer.matchServer(request('OPTIONS', 'z9hG4bKother')), undefined);
  layer.close();
});
