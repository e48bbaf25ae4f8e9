/**
 * Live reconfiguration with real phones (baresip, sipp): while 201 and 202 talk, the API adds a
 * user, changes a password, adds a hunt group and a short code and removes a user; the call goes
 * on with its audio, and every change holds at once for new requests: the new user registers and
 * is called through the new short code and the new hunt group, the old password is refused and
 * the new one accepted, the removed user cannot register.
 */
import test from 'ava';
import { lastHeard, startPhone, type Baresip } from '../helpers/baresip.js';
import { http, startAdminNode } from '../helpers/admin.js';
import { portBlock } from '../helpers/ports.js';
import { runSipp, scenario } from '../helpers/sipp.js';
import { hasTone, toneRatio } from '../helpers/tone.js';
import { sleep, until } from '../helpers/wait.js';

const port = portBlock(120);

const register = (ext: string, password: string, n: number) =>
  runSipp([`127.0.0.1:${port(0)}`, '-sf', scenario('register_auth.xml'), '-s', ext, '-au', ext, '-ap', password, '-m', '1', '-i', '127.0.0.1', '-p', String(port(60 + n))], { timeoutMs: 15_000 });

test('a call goes on while users, passwords, hunt groups and the dial plan change, and each change holds at once', async (t) => {
  const users = ['201', '202', '203', '204', '205'].map((e) => `  - { extension: "${e}", password: demo${e} }`).join('\n');
  const { node, base, token } = await startAdminNode({ udp: port(0), adminPort: port(1), users });
  const phones: Baresip[] = [];
  const phone = async (ext: string, n: number, freq: number, answer: 'auto' | 'manual' = 'manual') => {
    const p = await startPhone({ dir: node.dir, ext, freq, answer, listen: `127.0.0.${100 + n}:${port(100 + n)}`, ctrlPort: port(150 + n), server: `127.0.0.1:${port(0)}` });
    phones.push(p);
    return p;
  };
  try {
    const a = await phone('201', 1, 1000);
    const b = await phone('202', 2, 440, 'auto');
    a.command('dial', `sip:202@127.0.0.1:${port(0)}`);
    await a.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 10_000);
    await sleep(1000);

    const change = async (method: string, path: string, body?: unknown) => {
      const r = await http(base, method, path, { token, body });
      t.is(r.status, 200, `${method} ${path}: ${r.text}`);
      return r.body as { applied: string[]; pending: string[]; revision: number };
    };
    const r1 = await change('POST', '/api/config/users', { item: { extension: '211', name: 'New', password: 'demo211' } });
    t.deepEqual(r1.applied, ['users']);
    await change('PUT', '/api/config/users/203', { item: { password: 'fresh-203-pw' } });
    const r3 = await change('POST', '/api/config/huntgroups', { item: { extension: '300', name: 'Desk', members: ['204'], ringMode: 'collective' } });
    t.deepEqual(r3.applied, ['huntGroups']);
    const r4 = await change('PUT', '/api/config/sections/dialPlan', { value: { shortCodes: [{ code: '77', feature: 'dialExtn', number: '204' }] } });
    t.deepEqual(r4.applied, ['dialPlan']);
    const r5 = await change('DELETE', '/api/config/users/205');
    t.is(r5.revision, 6);
    t.is(node.server.calls.active, 1, 'the call between 201 and 202 is still up');
    // 202 keeps hearing 201's tone after all the changes
    await sleep(2500);
    a.command('hangup');
    await b.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
    const heard = await lastHeard(b);
    const tail = heard.subarray(heard.length - 16000, heard.length - 2000);
    t.true(hasTone(tail, 1000, 0.5), `202 heard 201 in the last seconds (ratio ${toneRatio(tail, 1000).toFixed(2)})`);

    const c = await phone('211', 11, 600);
    t.pass('the new user 211 registered with its password');
    const d = await phone('204', 4, 800, 'auto');
    c.command('dial', `sip:77@127.0.0.1:${port(0)}`);
    await d.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 10_000);
    t.pass('the new short code 77 reached 204 (it answers at once)');
    c.command('hangup');
    await until('the call to end', () => node.server.calls.active === 0, 10_000);
    const before = d.events.length;
    c.command('dial', `sip:300@127.0.0.1:${port(0)}`);
    await d.waitEvent((e) => d.events.indexOf(e) >= before && e.type === 'CALL_ESTABLISHED', 10_000);
    t.pass('the new hunt group 300 reached its member 204');
    c.command('hangup');

    t.is((await register('203', 'demo203', 1)).code, 1, '203\'s old password is refused');
    t.is((await register('203', 'fresh-203-pw', 2)).code, 0, '203\'s new password is accepted');
    t.is((await register('205', 'demo205', 3)).code, 1, 'the removed user 205 cannot register');
  } finally {
    for (const p of phones) await p.stop();
    await node.close();
  }
});
