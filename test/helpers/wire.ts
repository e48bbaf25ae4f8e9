/**
 * A SIP stack on a recording wire (a unit-test double): nothing is bound, every message the
 * stack sends is parsed into `sent`, and the test plays the peers by handing responses to the
 * transaction layer. Timers run on a manual clock.
 */
import { createTestLogger } from '../../src/core/logger.js';
import { SipRequest, SipResponse, type SipMessageAny } from '../../src/sip/message/message.js';
import { parseMessage } from '../../src/sip/message/parser.js';
import { SipStack } from '../../src/sip/stack.js';
import type { ServerTransaction } from '../../src/sip/transaction/server.js';
import type { Source } from '../../src/sip/transport/types.js';
import { ManualClock } from './clock.js';

export const PEER: Source = { protocol: 'udp', address: '127.0.0.9', port: 5099, localAddress: '127.0.0.1', localPort: 5060 };

export interface Wire {
  stack: SipStack;
  clock: ManualClock;
  /** Everything the stack sent, parsed, in order. */
  sent: SipMessageAny[];
  /** The requests sent of `method`. */
  requests(method: string): SipRequest[];
  /** The peer answers `req` with `status` (To tag `tag` for anything but 100). */
  answer(req: SipRequest, status: number, o?: { tag?: string; headers?: Record<string, string | string[]>; body?: string }): void;
  /** A request from the peer reaches a new server transaction; returns it. */
  receive(req: SipRequest): ServerTransaction;
}

export function wire(opts: { onRequest?: (req: SipRequest, tx: ServerTransaction) => void; methods?: string[] } = {}): Wire {
  const clock = new ManualClock();
  const sent: SipMessageAny[] = [];
  const stack = new SipStack({
    listen: [{ transport: 'udp', address: '127.0.0.1', port: 5060 }],
    maxMessageSize: 65535,
    logger: createTestLogger(),
    methods: opts.methods ?? ['INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'INFO', 'UPDATE', 'REFER', 'NOTIFY'],
    supported: ['replaces'],
    accept: ['application/sdp'],
    clock,
    onRequest: opts.onRequest ?? (() => undefined),
  });
  stack.send = (buf, _target, cb) => {
    sent.push(parseMessage(buf));
    cb?.();
  };
  stack.local = () => ({ address: '127.0.0.1', port: 5060 });
  return {
    stack,
    clock,
    sent,
    requests: (method) => sent.filter((m): m is SipRequest => m.isRequest && m.method === method),
    answer(req, status, o = {}) {
      const res = new SipResponse(status);
      res.headers.set('via', req.headers.get('via')!.slice());
      res.set('from', req.get('from')!);
      res.set('to', status === 100 || /;tag=/.test(req.get('to')!) ? req.get('to')! : `${req.get('to')};tag=${o.tag ?? 'peer'}`);
      res.set('call-id', req.callId).set('cseq', req.get('cseq')!);
      if (status >= 101 && status < 300) res.set('contact', '<sip:peer@127.0.0.9:5099>');
      for (const [k, v] of Object.entries(o.headers ?? {})) res.set(k, v);
      if (o.body !== undefined) {
        res.set('content-type', 'application/sdp');
        res.body = Buffer.from(o.body);
      }
      stack.transactions.receiveResponse(parseMessage(res.toBuffer()) as SipResponse);
    },
    receive(req) {
      const parsed = parseMessage(req.toBuffer()) as SipRequest;
      return stack.transactions.createServer(parsed, PEER);
    },
  };
}

/** A request from the peer, as a phone would send it. */
export function peerRequest(method: string, o: { branch?: string; toTag?: string; callId?: string; cseq?: number; body?: string } = {}): SipRequest {
  const r = new SipRequest(method, 'sip:201@127.0.0.1');
  r.set('via', `SIP/2.0/UDP 127.0.0.9:5099;branch=${o.branch ?? `z9hG4bK${method.toLowerCase()}1`}`);
  r.set('from', '<sip:202@127.0.0.1>;tag=peer').set('to', `<sip:201@127.0.0.1>${o.toTag ? `;tag=${o.toTag}` : ''}`);
  r.set('call-id', o.callId ?? 'call-1').set('cseq', `${o.cseq ?? 1} ${method}`).set('max-forwards', '70');
  r.set('contact', '<sip:202@127.0.0.9:5099>');
  if (o.body !== undefined) {
    r.set('content-type', 'application/sdp');
    r.body = Buffer.from(o.body);
  }
  return r;
}
