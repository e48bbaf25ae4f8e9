/**
 * The configuration through the API and Server.reconfigure(): reading it with secrets redacted,
 * path-named problems for a bad document, revisions (a stale one refused), the file written back
 * with its comments, restart-only changes reported as pending (and cleared when reverted).
 */
import test from 'ava';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, parseConfig } from '../../src/core/config/index.js';
import { createTestLogger } from '../../src/core/logger.js';
import { Server } from '../../src/server.js';
import { http, login } from '../helpers/admin.js';
import { portBlock } from '../helpers/ports.js';
import { startServer } from '../helpers/server.js';

const port = portBlock(121);

test('GET /api/config: the document with its revision, every secret redacted; validate names each problem by its path', async (t) => {
  const node = await startServer({ udp: port(0), admin: `port: ${port(1)}`, yaml: 'security: { secret: "a-nonce-secret-of-16+" }' });
  const base = `http://127.0.0.1:${port(1)}`;
  try {
    const s = await login(base, 'admin', 'admin');
    await http(base, 'POST', '/api/account/password', { token: s.token, body: { current: 'admin', password: 'cfg-test-pw' } });
    const r = await http(base, 'GET', '/api/config', { token: s.token });
    t.is(r.status, 200);
    t.is(r.body.revision, 1);
    t.deepEqual(r.body.pending, []);
    t.is(r.body.document.users[0].password, '[redacted]');
    t.is(r.body.document.security.secret, '[redacted]');
    t.false(r.text.includes('demo201'));
    t.false(r.text.includes('a-nonce-secret'));
    const bad = structuredClone(r.body.document);
    bad.users.push({ extension: '201', password: 'pw-ok-1' }, { extension: '2x', password: 'pw-ok-2' }, { extension: '260', password: '[redacted]' });
    bad.registrar = { minExpires: 'soon' };
    const v = await http(base, 'POST', '/api/config/validate', { token: s.token, body: { document: bad } });
    t.false(v.body.ok);
    t.true(v.body.problems.includes('users[10].extension: duplicate of users[0]'), v.text);
    t.true(v.body.problems.some((p: string) => p.startsWith('users[11].extension: must be a quoted string of 2..15 digits')), v.text);
    t.true(v.body.problems.some((p: string) => p.startsWith('users[12].password: "[redacted]" stands for the value already set')), v.text);
    const put = await http(base, 'PUT', '/api/config', { token: s.token, body: { revision: 1, document: bad } });
    t.is(put.status, 422, 'refused with the same problems');
    t.is(node.server.revision, 1, 'nothing changed');
    const good = await http(base, 'PUT', '/api/config', { token: s.token, body: { revision: 1, document: { ...r.body.document, registrar: { minExpires: 120 } } } });
    t.is(good.status, 200, good.text);
    t.is(good.body.revision, 2);
    t.deepEqual(good.body.pending, ['registrar.minExpires'], 'a registrar setting waits for a restart');
    t.is(node.server.config.users[0]!.password, 'demo201', 'redacted secrets kept their values');
    t.is(node.server.config.security.secret, 'a-nonce-secret-of-16+');
    const stale = await http(base, 'PUT', '/api/config', { token: s.token, body: { revision: 1, document: r.body.document } });
    t.is(stale.status, 409);
    t.regex(stale.body.error, /revision 2/);
    const back = await http(base, 'PUT', '/api/config', { token: s.token, body: { revision: 2, document: r.body.document } });
    t.deepEqual(back.body.pending, [], 'changed back: nothing waits any more');
    const revs = await http(base, 'GET', '/api/config/revisions', { token: s.token });
    t.deepEqual(revs.body.map((x: { revision: number }) => x.revision), [3, 2, 1]);
    t.is(revs.body[0].actor, 'admin');
  } finally {
    await node.close();
  }
});

