/**
 * Registrar semantics (RFC 3261 section 10.3, RFC 3327, node capacity) driven by sipp: the
 * answers are read from sipp's message trace, the bindings from the node.
 */
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { portBlock } from '../helpers/ports.js';
import { runSipp } from '../helpers/sipp.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { scenario } from '../helpers/peers.js';

const port = portBlock(3);
const SCENARIO = scenario('register_keys.xml');

let node: TestServer;
test.before(async () => {
  node = await startServer({ udp: port(0), yaml: 'registrar: { maxContactsPerUser: 3 }' });
});
test.after.always(() => node?.close());

/** REGISTER for `user` with the given Contact and Expires; returns the final answer's text. */
async function register(user: string, contact: string, expires: number | string, localPort: number, extra = 'X-Test: 1'): Promise<string> {
  const r = await runSipp([`127.0.0.1:${port(0)}`, '-sf', SCENARIO, '-s', user, '-au', user, '-ap', `demo${user}`,
    '-key', 'contact', contact, '-key', 'expires', String(expires), '-key', 'extra', extra,
    '-i', '127.0.0.1', '-p', String(localPort), '-m', '1'], { timeoutMs: 15_000, trace: true });
  const received = r.messages.split(/-{20,}.*\n/).filter((m) => /message received/.test(m))
    .map((m) => m.slice(m.indexOf('SIP/2.0 '))).filter((m) => /^SIP\/2\.0 [2-6]/.test(m) && !/^SIP\/2\.0 401/.test(m));
  if (!received.length) throw new Error(`no final answer:\n${r.messages.slice(-2000)}`);
  return received[received.length - 1].trim();
}

const contact = (user: string, p: number, params = '') => `<sip:${user}@127.0.0.1:${p}>${params}`;

test.serial('a registration shorter than Min-Expires gets 423 and no binding', async (t) => {
  const res = await register('201', contact('201', port(10)), 30, port(10));
  t.regex(res, /^SIP\/2\.0 423 /);
  t.regex(res, /Min-Expires: 60/);
  t.deepEqual(node.server.location.lookup('201'), []);
});

test.serial('a registration longer than the maximum is shortened to it', async (t) => {
  const res = await register('202', contact('202', port(11)), 7200, port(11));
  t.regex(res, /^SIP\/2\.0 200 /);
  t.regex(res, /expires=3600/);
  const [b] = node.server.location.lookup('202');
  t.true(b.expiresAt - Date.now() <= 3600_000 && b.expiresAt - Date.now() > 3500_000);
});

test.serial('several contacts with q-values; lookups give the highest q first; * with Expires 0 removes them all', async (t) => {
  const res = await register('203', `${contact('203', port(12), ';q=0.5')}, ${contact('203', port(13), ';q=0.9')}`, 300, port(12));
  t.regex(res, /^SIP\/2\.0 200 /);
  t.deepEqual(node.server.location.lookup('203').map((b) => [b.contact, b.q]), [
    [`sip:203@127.0.0.1:${port(13)}`, 0.9],
    [`sip:203@127.0.0.1:${port(12)}`, 0.5],
  ]);
  t.is((res.match(/^Contact: <sip:203@/gm) ?? []).length, 2, 'the 200 lists every current contact');
  const bad = await register('203', '*', 300, port(12));
  t.regex(bad, /^SIP\/2\.0 400 /, '* needs Expires: 0');
  t.is(node.server.location.lookup('203').length, 2, 'a refused request changes nothing');
  const cleared = await register('203', '*', 0, port(12));
  t.regex(cleared, /^SIP\/2\.0 200 /);
  t.deepEqual(node.server.location.lookup('203'), []);
});

test.serial('more contacts than allowed per user are refused, keeping the ones there', async (t) => {
  const four = [1, 2, 3, 4].map((i) => contact('204', port(20 + i))).join(', ');
  const res = await register('204', four, 300, port(20));
  t.regex(res, /^SIP\/2\.0 403 .*at most 3 contacts/);
  t.deepEqual(node.server.location.lookup('204'), []);
});

test.serial('Path (RFC 3327) is stored with the binding and echoed', async (t) => {
  const res = await register('205', contact('205', port(30)), 300, port(30), 'Path: <sip:127.0.0.5:5090;lr>');
  t.regex(res, /^SIP\/2\.0 200 /);
  t.deepEqual(node.server.location.lookup('205')[0].path, ['<sip:127.0.0.5:5090;lr>']);
});

