/**
 * The call core on its own: a Call with its ring strategies, on a recording SIP wire and a
 * manual clock (test doubles; test/helpers/wire.ts). The test plays the caller and every callee:
 * it reads the INVITEs the call sends and answers them, and moves time itself.
 */
import test from 'ava';
import { createTestLogger } from '../../src/core/logger.js';
import type { CallRecord } from '../../src/core/call-record.js';
import { Call, type CallHost } from '../../src/features/calls/call.js';
import { CallState, CallStateError, CallStateMachine } from '../../src/features/calls/call-state.js';
import { ForkFactory } from '../../src/features/calls/forks.js';
import { InboundLeg } from '../../src/features/calls/leg.js';
import { OutboundRoute, type RouteTrunk } from '../../src/features/calls/outbound.js';
import { ContactsStrategy } from '../../src/features/calls/ring/contacts.js';
import { Destinations } from '../../src/features/calls/routing.js';
import { SettingsStore } from '../../src/features/calls/settings.js';
import { RoutesStrategy } from '../../src/features/calls/ring/routes.js';
import type { RingStrategy } from '../../src/features/calls/ring/strategy.js';
import type { TransferHost } from '../../src/features/calls/transfer.js';
import { refusal, type CallsOptions, type CallUser } from '../../src/features/calls/types.js';
import { SipRequest, type SipResponse } from '../../src/sip/message/message.js';
import type { InviteServerTransaction } from '../../src/sip/transaction/server.js';
import { parseMessage } from '../../src/sip/message/parser.js';
import { EventEmitter } from 'node:events';
import { peerRequest, wire } from '../helpers/wire.js';

const OFFER = 'v=0\r\no=caller 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';
const ANSWER = 'v=0\r\no=callee 1 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n';
const RING_MS = 60_000;

/** A fake trunk (a test double of src/features/trunks): channels counted, a fixed address. */
function trunk(name: string, lineGroup: number, address: string, channels = 1): RouteTrunk & { used: number } {
  const t = {
    name, lineGroup, used: 0, digest: undefined,
    config: { setupTimeoutSeconds: 2, allowTrunkToTrunk: false },
    acquire: () => (t.used < channels ? (t.used++, true) : false),
    release: () => void t.used--,
    target: async () => ({ protocol: 'udp' as const, address, port: 5060 }),
    requestUri: (n: string) => `sip:${n}@${address}`,
    identity: () => ({ from: `<sip:pbx@pbx.test>;tag=t${name}`, headers: {} }),
  };
  return t;
}

function harness(contacts: Record<string, number> = {}, trunks: ReturnType<typeof trunk>[] = []) {
  const w = wire();
  const log = createTestLogger('debug');
  const records: CallRecord[] = [];
  const diverted: string[] = [];
  const users = new Map<string, CallUser>(['201', '202', '203', '204'].map((e) => [e, { extension: e, name: e, media: 'direct' }]));
  const pool = Object.assign(new EventEmitter(), {
    inGroup: (g: number) => trunks.filter((t) => t.lineGroup === g),
    available: (g: number) => trunks.some((t) => t.lineGroup === g && t.used < 1),
    identify: () => undefined,
  });
  const forks = new ForkFactory({
    stack: w.stack, logger: log, domain: 'pbx.test', users, trunks: pool as never,
    locate: (ext) => Array.from({ length: contacts[ext] ?? 0 }, (_, i) => ({
      contact: `sip:${ext}@10.0.${ext.slice(-1)}.${i + 1}:5060`, path: [], source: { protocol: 'udp', address: `10.0.${ext.slice(-1)}.${i + 1}`, port: 5060 },
    })),
  });
  const host: CallHost = {
    log, clock: w.clock, forks, transfers: {} as TransferHost, ringTimeoutMs: RING_MS,
    registerLeg: () => undefined,
    divert: (_call, leg, _side, mailbox) => {
      diverted.push(mailbox);
      leg.reject(486, 'Busy Here (test: voicemail)');
    },
    ended: (_c, r) => records.push(r),
  };
  let n = 0;
  /** The caller 201 calls; its INVITE carries `offer` (none: a delayed offer). */
  const call = (strategy: RingStrategy, offer: string | null = OFFER) => {
    const callId = `caller-${++n}`;
    const tx = w.receive(peerRequest('INVITE', { callId, branch: `z9hG4bKcaller${n}`, body: offer ?? undefined })) as InviteServerTransaction;
    const a = new InboundLeg(w.stack, tx.request, tx, '201', log, '<sip:pbx@127.0.0.1:5060>');
    const c = new Call(host, { id: callId, callerNumber: '201', callerName: '', calledNumber: strategy.target, direction: 'internal', withheld: false }, a, undefined, strategy);
    c.begin();
    return c;
  };
  /** What the caller was answered (statuses in order). */
  const toCaller = (c: Call) => w.sent.filter((m): m is SipResponse => !m.isRequest && m.callId === c.a.callId).map((r) => r.status);
  /** INVITEs sent to callees (not requests from the caller's side). */
  const invites = (host?: string) => w.requests('INVITE').filter((r) => !host || r.uri.host === host);
  /** Requests of `method` in the dialog (Call-ID) of the INVITE sent to `host`. */
  const out = (method: string, host: string) => {
    const ids = new Set(invites(host).map((i) => i.callId));
    return w.requests(method).filter((r) => ids.has(r.callId));
  };
  return { w, log, records, diverted, call, toCaller, invites, out, pool };
}

