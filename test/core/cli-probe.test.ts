/**
 * `pbx probe`, the containers' health check: exit 0 only when a node answers OPTIONS with 200,
 * over UDP and TCP, to a URI or to the first socket of a configuration; 1 when something else
 * answers (a sipp carrier's 501), nothing answers, or the name does not resolve; 2 on usage errors.
 */
import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/core/config/index.js';
import { configProbeTarget, parseProbeTarget } from '../../src/probe.js';
import { cli } from '../helpers/config.js';
import { portBlock } from '../helpers/ports.js';
import { startServer } from '../helpers/server.js';
import { scenario, startSipp } from '../helpers/sipp.js';

const port = portBlock(140);

test('a running node answers 200 over UDP and TCP, by URI and by its configuration', async (t) => {
  const node = await startServer({ udp: port(0), tcp: port(1) });
  try {
    const udp = await cli('probe', `sip:127.0.0.1:${port(0)}`);
    t.is(udp.code, 0, udp.stderr);
    t.regex(udp.stdout, new RegExp(`^udp:127\\.0\\.0\\.1:${port(0)}: 200 OK in \\d+ ms \\(pbx-core\\)\\n$`));
    const tcp = await cli('probe', `127.0.0.1:${port(1)};transport=tcp`, '--timeout', '2');
    t.is(tcp.code, 0, tcp.stderr);
    t.regex(tcp.stdout, /^tcp:127\.0\.0\.1:\d+: 200 OK/);
    const file = join(mkdtempSync(join(tmpdir(), 'pbx-probe-')), 'pbx.yaml');
    writeFileSync(file, `sip:\n  listen:\n    - { transport: ws, address: 127.0.0.1, port: ${port(2)} }\n    - { transport: udp, address: 127.0.0.1, port: ${port(0)} }\n`);
    const byConfig = await cli('probe', '--config', file);
    t.is(byConfig.code, 0, byConfig.stderr);
    t.regex(byConfig.stdout, new RegExp(`^udp:127\\.0\\.0\\.1:${port(0)}: 200 OK`), 'the first udp socket of the file');
  } finally {
    await node.close();
  }
});

test('a solution document is probed at the named node\'s SIP socket; without --node the probe names the nodes', async (t) => {
  const node = await startServer({ udp: port(3) });
  try {
    const file = join(mkdtempSync(join(tmpdir(), 'pbx-probe-')), 'solution.yaml');
    writeFileSync(
      file,
      `nodes:\n  - { name: pri, role: primary, profile: DL360, address: 127.0.0.1, sip: { port: ${port(4)} }, bus: { port: ${port(5)}, leafPort: ${port(6)} } }\n` +
        `  - { name: exp, role: expansion, profile: ExpansionL, address: 127.0.0.1, sip: { port: ${port(3)} }, dataDir: var/exp-probe }\n`,
    );
    const exp = await cli('probe', '--config', file, '--node', 'exp', '--timeout', '2');
    t.is(exp.code, 0, exp.stderr);
    t.regex(exp.stdout, new RegExp(`^udp:127\\.0\\.0\\.1:${port(3)}: 200 OK`), "the expansion's socket, from its entry");
    const pri = await cli('probe', '--config', file, '--node', 'pri', '--timeout', '1');
    t.is(pri.code, 1, 'nothing answers at the primary\'s socket');
    t.regex(pri.stderr, new RegExp(`udp:127\\.0\\.0\\.1:${port(4)}: no answer`));
    const none = await cli('probe', '--config', file);
    t.is(none.code, 2);
    t.regex(none.stderr, /--node: .* is a solution: name the node to probe \(pri, exp\)/);
    const other = await cli('probe', '--config', file, '--node', 'sec');
    t.is(other.code, 2);
    t.regex(other.stderr, /--node: no node sec in/);
  } finally {
    await node.close();
  }
});

test('another answer than 200 fails the probe and says what came back', async (t) => {
  const carrier = startSipp(['-sf', scenario('uas_options.xml'), '-i', '127.0.0.1', '-p', String(port(10))], { timeoutMs: 60_000 });
  try {
    let r;
    // sipp takes a moment to bind: until it does, the probe gets no answer
    for (let i = 0; i < 20; i++) {
      r = await cli('probe', `sip:127.0.0.1:${port(10)}`, '--timeout', '1');
      if (!/no answer/.test(r.stderr)) break;
    }
    t.is(r!.code, 1);
    t.regex(r!.stderr, /: 501 Not Implemented in \d+ ms/);
    t.is(r!.stdout, '');
  } finally {
    await carrier.stop();
  }
});

test('nothing listening: no answer over UDP within the timeout, a refused connection over TCP', async (t) => {
  const udp = await cli('probe', `sip:127.0.0.1:${port(20)}`, '--timeout', '1');
  t.is(udp.code, 1);
  t.regex(udp.stderr, /no answer within 1 s/, 'gave up after its timeout, not Timer F');
  const tcp = await cli('probe', `sip:127.0.0.1:${port(20)};transport=tcp`);
  t.is(tcp.code, 1);
  t.regex(tcp.stderr, /transport error/);
  const name = await cli('probe', 'sip:no-such-node.invalid', '--timeout', '1');
  t.is(name.code, 1);
  t.regex(name.stderr, /cannot resolve no-such-node\.invalid/);
});

test('usage errors exit 2 and name the problem', async (t) => {
  for (const [args, re] of [
    [['sip:a', 'sip:b'], /give one target/],
    [['--config', 'x.yaml', 'sip:a'], /give one target/],
    [['sip:127.0.0.1', '--timeout', '0'], /--timeout/],
    [['sip:127.0.0.1', '--timeout', 'soon'], /--timeout/],
    [['sips:127.0.0.1'], /only sip: URIs/],
    [['sip:127.0.0.1;transport=ws'], /transport must be udp or tcp/],
    [['sip:[::1'], /not a SIP URI/],
    [['sip:127.0.0.1', '--node', 'pri'], /--node goes with --config/],
  ] as const) {
    const r = await cli('probe', ...args);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, re);
  }
  const noFile = await cli('probe', '--config', '/nonexistent/pbx.yaml');
  t.is(noFile.code, 1, 'a configuration that cannot be read is refused like everywhere else');
  t.regex(noFile.stderr, /cannot read the file/);
});

test('targets: a wildcard listen address is probed on loopback; URIs keep their port and transport', (t) => {
  const users = 'users: [{ extension: "201", password: not-a-demo-1 }]';
  const wild = parseConfig(`sip:\n  listen:\n    - { transport: tcp, address: 0.0.0.0, port: 5070 }\n${users}\n`);
  t.deepEqual(configProbeTarget(wild), { protocol: 'tcp', host: '127.0.0.1', port: 5070 });
  const v6 = parseConfig(`sip:\n  listen:\n    - { transport: udp, address: "::", port: 5060 }\n${users}\n`);
  t.deepEqual(configProbeTarget(v6), { protocol: 'udp', host: '::1', port: 5060 });
  const wsOnly = parseConfig(`sip:\n  listen:\n    - { transport: ws, address: 127.0.0.1, port: 8088 }\n`);
  t.throws(() => configProbeTarget(wsOnly), { instanceOf: TypeError, message: /sip\.listen: no udp or tcp socket/ });
  t.deepEqual(parseProbeTarget('node1'), { protocol: 'udp', host: 'node1', port: 5060 });
  t.deepEqual(parseProbeTarget('sip:[::1]:5070;transport=TCP'), { protocol: 'tcp', host: '::1', port: 5070 });
  t.throws(() => parseProbeTarget(''), { instanceOf: TypeError, message: /^target:/ });
});
