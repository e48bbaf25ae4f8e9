/**
 * The admin API over real HTTP: the first login and its forced password change, roles, login
 * lockout however the name is spelled and from however many addresses, the console's cookie and
 * CSRF token, the audit trail, the OpenAPI document and /metrics.
 */
import test from 'ava';
import { ADMIN_PASSWORD, http, login, startAdminNode } from '../helpers/admin.js';
import { portBlock } from '../helpers/ports.js';
import { startServer } from '../helpers/server.js';

const port = portBlock(119);

test('a fresh node: admin/admin must choose a new password before anything else, and the old one stops working', async (t) => {
  const node = await startServer({ udp: port(0), admin: `port: ${port(1)}` });
  const base = `http://127.0.0.1:${port(1)}`;
  try {
    const first = await login(base, 'admin', 'admin');
    const blocked = await http(base, 'GET', '/api/status', { token: first.token });
    t.is(blocked.status, 403);
    t.regex(blocked.body.error, /default password/);
    const weak = await http(base, 'POST', '/api/account/password', { token: first.token, body: { current: 'admin', password: 'short' } });
    t.is(weak.status, 400);
    t.regex(weak.body.error, /^password: must be 8\.\.128 characters/);
    const wrong = await http(base, 'POST', '/api/account/password', { token: first.token, body: { current: 'nope', password: 'a-good-password' } });
    t.is(wrong.status, 403);
    const ok = await http(base, 'POST', '/api/account/password', { token: first.token, body: { current: 'admin', password: 'a-good-password' } });
    t.is(ok.status, 200, ok.text);
    t.is((await http(base, 'GET', '/api/status', { token: first.token })).status, 200, 'the same session goes on');
    t.is((await http(base, 'POST', '/api/login', { body: { name: 'admin', password: 'admin' } })).status, 401, 'the default password is gone');
    await login(base, 'Admin', 'a-good-password');
    t.pass('the new password works, the name however it is capitalised');
    t.is((await http(base, 'POST', '/api/login', { body: { name: 'hunter2-typed-here', password: 'x' } })).status, 401);
    const audit = await http(base, 'GET', '/api/audit', { token: first.token });
    t.false(audit.text.includes('hunter2'), 'a name that is no account (a password typed in the wrong field) is not written down');
    t.true(audit.body.some((e: { actor: string; action: string }) => e.actor === '(unknown account)' && e.action === 'login-failed'));
    const actions = audit.body.map((e: { action: string; outcome: string }) => `${e.action}:${e.outcome}`);
    t.true(actions.includes('login:ok'));
    t.true(actions.includes('password-change:ok'));
    t.true(actions.includes('password-change:refused'));
    t.true(actions.includes('login-failed:refused'));
    t.false(audit.text.includes('a-good-password'), 'no password in the audit trail');
  } finally {
    await node.close();
  }
});

test('roles: read-only reads, operator controls calls, only an administrator changes the configuration or accounts', async (t) => {
  const { node, base, token } = await startAdminNode({ udp: port(10), adminPort: port(11) });
  try {
    for (const [name, role] of [['reader', 'read-only'], ['oper', 'operator']]) {
      const r = await http(base, 'POST', '/api/accounts', { token, body: { name, role, password: `${name}-password` } });
      t.is(r.status, 201, r.text);
    }
    t.is((await http(base, 'POST', '/api/accounts', { token, body: { name: 'READER', role: 'operator', password: 'whatever-1' } })).status, 409, 'a name taken however spelled');
    const reader = await login(base, 'reader', 'reader-password');
    const oper = await login(base, 'oper', 'oper-password');
    t.is((await http(base, 'GET', '/api/status', { token: reader.token })).status, 200);
    t.is((await http(base, 'GET', '/api/config', { token: reader.token })).status, 200);
    const add = { item: { extension: '250', password: 'pw-250-ok' } };
    const r1 = await http(base, 'POST', '/api/config/users', { token: reader.token, body: add });
    t.is(r1.status, 403);
    t.regex(r1.body.error, /administrator role/);
    t.is((await http(base, 'POST', '/api/config/users', { token: oper.token, body: add })).status, 403);
    const mute = await http(base, 'PUT', '/api/conferences/8000/parties/201/muted', { token: reader.token, body: { muted: true } });
    t.is(mute.status, 403, 'read-only cannot mute');
    const mute2 = await http(base, 'PUT', '/api/conferences/8000/parties/201/muted', { token: oper.token, body: { muted: true } });
    t.is(mute2.status, 404, 'an operator may, but there is no such party');
    t.is((await http(base, 'GET', '/api/accounts', { token: oper.token })).status, 403);
    t.is((await http(base, 'GET', '/api/audit', { token: reader.token })).status, 403);
    // demoting the reader reaches its live session at once; the last administrator cannot go
    t.is((await http(base, 'PUT', '/api/accounts/oper', { token, body: { role: 'read-only' } })).status, 200);
    t.is((await http(base, 'PUT', '/api/conferences/8000/parties/201/muted', { token: oper.token, body: { muted: true } })).status, 403);
    const last = await http(base, 'DELETE', '/api/accounts/admin', { token });
    t.is(last.status, 400);
    t.regex(last.body.error, /last administrator/);
    t.is((await http(base, 'DELETE', '/api/accounts/reader', { token })).status, 200);
    t.is((await http(base, 'GET', '/api/status', { token: reader.token })).status, 401, 'a removed account\'s session ends');
    t.is((await http(base, 'GET', '/api/status')).status, 401, 'nothing without a login');
  } finally {
    await node.close();
  }
});