const phone = (ext: string, i = 1) => `10.0.${ext.slice(-1)}.${i}`;

test('the state machine names every state; a transition its table lacks is refused', (t) => {
  const sm = new CallStateMachine();
  const seen: string[] = [];
  sm.onChange = (from, to) => seen.push(`${from}>${to}`);
  sm.to(CallState.Routing, 'begun');
  sm.to(CallState.Ringing, 'forks out');
  t.throws(() => sm.to(CallState.Idle, 'back'), { instanceOf: CallStateError, message: /ringing -> idle/ });
  sm.to(CallState.Answered, 'answered');
  t.throws(() => sm.to(CallState.Ringing, 'ring again'), { instanceOf: CallStateError });
  t.throws(() => sm.to(CallState.Early, 'early after answer'), { instanceOf: CallStateError });
  sm.to(CallState.Transferring, 'blind transfer');
  sm.to(CallState.Answered, 'transfer done');
  sm.to(CallState.Ending, 'bye');
  t.throws(() => sm.to(CallState.Answered, 'revive'), { instanceOf: CallStateError });
  sm.to(CallState.Ended, 'done');
  for (const s of Object.values(CallState)) t.throws(() => sm.to(s, 'after the end'), { instanceOf: CallStateError });
  t.deepEqual(seen, ['idle>routing', 'routing>ringing', 'ringing>answered', 'answered>transferring', 'transferring>answered', 'answered>ending', 'ending>ended']);
});

test('every phone rings; the first 200 wins; a 200 crossing the CANCEL of another phone is ACKed and ended', async (t) => {
  const h = harness({ '202': 2 });
  const c = h.call(new ContactsStrategy({ extension: '202' }));
  t.is(c.state, CallState.Ringing);
  const [one, two] = h.invites();
  t.truthy(one && two);
  t.is(one.body.toString(), OFFER, 'direct media: the caller\'s offer goes to the phones');
  h.w.answer(one, 180, { tag: 'p1' });
  h.w.answer(two, 180, { tag: 'p2' });
  h.w.answer(one, 200, { tag: 'p1', body: ANSWER });
  t.is(c.state, CallState.Answered);
  t.is(h.out('CANCEL', phone('202', 2)).length, 1, 'the other phone is cancelled');
  h.w.answer(two, 200, { tag: 'p2', body: ANSWER });
  t.is(h.out('ACK', phone('202', 2)).length, 1, 'its crossing 200 is ACKed');
  t.is(h.out('BYE', phone('202', 2)).length, 1, 'and ended');
  t.deepEqual(h.toCaller(c), [180, 200], 'the caller sees one answer');
  t.is(c.state, CallState.Answered, 'the call goes on with the first phone');
  c.end('test over');
  t.is(h.out('BYE', phone('202', 1)).length, 1);
  h.w.answer(h.out('BYE', phone('202', 1))[0], 200);
  const callerBye = h.w.requests('BYE').find((b) => b.callId === c.a.callId)!;
  t.is(c.state, CallState.Ending, 'ending while a BYE waits for its answer');
  h.w.clock.advance(500);
  t.is(h.w.requests('BYE').filter((b) => b.callId === c.a.callId).length, 2, 'an unanswered BYE is retransmitted');
  h.w.answer(callerBye, 200);
  await c.closed;
  t.is(c.state, CallState.Ended, 'ended once the BYE was answered');
  t.like(h.records[0], { disposition: 'answered', connectedNumber: '202' });
});

