/**
 * The stack's dialog layer against sipp's built-in UAC and UAS scenarios: a full INVITE / ACK /
 * BYE exchange in each direction over UDP, and the same as UAS over TCP.
 */
import test from 'ava';
import { Dialog } from '../../src/sip/dialog/dialog.js';
import { SipRequest, type SipResponse } from '../../src/sip/message/message.js';
import { SipStack } from '../../src/sip/stack.js';
import type { ServerTransaction } from '../../src/sip/transaction/server.js';
import { InviteServerTransaction } from '../../src/sip/transaction/server.js';
import { createTestLogger } from '../../src/core/logger.js';
import { portBlock } from '../helpers/ports.js';
import { runSipp, startSipp } from '../helpers/sipp.js';

const port = portBlock(2);
const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n';

/** A minimal UAS on our stack: answers every INVITE, ends the dialog on BYE. */
function uas(udp: number, tcp?: number) {
  const dialogs = new Map<string, Dialog>();
  const seen: string[] = [];
  const listen = [{ transport: 'udp' as const, address: '127.0.0.1', port: udp }];
  if (tcp) listen.push({ transport: 'tcp' as const, address: '127.0.0.1', port: tcp } as never);
  const stack: SipStack = new SipStack({
    listen,
    maxMessageSize: 65535,
    logger: createTestLogger(),
    methods: ['INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS'],
    accept: ['application/sdp'],
    onRequest: (req: SipRequest, tx: ServerTransaction) => {
      seen.push(req.method);
      if (req.method === 'INVITE' && tx instanceof InviteServerTransaction) {
        const tag = SipStack.tag();
        const l = stack.local(tx.source.protocol);
        const d = Dialog.fromRequest(stack, req, tag, `<sip:uas@${l.address}:${l.port};transport=${tx.source.protocol}>`,
          tx.source.flowId ? { protocol: tx.source.protocol, address: tx.source.address, port: tx.source.port, flowId: tx.source.flowId } : undefined);
        dialogs.set(d.id, d);
        stack.respond(tx, stack.createResponse(req, 180, undefined, tag));
        const ok = stack.createResponse(req, 200, undefined, tag);
        ok.set('contact', d.localContact).set('content-type', 'application/sdp');
        ok.body = Buffer.from(SDP);
        d.sendSuccess(tx, ok);
        return;
      }
      const d = dialogs.get(Dialog.key(req.callId, req.to.tag ?? '', req.from.tag ?? ''));
      if (!d) {
        stack.respond(tx, stack.createResponse(req, 481));
        return;
      }
      if (!d.receiveRequest(req)) {
        stack.respond(tx, stack.createResponse(req, 500));
        return;
      }
      stack.respond(tx, stack.createResponse(req, 200));
      if (req.method === 'BYE') dialogs.delete(d.id);
    },
    onAck: (ack) => {
      seen.push('ACK');
      dialogs.get(Dialog.key(ack.callId, ack.to.tag ?? '', ack.from.tag ?? ''))?.ackReceived(ack);
    },
  });
  return { stack, dialogs, seen };
}

test.serial('UAS dialog: sipp calls us, we answer, sipp hangs up (UDP and TCP)', async (t) => {
  const { stack, dialogs, seen } = uas(port(0), port(1));
  await stack.start();
  try {
    const udp = await runSipp([`127.0.0.1:${port(0)}`, '-sn', 'uac', '-s', 'uas', '-i', '127.0.0.1', '-p', String(port(10)), '-m', '1', '-d', '200'], { timeoutMs: 15_000, trace: true });
    t.is(udp.code, 0, udp.messages.slice(-2000));
    const tcp = await runSipp([`127.0.0.1:${port(1)}`, '-sn', 'uac', '-s', 'uas', '-t', 't1', '-i', '127.0.0.1', '-p', String(port(11)), '-m', '1', '-d', '200'], { timeoutMs: 15_000, trace: true });
    t.is(tcp.code, 0, tcp.messages.slice(-2000));
    t.deepEqual(seen, ['INVITE', 'ACK', 'BYE', 'INVITE', 'ACK', 'BYE']);
    t.is(dialogs.size, 0, 'BYE ended the dialogs');
  } finally {
    await stack.close();
  }
});

test.serial('UAC dialog: we call sipp, ACK its 200, and hang up with BYE in the dialog', async (t) => {
  const uasRun = startSipp(['-sn', 'uas', '-i', '127.0.0.1', '-p', String(port(20)), '-m', '1'], { timeoutMs: 20_000, trace: true });
  const stack = new SipStack({
    listen: [{ transport: 'udp', address: '127.0.0.1', port: port(2) }],
    maxMessageSize: 65535,
    logger: createTestLogger(),
    methods: ['INVITE', 'ACK', 'BYE'],
    onRequest: () => undefined,
  });
  await stack.start();
  try {
    await new Promise((r) => setTimeout(r, 300));
    const inv = new SipRequest('INVITE', `sip:service@127.0.0.1:${port(20)}`);
    inv.set('from', `<sip:us@127.0.0.1>;tag=${SipStack.tag()}`).set('to', `<sip:service@127.0.0.1:${port(20)}>`);
    inv.set('call-id', SipStack.callId()).set('cseq', '1 INVITE').set('contact', `<sip:us@127.0.0.1:${port(2)}>`);
    inv.set('content-type', 'application/sdp');
    inv.body = Buffer.from(SDP);
    const answered = await new Promise<SipResponse>((resolve, reject) => {
      stack.request(inv, {
        onResponse: (res) => {
          if (res.status >= 200) resolve(res);
        },
        onFailure: (why) => reject(new Error(why)),
      });
    });
    t.is(answered.status, 200);
    const d = Dialog.fromResponse(stack, inv, answered);
    d.ack(inv.cseq.seq);
    const bye = d.createRequest('BYE');
    t.is(bye.cseq.seq, 2, 'BYE takes the next local CSeq');
    t.is(bye.to.tag, answered.to.tag);
    const byeRes = await new Promise<SipResponse>((resolve, reject) => {
      d.request(bye, { onResponse: (res) => res.status >= 200 && resolve(res), onFailure: (why) => reject(new Error(why)) });
    });
    t.is(byeRes.status, 200);
    const r = await uasRun.done;
    t.is(r.code, 0, r.messages.slice(-2000));
  } finally {
    await uasRun.stop();
    await stack.close();
  }
});