test('a node started on a file: a change through the API is written back to it, comments kept, and is the next revision after a restart', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pbx-cfgfile-'));
  const file = join(dir, 'pbx.yaml');
  const text = `# the test node
sip:
  listen:
    - { transport: udp, address: 127.0.0.1, port: ${port(10)} }   # the only socket
storage: { path: ${JSON.stringify(join(dir, 'pbx.sqlite'))} }
voicemail: { dir: ${JSON.stringify(join(dir, 'vm'))} }
media: { portMin: 40000, portMax: 49999 }
admin: { port: ${port(11)} }
users:
  # the first user
  - { extension: "201", password: demo201 }
`;
  writeFileSync(file, text);
  const start = async () => {
    const s = new Server(loadConfig(file), createTestLogger('warn'), { source: { text: readFileSync(file, 'utf8'), path: file } });
    await s.start();
    return s;
  };
  let server = await start();
  const base = `http://127.0.0.1:${port(11)}`;
  try {
    const s = await login(base, 'admin', 'admin');
    await http(base, 'POST', '/api/account/password', { token: s.token, body: { current: 'admin', password: 'cfg-test-pw' } });
    const r = await http(base, 'POST', '/api/config/users', { token: s.token, body: { revision: 1, item: { extension: '202', name: 'Bea', password: 'bea-pw-202' } } });
    t.is(r.status, 200, r.text);
    t.deepEqual(r.body.applied, ['users']);
    t.deepEqual(r.body.changes, ['users[202]: added']);
    const written = readFileSync(file, 'utf8');
    t.true(written.startsWith('# the test node\n'), written);
    t.true(written.includes('# the only socket'));
    t.true(written.includes('# the first user'));
    t.true(written.includes('{ extension: "202", name: Bea, password: bea-pw-202 }'), written);
    t.deepEqual(parseConfig(written, 'x').users.map((u) => u.extension), ['201', '202']);
    const del = await http(base, 'DELETE', '/api/config/users/201?revision=2', { token: s.token });
    t.is(del.status, 200, del.text);
    t.false(readFileSync(file, 'utf8').includes('"201"'));
    await server.close();
    server = await start();
    t.is(server.revision, 3, 'the file the node starts on is the revision it was written as');
  } finally {
    await server.close();
  }
});

test('reconfigure(): stale and unchanged documents change nothing; restart-only paths are pending until reverted', async (t) => {
  const node = await startServer({ udp: port(20) });
  try {
    const s = node.server;
    const base = node.config;
    const text = (extra: string) => `sip:\n  listen:\n    - { transport: udp, address: 127.0.0.1, port: ${port(20)} }\nstorage: { path: ${JSON.stringify(s.config.storage.path)} }\nvoicemail: { dir: ${JSON.stringify(s.config.voicemail.dir)} }\nmedia: { portMin: 40000, portMax: 49999 }\nadmin: { enabled: false }\nlog: { level: debug }\nusers:\n  - { extension: "201", password: demo201 }\n${extra}`;
    const same = await s.reconfigure(base, { text: s.source.text });
    t.is(same.status, 'unchanged');
    const next = parseConfig(text('calls: { maxChannels: 1 }'), 'x');
    const r = await s.reconfigure(next, { actor: 'test' });
    t.is(r.status, 'applied');
    t.true(r.applied.includes('users'));
    t.true(r.applied.includes('calls.maxChannels'));
    t.is(s.maxCalls, 1);
    t.deepEqual(r.pending, []);
    t.deepEqual(s.config.users.map((u) => u.extension), ['201']);
    t.is(s.router.dial('202').destination.kind, 'notFound', 'the dial plan knows only the users now configured');
    const moved = parseConfig(text('calls: { maxChannels: 1 }').replace(`port: ${port(20)}`, `port: ${port(21)}`), 'x');
    const p = await s.reconfigure(moved, { revision: 10 });
    t.deepEqual(p.pending, ['sip.listen']);
    t.is(p.revision, 10);
    t.is(s.stack.local('udp').port, port(20), 'still on the old socket');
    t.is((await s.reconfigure(next, { revision: 9 })).status, 'stale');
    const back = await s.reconfigure(next);
    t.deepEqual(back.pending, []);
    t.is(back.revision, 11);
    await t.throwsAsync(s.reconfigure({} as never), { instanceOf: TypeError, message: /^next: / });
  } finally {
    await node.close();
  }
});