test('when every phone refuses, the caller gets the best failure (RFC 3261 16.7): 6xx, then busy, then the lowest', (t) => {
  const cases: [number[], number][] = [[[486, 603, 404], 603], [[480, 486], 486], [[408, 404], 404], [[408], 480]];
  for (const [statuses, expected] of cases) {
    const h = harness({ '202': statuses.length });
    const c = h.call(new ContactsStrategy({ extension: '202' }));
    h.invites().forEach((inv, i) => h.w.answer(inv, statuses[i], { tag: `p${i}` }));
    t.is(h.toCaller(c).at(-1), expected, `${statuses.join('+')} -> ${expected}`);
    t.is(c.state, CallState.Ending);
  }
});

/** The dial plan's decision for 201 calling `number`, with 202 and 203 both forwarding on busy. */
function decide(number: string): RingStrategy {
  const users = new Map<string, CallUser>(['201', '202', '203', '204'].map((e) => [e, { extension: e, name: e, media: 'direct' }]));
  const base = { forwardAll: undefined, forwardBusy: undefined, forwardNoAnswer: undefined, noAnswerSeconds: 15, doNotDisturb: false, callWaiting: true, withholdCallerId: false };
  const settings = new SettingsStore(undefined, new Map([...users.keys()].map((e) => [e, { ...base, forwardBusy: e === '202' ? '203' : e === '203' ? '204' : undefined }])));
  const d = new Destinations({
    log: createTestLogger(), options: { users, settings } as CallsOptions, onCall: () => false,
    memberState: () => { throw new Error('no hunt groups here'); }, feature: () => refusal(501, 'no features'), voicemail: () => refusal(480, 'no voicemail'),
  });
  const decision = d.decide({ from: { number: '201', name: '', withheld: false }, dialled: number, causer: '201', callId: 'x' }, { kind: 'extension', extension: number });
  if (decision.kind !== 'ring') throw new Error(`expected to ring, got ${decision.kind}`);
  return decision.strategy;
}

test('forwarding happens once: a busy 202 forwards to 203; 203 (forwarding on busy itself) busy too ends the call busy', (t) => {
  const h = harness({ '202': 1, '203': 1, '204': 1 });
  const c = h.call(decide('202'));
  h.w.answer(h.invites(phone('202'))[0], 486, { tag: 'x' });
  t.is(h.invites(phone('203')).length, 1, '203 rings');
  t.true(h.toCaller(c).includes(181), 'the caller hears it is forwarded');
  t.true(h.log.records.some((r) => /call forwarded \(busy\) from 202 to 203/.test(String(r.message))));
  h.w.answer(h.invites(phone('203'))[0], 486, { tag: 'y' });
  t.is(h.invites(phone('204')).length, 0, 'no second forwarding');
  t.is(h.toCaller(c).at(-1), 486);
  t.like(h.records[0], { disposition: 'busy', cause: '486' });
});

test('no answer within the mailbox time: ringing stops and the caller goes to voicemail', (t) => {
  const h = harness({ '202': 1 });
  const c = h.call(new ContactsStrategy({ extension: '202', voicemail: { mailbox: '202', afterMs: 15_000 } }));
  h.w.answer(h.invites()[0], 180, { tag: 'x' });
  h.w.clock.advance(14_999);
  t.deepEqual(h.diverted, []);
  h.w.clock.advance(1);
  t.deepEqual(h.diverted, ['202']);
  t.is(h.out('CANCEL', phone('202')).length, 1, 'the phone stops ringing');
  t.like(h.records[0], { disposition: 'no-answer', cause: 'voicemail' });
  t.is(c.state, CallState.Ending);
});

test('the ring timeout cancels every phone and answers the caller 480; no timer is left', (t) => {
  const h = harness({ '202': 2 });
  const c = h.call(new ContactsStrategy({ extension: '202' }));
  for (const [i, inv] of h.invites().entries()) h.w.answer(inv, 180, { tag: `p${i}` });
  h.w.clock.advance(RING_MS);
  t.is(h.w.requests('CANCEL').length, 2);
  t.is(h.toCaller(c).at(-1), 480);
  t.like(h.records[0], { disposition: 'no-answer', cause: '480' });
  t.is(c.timers.size, 0);
});

