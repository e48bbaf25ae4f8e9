/**
 * Status, alarms and metrics against real calls and a real carrier stand-in: baresip phones in a
 * call show in /api/calls with their codec; a call refused for want of a channel raises the
 * channel alarm; an unanswered call is counted by its cause; a trunk whose carrier does not
 * answer its keepalive raises trunk-down, one whose carrier (sipp) answers does not.
 */
import test from 'ava';
import { http, startAdminNode } from '../helpers/admin.js';
import { startPhone, type Baresip } from '../helpers/baresip.js';
import { portBlock } from '../helpers/ports.js';
import { scenario, startSipp } from '../helpers/sipp.js';
import { untilValue } from '../helpers/wait.js';

const port = portBlock(125);

test('calls, channel limit and unanswered calls in the status, alarms and metrics; trunk-down for a silent carrier only', async (t) => {
  const users = ['201', '202', '203'].map((e) => `  - { extension: "${e}", password: demo${e} }`).join('\n') + '\n  - { extension: "204", password: demo204, voicemail: { enabled: false } }';
  const carrier = startSipp(['-sf', scenario('uas_options.xml'), '-i', '127.0.0.1', '-p', String(port(10)), '-m', '1000'], { timeoutMs: 120_000 });
  const trunks = `calls: { maxChannels: 1 }
trunks:
  - { name: silent, lineGroup: 1, type: peer, host: 127.0.0.1, port: ${port(9)}, keepaliveSeconds: 1, responseTimeoutSeconds: 1 }
  - { name: alive, lineGroup: 2, type: peer, host: 127.0.0.1, port: ${port(10)}, keepaliveSeconds: 1, responseTimeoutSeconds: 1 }`;
  const { node, base, token } = await startAdminNode({ udp: port(0), adminPort: port(1), users, yaml: trunks });
  const phones: Baresip[] = [];
  const phone = async (ext: string, n: number, answer: 'auto' | 'manual' = 'manual') => {
    const p = await startPhone({ dir: node.dir, ext, freq: 400 + 100 * n, answer, codecs: 'PCMA', listen: `127.0.0.${130 + n}:${port(100 + n)}`, ctrlPort: port(150 + n), server: `127.0.0.1:${port(0)}` });
    phones.push(p);
    return p;
  };
  const get = async (path: string) => (await http(base, 'GET', path, { token })).body;
  const metrics = async () => (await http(base, 'GET', '/metrics', { token })).text;
  try {
    const a = await phone('201', 1);
    await phone('202', 2, 'auto');
    const c = await phone('203', 3);
    a.command('dial', `sip:202@127.0.0.1:${port(0)}`);
    const call = await untilValue('the call in /api/calls', async () => (await get('/api/calls')).find((x: { state: string }) => x.state === 'connected'), 10_000);
    t.deepEqual(call.parties.map((p: { number: string; codec: string }) => `${p.number} ${p.codec}`), ['201 PCMA', '202 PCMA']);
    t.regex(await metrics(), /pbx_channels_in_use\{pool="calls",node="node1"\} 1/);

    c.command('dial', `sip:202@127.0.0.1:${port(0)}`);
    await c.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
    const alarm = await untilValue('the channel alarm', async () => (await get('/api/alarms')).find((x: { code: string }) => x.code === 'channels-exhausted'), 12_000);
    t.is(alarm.severity, 'major');
    t.regex(alarm.message, /all 1 channels of the node in use/);
    t.regex(await metrics(), /pbx_calls_refused_channel_limit_total\{node="node1"\} 1/);
    a.command('hangup');
    await untilValue('the call to end', async () => ((await get('/api/calls')).length === 0 ? true : undefined), 10_000);

    c.command('dial', `sip:204@127.0.0.1:${port(0)}`);
    await c.waitEvent((e) => e.type === 'CALL_CLOSED' && c.events.filter((x) => x.type === 'CALL_CLOSED').length === 2, 10_000);
    const m = await untilValue('the unanswered call counted', async () => {
      const text = await metrics();
      return /pbx_calls_unanswered_total\{disposition="[a-z-]+",cause="480",node="node1"\} 1/.test(text) ? text : undefined;
    }, 5000);
    t.regex(m, /pbx_calls_answered_total\{node="node1"\} 1/);
    t.regex(m, /pbx_call_setup_seconds_count\{node="node1"\} 1/);
    t.regex(m, /pbx_call_attempts_total\{node="node1"\} 3/);

    const down = await untilValue('trunk-down for the silent carrier', async () => (await get('/api/alarms')).find((x: { code: string; key: string }) => x.code === 'trunk-down' && x.key === 'silent'), 10_000);
    t.regex(down.message, /trunk silent \(line group 1\) is out of service/);
    await untilValue('the live trunk in service', async () => ((await get('/api/trunks')).find((x: { name: string; state: string }) => x.name === 'alive' && x.state === 'in-service') ? true : undefined), 10_000);
    t.false((await get('/api/alarms')).some((x: { key: string }) => x.key === 'alive'), 'no alarm for the trunk whose carrier answers');
    t.regex(await metrics(), /pbx_trunk_up\{trunk="alive",node="node1"\} 1/);
    const status = await get('/api/status');
    t.deepEqual(status.capacity.calls, { used: 0, limit: 1 });
  } finally {
    for (const p of phones) await p.stop();
    await carrier.stop();
    await node.close();
  }
});
