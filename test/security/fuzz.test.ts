/**
 * A bounded fuzz run in every `npm test`: 3,000 mutated messages (fixed seed) over UDP, TCP and
 * WebSocket. No message may make the node throw (a handler exception is logged as
 * "onMessage threw"), the node keeps answering and a real phone (sipp) registers and calls
 * through it afterwards, and it holds no more state than a quiet node would. The long run with
 * its figures is `npm run bench -- fuzz`.
 */
import test from 'ava';
import { portBlock } from '../helpers/ports.js';
import { runSipp, scenario } from '../helpers/sipp.js';
import { startServer } from '../helpers/server.js';
import { fuzz } from '../helpers/fuzz.js';
import { eventually } from '../helpers/wait.js';
import { request, statusOf, UdpAttacker } from '../helpers/attacker.js';

const port = portBlock(136);

test('3,000 mutated messages over UDP, TCP and WebSocket: no exception, the node answers, a phone registers afterwards', async (t) => {
  const node = await startServer({ udp: port(0), tcp: port(0), ws: port(1) });
  const probe = await UdpAttacker.open('127.0.9.2');
  try {
    const options = () => probe.ask(request({ method: 'OPTIONS', uri: 'sip:127.0.0.1', fromUser: 'probe', toUser: 'probe', via: probe.via }), port(0), 2000);
    const answered: string[] = [];
    const stats = await fuzz({ udp: port(0), tcp: port(0), ws: port(1) }, {
      count: 3000, seed: 15, from: '127.0.9.1',
      onProgress: (n) => {
        if (n % 500 === 0) void options().then((r) => answered.push(statusOf(r)));
      },
    });
    t.is(stats.sent.udp + stats.sent.tcp + stats.sent.ws, 3000);
    t.true(stats.sent.tcp > 900 && stats.sent.ws > 900);
    const threw = node.logger.records.filter((r) => /onMessage threw|failed in the server/.test(String(r.message)));
    t.deepEqual(threw.map((r) => r.message), [], 'no message made the node throw');
    t.is(statusOf(await options()), '200 OK', 'the node answers after the run');
    t.true(answered.every((s) => s === '200 OK'), `and answered during it: ${answered.join(', ')}`);
    const reg = await runSipp([`127.0.0.1:${port(0)}`, '-sf', scenario('register_auth.xml'), '-s', '205', '-au', '205', '-ap', 'demo205',
      '-i', '127.0.0.1', '-p', String(port(10)), '-m', '1'], { timeoutMs: 15_000 });
    t.is(reg.code, 0, 'a real phone registers');
    t.true(await eventually(() => node.server.stack.transports.inboundConnections === 0, 3000), 'the fuzzer\'s connections are gone');
    t.true(await eventually(() => node.server.calls.active === 0, 3000), 'no call was left behind');
    t.log(`sent ${JSON.stringify(stats.sent)}, ${stats.replies} replies, ${stats.closed} connections closed by the node`);
  } finally {
    probe.close();
    await node.close();
  }
});