test('a trunk that gives no answer within its setup time hands the call to the next route at once', (t) => {
  const silent = trunk('silent', 1, '10.9.0.1');
  const next = trunk('next', 2, '10.9.0.2');
  const h = harness({}, [silent, next]);
  const route = new OutboundRoute({ pool: h.pool, select: () => ({ kind: 'routes', form: 'f', alternate: undefined, routes: [1, 2].map((g) => ({ lineGroup: g, number: '0123', callerId: {}, available: true, code: 'N' })) }), start: { form: 'f', number: '0123' } });
  const c = h.call(new RoutesStrategy('90123', route));
  return new Promise<void>((resolve) => setImmediate(() => {
    t.is(h.invites('10.9.0.1').length, 1);
    t.is(silent.used, 1);
    h.w.clock.advance(1999);
    t.is(h.invites('10.9.0.2').length, 0);
    h.w.clock.advance(1);
    t.is(silent.used, 0, 'the silent trunk\'s channel is given back');
    setImmediate(() => {
      t.is(h.invites('10.9.0.2').length, 1, 'the next route is tried');
      h.w.answer(h.invites('10.9.0.2')[0], 200, { tag: 'n', body: ANSWER });
      t.is(c.state, CallState.Answered);
      t.true(h.log.records.some((r) => /trunk silent gave no answer within its setup time/.test(String(r.message))));
      resolve();
    });
  }));
});

test('every route busy: the caller camps on until a channel frees, then the call goes out', async (t) => {
  const only = trunk('only', 1, '10.9.0.3');
  only.used = 1; // another call holds its one channel
  const h = harness({}, [only]);
  const route = new OutboundRoute({ pool: h.pool, select: () => ({ kind: 'routes', form: 'f', routes: [{ lineGroup: 1, number: '0123', callerId: {}, available: false, code: 'N' }], alternate: { form: undefined, immediate: false, waitMs: 20_000 } }), start: { form: 'f', number: '0123' } });
  const c = h.call(new RoutesStrategy('90123', route));
  t.is(c.state, CallState.Routing, 'camping on: nothing rings');
  t.true(h.log.records.some((r) => /every route busy: camping on for 20000 ms/.test(String(r.message))));
  t.deepEqual(h.toCaller(c), [180], 'the caller hears ringing (direct media: no tone of ours)');
  only.release();
  h.pool.emit('channel-free');
  await new Promise((r) => setImmediate(r));
  t.is(h.invites('10.9.0.3').length, 1, 'the freed channel is taken');
  t.is(c.state, CallState.Ringing);
  t.false(c.timers.has('camp-on'));
});

test('a delayed offer (an INVITE without SDP) is answered: the callee\'s offer in our 200, the caller\'s answer in its ACK goes on to the callee', (t) => {
  const h = harness({ '202': 1 });
  const c = h.call(new ContactsStrategy({ extension: '202' }), null);
  t.is(c.state, CallState.Ringing, 'no 488');
  const inv = h.invites()[0];
  t.is(inv.body.length, 0, 'direct media: the phone is asked for an offer too');
  h.w.answer(inv, 200, { tag: 'x', body: ANSWER });
  const ok = h.w.sent.filter((m): m is SipResponse => !m.isRequest && m.callId === c.a.callId && m.status === 200)[0];
  t.is(ok.body.toString(), ANSWER, 'the callee\'s offer goes to the caller in our 200');
  t.is(h.out('ACK', phone('202')).length, 0, 'the callee\'s 200 waits for the caller\'s answer');
  const ack = new SipRequest('ACK', 'sip:pbx@127.0.0.1:5060');
  ack.set('via', 'SIP/2.0/UDP 127.0.0.9:5099;branch=z9hG4bKack').set('from', c.a.request.get('from')!).set('to', `${c.a.request.get('to')};tag=${c.a.localTag}`);
  ack.set('call-id', c.a.callId).set('cseq', '1 ACK').set('content-type', 'application/sdp');
  ack.body = Buffer.from(OFFER);
  c.a.handleAck(parseMessage(ack.toBuffer()) as SipRequest);
  const calleeAck = h.out('ACK', phone('202'))[0];
  t.is(calleeAck?.body.toString(), OFFER, 'the answer reaches the callee in its ACK');
  t.is(c.state, CallState.Answered);
});

test('a throw inside the call ends that call with 500 and is logged; the node goes on', (t) => {
  const h = harness({ '202': 1 });
  const broken: RingStrategy = {
    target: '202', ringTimeout: true,
    start: (r) => void r.ringExtensions(['202']),
    forkFailed: () => {
      throw new Error('strategy bug');
    },
    answered: () => undefined, stop: () => undefined,
  };
  const c = h.call(broken);
  h.w.answer(h.invites()[0], 486, { tag: 'x' });
  t.is(h.toCaller(c).at(-1), 500);
  t.is(c.state, CallState.Ending);
  t.true(h.log.records.some((r) => r.level === 'error' && /call failed in fork failure: strategy bug/.test(String(r.message))));
  const other = h.call(new ContactsStrategy({ extension: '202' }));
  t.is(other.state, CallState.Ringing, 'another call is not affected');
});