test('login lockout holds however the name is spelled and from however many addresses', async (t) => {
  const { node, base, token } = await startAdminNode({ udp: port(20), adminPort: port(21), admin: 'login: { maxFailures: 3, windowSeconds: 60, lockoutSeconds: 60 }' });
  try {
    const spellings = ['admin', 'ADMIN', 'Admin'];
    for (let i = 0; i < 3; i++) {
      const r = await http(base, 'POST', '/api/login', { body: { name: spellings[i], password: `guess-${i}` }, from: `127.0.0.${20 + i}` });
      t.is(r.status, 401);
    }
    const right = await http(base, 'POST', '/api/login', { body: { name: 'admin', password: ADMIN_PASSWORD }, from: '127.0.0.30' });
    t.is(right.status, 429, 'locked: even the right password from a fresh address is refused');
    t.regex(right.body.error, /locked out/);
    t.true(Number(right.headers['retry-after']) > 0);
    t.is((await http(base, 'GET', '/api/status', { token })).status, 200, 'a session made before the lockout goes on');
    const alarms = await http(base, 'GET', '/api/alarms', { token });
    t.true(alarms.body.some((a: { code: string; key: string }) => a.code === 'admin-lockout' && a.key === 'account admin'), JSON.stringify(alarms.body));
    const audit = await http(base, 'GET', '/api/audit?action=lockout', { token });
    t.is(audit.body[0]?.target, 'account admin');
    // one address guessing many names is stopped too
    for (let i = 0; i < 3; i++) await http(base, 'POST', '/api/login', { body: { name: `user${i}`, password: 'x' }, from: '127.0.0.40' });
    const other = await http(base, 'POST', '/api/login', { body: { name: 'someone', password: 'x' }, from: '127.0.0.40' });
    t.is(other.status, 429);
    const metrics = await http(base, 'GET', '/metrics', { token });
    t.regex(metrics.text, /pbx_admin_login_failures_total\{node="node1"\} 6/);
    t.regex(metrics.text, /pbx_admin_lockouts_total\{node="node1"\} 2/);
  } finally {
    await node.close();
  }
});

test('the console\'s cookie session: changes need its CSRF token; logout ends it', async (t) => {
  const { node, base } = await startAdminNode({ udp: port(30), adminPort: port(31) });
  try {
    const s = await login(base, 'admin', ADMIN_PASSWORD);
    t.regex(s.cookie, /^pbx_session=/);
    const r = await http(base, 'POST', '/api/login', { body: { name: 'admin', password: ADMIN_PASSWORD } });
    t.regex(String(r.headers['set-cookie']), /HttpOnly; SameSite=Strict/);
    t.is((await http(base, 'GET', '/api/session', { headers: { cookie: s.cookie } })).status, 200);
    const body = { item: { extension: '251', password: 'pw-251-ok' } };
    const forged = await http(base, 'POST', '/api/config/users', { headers: { cookie: s.cookie }, body });
    t.is(forged.status, 403);
    t.regex(forged.body.error, /csrf/);
    const ours = await http(base, 'POST', '/api/config/users', { headers: { cookie: s.cookie, 'x-csrf-token': s.csrf }, body });
    t.is(ours.status, 200, ours.text);
    t.is((await http(base, 'POST', '/api/logout', { headers: { cookie: s.cookie, 'x-csrf-token': s.csrf } })).status, 200);
    t.is((await http(base, 'GET', '/api/session', { headers: { cookie: s.cookie } })).status, 401);
    const page = await http(base, 'GET', '/');
    t.is(page.status, 200);
    t.regex(String(page.headers['content-security-policy']), /default-src 'self'/);
  } finally {
    await node.close();
  }
});

test('OpenAPI document and /metrics: Prometheus text, behind a login (HTTP Basic for scrapers)', async (t) => {
  const { node, base, token } = await startAdminNode({ udp: port(40), adminPort: port(41) });
  try {
    const doc = await http(base, 'GET', '/api/openapi.json');
    t.is(doc.body.openapi, '3.0.3');
    t.deepEqual(doc.body.paths['/api/login'].post.security, [], 'logging in needs no session');
    t.deepEqual(doc.body.security, [{ session: [] }], 'everything else does');
    for (const p of ['/api/login', '/api/status', '/api/calls', '/api/config', '/api/config/users/{extension}', '/api/audit', '/metrics']) t.truthy(doc.body.paths[p], p);
    t.is((await http(base, 'GET', '/metrics')).status, 401);
    const basic = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;
    const m = await http(base, 'GET', '/metrics', { headers: { authorization: basic } });
    t.is(m.status, 200);
    t.regex(String(m.headers['content-type']), /text\/plain; version=0\.0\.4/);
    for (const name of ['pbx_call_attempts_total', 'pbx_calls_answered_total', 'pbx_call_setup_seconds_bucket', 'pbx_registrations', 'pbx_channels_in_use{pool="calls",node="node1"}', 'pbx_media_thread_lateness_seconds', 'pbx_rtp_received_loss_ratio', 'pbx_sip_auth_failures_total', 'pbx_voicemail_ports_in_use', 'pbx_config_revision']) {
      t.true(m.text.includes(name), name);
    }
    const wrong = await http(base, 'GET', '/metrics', { headers: { authorization: `Basic ${Buffer.from('admin:nope').toString('base64')}` } });
    t.is(wrong.status, 401);
    t.is((await http(base, 'GET', '/api/status', { token })).body.node.name, 'node1');
  } finally {
    await node.close();
  }
});