test.serial('RFC 5626: two flows of one phone (one +sip.instance, reg-id 1 and 2) are two bindings; the 200 says Require: outbound and Flow-Timer, a plain one neither', async (t) => {
  const instance = ';+sip.instance="<urn:uuid:2b1e0c52-0000-4000-8000-000000000205>"';
  const one = await register('205', contact('205', port(60), `${instance};reg-id=1`), 300, port(60), 'Supported: path, outbound');
  t.regex(one, /^SIP\/2\.0 200 /);
  t.regex(one, /^Require: outbound/m);
  t.regex(one, /^Flow-Timer: 25\r?$/m);
  const two = await register('205', contact('205', port(61), `${instance};reg-id=2`), 300, port(61), 'Supported: path, outbound');
  t.regex(two, /^Flow-Timer: 25/m);
  t.deepEqual(node.server.location.lookup('205').filter((b) => b.instanceId !== undefined).map((b) => [b.regId, b.contact]).sort(), [[1, `sip:205@127.0.0.1:${port(60)}`], [2, `sip:205@127.0.0.1:${port(61)}`]], 'one binding per flow');
  const plain = await register('206', contact('206', port(62)), 300, port(62));
  t.regex(plain, /^SIP\/2\.0 200 /);
  t.notRegex(plain, /^(Require|Flow-Timer):/m, 'no flow, no outbound promises');
});

test.serial('an unknown extension cannot register, even with a made-up password', async (t) => {
  const r = await runSipp([`127.0.0.1:${port(0)}`, '-sf', SCENARIO, '-s', '999', '-au', '999', '-ap', 'demo999',
    '-key', 'contact', contact('999', port(40)), '-key', 'expires', '300', '-key', 'extra', 'X-Test: 1',
    '-i', '127.0.0.1', '-p', String(port(40)), '-m', '1'], { timeoutMs: 15_000, trace: true });
  t.notRegex(r.messages, /SIP\/2\.0 200 OK/);
  t.deepEqual(node.server.location.lookup('999'), []);
});

test.serial('OPTIONS to the server is answered with what it allows', async (t) => {
  const scenario = join(node.dir, 'options.xml');
  writeFileSync(scenario, `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="options">
  <send><![CDATA[
      OPTIONS sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:probe@[local_ip]>;tag=[pid]
      To: <sip:[remote_ip]>
      Call-ID: [call_id]
      CSeq: 1 OPTIONS
      Max-Forwards: 70
      Content-Length: 0
  ]]></send>
  <recv response="200"><action><ereg regexp="REGISTER" search_in="hdr" header="Allow:" check_it="true" assign_to="a"/></action></recv>
  <Reference variables="a"/>
</scenario>`);
  const r = await runSipp([`127.0.0.1:${port(0)}`, '-sf', scenario, '-i', '127.0.0.1', '-p', String(port(41)), '-m', '1'], { timeoutMs: 10_000 });
  t.is(r.code, 0, r.stderr.slice(-1500));
});

test.serial("the node profile's user capacity is enforced at registration (DL120: 250)", async (t) => {
  const users = Array.from({ length: 260 }, (_, i) => `  - { extension: "${3000 + i}", password: demo${3000 + i} }`).join('\n');
  const small = await startServer({ udp: port(1), users, yaml: 'node: { profile: DL120 }' });
  try {
    // 250 phones register (sipp, 25 at a time), then the 251st is refused.
    for (let batch = 0; batch < 10; batch++) {
      const runs = Array.from({ length: 25 }, (_, i) => {
        const ext = String(3000 + batch * 25 + i);
        return runSipp([`127.0.0.1:${port(1)}`, '-sf', SCENARIO, '-s', ext, '-au', ext, '-ap', `demo${ext}`,
          '-key', 'contact', contact(ext, port(50 + i)), '-key', 'expires', '300', '-key', 'extra', 'X-Test: 1',
          '-i', '127.0.0.1', '-p', String(port(50 + i)), '-m', '1'], { timeoutMs: 15_000 });
      });
      const codes = (await Promise.all(runs)).map((r) => r.code);
      t.deepEqual(codes.filter((c) => c !== 0), [], `batch ${batch} registered`);
    }
    t.is(small.server.location.aorCount, 250);
    const refused = await runSipp([`127.0.0.1:${port(1)}`, '-sf', SCENARIO, '-s', '3250', '-au', '3250', '-ap', 'demo3250',
      '-key', 'contact', contact('3250', port(80)), '-key', 'expires', '300', '-key', 'extra', 'X-Test: 1',
      '-i', '127.0.0.1', '-p', String(port(80)), '-m', '1'], { timeoutMs: 15_000, trace: true });
    t.regex(refused.messages, /403 Forbidden \(user capacity of this node reached: 250\)/);
    t.is(small.server.location.lookup('3250').length, 0, 'the 251st extension is refused');
    t.true(small.logger.records.some((l) => /capacity reached/.test(String(l.message))), 'a warning is logged');
    const again = await runSipp([`127.0.0.1:${port(1)}`, '-sf', SCENARIO, '-s', '3000', '-au', '3000', '-ap', 'demo3000',
      '-key', 'contact', contact('3000', port(50)), '-key', 'expires', '300', '-key', 'extra', 'X-Test: 1',
      '-i', '127.0.0.1', '-p', String(port(50)), '-m', '1'], { timeoutMs: 15_000, trace: true });
    t.regex(again.messages, /SIP\/2\.0 200 OK/, 'a registered extension can still refresh');
  } finally {
    await small.close();
  }
});
