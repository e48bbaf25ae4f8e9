/**
 * The registrar against real SIP stacks: sipp (UDP and TCP), baresip, and SIP.js over
 * WebSocket. Each test that needs its own node starts one on its own ports.
 */
import test from 'ava';
import { join } from 'node:path';
import { portBlock } from '../helpers/ports.js';
import { runSipp, SCENARIOS } from '../helpers/sipp.js';
import { startServer } from '../helpers/server.js';
import { Baresip, makeToneWav } from '../helpers/baresip.js';
import { registerOverWebSocket } from '../helpers/sipjs.js';

const port = portBlock(4);
const REGISTER = join(SCENARIOS, 'register_auth.xml');

function sippRegister(serverPort: number, user: string, password: string, localPort: number, extra: string[] = []) {
  return runSipp([`127.0.0.1:${serverPort}`, '-sf', REGISTER, '-s', user, '-au', user, '-ap', password,
    '-i', '127.0.0.1', '-p', String(localPort), '-m', '1', ...extra], { timeoutMs: 15_000, trace: true });
}

test.serial('sipp registers 201 with digest over UDP and TCP; a wrong password fails and leaves no binding', async (t) => {
  const node = await startServer({ udp: port(0), tcp: port(0) });
  try {
    const udp = await sippRegister(port(0), '201', 'demo201', port(10));
    t.is(udp.code, 0, udp.messages.slice(-1500));
    t.regex(udp.messages, /WWW-Authenticate: Digest/);
    t.deepEqual(node.server.location.lookup('201').map((b) => b.contact), [`sip:201@127.0.0.1:${port(10)}`]);

    const tcp = await sippRegister(port(0), '202', 'demo202', port(11), ['-t', 't1']);
    t.is(tcp.code, 0, tcp.messages.slice(-1500));
    const b202 = node.server.location.lookup('202');
    t.is(b202.length, 1);
    t.is(b202[0].source.protocol, 'tcp');
    t.is(b202[0].contact, `sip:202@127.0.0.1:${port(11)}`, 'a TCP binding without outbound outlives its connection');

    const bad = await sippRegister(port(0), '203', 'wrong', port(12));
    t.is(bad.code, 1, 'sipp reports the failed call');
    t.deepEqual(node.server.location.lookup('203'), []);
  } finally {
    await node.close();
  }
});

test.serial('repeated failures lock out that user from that address only, with a security log line', async (t) => {
  const node = await startServer({ udp: port(1), yaml: 'security: { lockout: { maxFailures: 3, windowSeconds: 60, lockoutSeconds: 60 } }' });
  try {
    const bad = await runSipp([`127.0.0.1:${port(1)}`, '-sf', REGISTER, '-s', '204', '-au', '204', '-ap', 'nope',
      '-i', '127.0.0.1', '-p', String(port(20)), '-m', '3'], { timeoutMs: 20_000 });
    t.is(bad.code, 1);
    const locked = await sippRegister(port(1), '204', 'demo204', port(21));
    t.is(locked.code, 1, 'the right password is refused while locked out');
    t.regex(locked.messages, /403 Forbidden \(locked out/);
    t.deepEqual(node.server.location.lookup('204'), []);
    const elsewhere = await runSipp([`127.0.0.1:${port(1)}`, '-sf', REGISTER, '-s', '204', '-au', '204', '-ap', 'demo204',
      '-i', '127.0.0.2', '-p', String(port(22)), '-m', '1'], { timeoutMs: 15_000 });
    t.is(elsewhere.code, 0, 'the same user from another address is unaffected');
    const other = await sippRegister(port(1), '205', 'demo205', port(23));
    t.is(other.code, 0, 'another user from the same address is unaffected');
    const events = node.logger.records.filter((r) => r.event === 'lockout');
    t.is(events.length, 1);
    t.is(events[0].user, '204');
    t.is(events[0].address, '127.0.0.1');
    t.false(JSON.stringify(node.logger.records).includes('demo204'), 'no password in the logs');
  } finally {
    await node.close();
  }
});

test.serial('bindings survive a restart; expired ones do not', async (t) => {
  const first = await startServer({ udp: port(2) });
  const dir = first.dir;
  try {
    t.is((await sippRegister(port(2), '206', 'demo206', port(30))).code, 0);
    t.is(first.server.location.lookup('206').length, 1);
  } finally {
    await first.close();
  }
  const second = await startServer({ udp: port(2), dir });
  try {
    const b = second.server.location.lookup('206');
    t.is(b.length, 1);
    t.is(b[0].contact, `sip:206@127.0.0.1:${port(30)}`);
    t.true(b[0].expiresAt > Date.now() + 200_000, 'kept with its expiry (300 s asked)');
  } finally {
    await second.close();
  }
});

test.serial('baresip registers and unregisters', async (t) => {
  const node = await startServer({ udp: port(3) });
  const wav = makeToneWav(join(node.dir, 'tone.wav'), 440, 30);
  const bs = await Baresip.start({
    listen: `127.0.0.11:${port(40)}`,
    ctrlPort: port(41),
    source: wav,
    account: `<sip:207@127.0.0.1:${port(3)}>;auth_pass=demo207;regint=600;audio_codecs=PCMU,PCMA`,
  });
  try {
    await bs.waitRegistered();
    const b = node.server.location.lookup('207');
    t.is(b.length, 1);
    t.regex(b[0].userAgent ?? '', /baresip/);
    await bs.stop(); // a graceful stop un-REGISTERs (Expires: 0)
    const deadline = Date.now() + 10_000;
    while (node.server.location.lookup('207').length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    t.deepEqual(node.server.location.lookup('207'), [], 'unregistered');
  } finally {
    await bs.stop();
    await node.close();
  }
});

test.serial('a SIP.js client registers over WebSocket (RFC 7118) and its binding goes with its connection', async (t) => {
  const node = await startServer({ udp: port(4), ws: port(5) });
  try {
    const ua = await registerOverWebSocket({ url: `ws://127.0.0.1:${port(5)}`, user: '208', password: 'demo208', domain: '127.0.0.1' });
    const b = node.server.location.lookup('208');
    t.is(b.length, 1);
    t.is(b[0].source.protocol, 'ws');
    t.truthy(b[0].source.flowId);
    t.truthy(b[0].instanceId, 'SIP.js sends +sip.instance (RFC 5626)');
    await ua.stopAbruptly();
    const deadline = Date.now() + 5000;
    while (node.server.location.lookup('208').length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    t.deepEqual(node.server.location.lookup('208'), [], 'binding removed when its flow closed');
    await ua.dispose();
  } finally {
    await node.close();
  }
});
