import test from 'ava';
import { createHash } from 'node:crypto';
import {
  DigestClient, DigestServer, digestResponse, hashHex, parseDigestParams, type DigestAlgorithm,
} from '../../src/sip/auth/digest.js';

const h = (alg: string, s: string) => createHash(alg).update(s).digest('hex');

// RFC 7616 section 3.9.1
const RFC7616 = {
  username: 'Mufasa', password: 'Circle of Life', realm: 'http-auth@example.org', method: 'GET',
  uri: '/dir/index.html', nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
  cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ', nc: '00000001',
  opaque: 'FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS',
  md5: '8ca523f5e9506fed4657c9700eebdbec',
  sha256: '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1',
};

test('RFC 7616 3.9.1 example: MD5 and SHA-256 responses', (t) => {
  const v = RFC7616;
  for (const [alg, node, expected] of [['MD5', 'md5', v.md5], ['SHA-256', 'sha256', v.sha256]] as const) {
    // independent computation straight from the RFC's formulas
    const ha1 = h(node, `${v.username}:${v.realm}:${v.password}`);
    const ha2 = h(node, `${v.method}:${v.uri}`);
    const independent = h(node, `${ha1}:${v.nonce}:${v.nc}:${v.cnonce}:auth:${ha2}`);
    t.is(independent, expected, `${alg} published vector`);
    t.is(digestResponse(alg, hashHex(alg, `${v.username}:${v.realm}:${v.password}`), v.nonce, v.method, v.uri, { nc: v.nc, cnonce: v.cnonce }), expected);
    const client = new DigestClient(v.username, v.password, { cnonce: () => v.cnonce });
    const challenge = `Digest realm="${v.realm}", qop="auth, auth-int", algorithm=${alg}, nonce="${v.nonce}", opaque="${v.opaque}"`;
    const auth = client.authorize(challenge, v.method, v.uri);
    const p = parseDigestParams(auth)!;
    t.is(p.response, expected);
    t.is(p.nc, '00000001');
    t.is(p.qop, 'auth');
    t.is(p.opaque, v.opaque);
    t.is(p.uri, v.uri);
  }
});

test('RFC 2617 3.5 example (MD5, qop=auth)', (t) => {
  const client = new DigestClient('Mufasa', 'Circle Of Life', { cnonce: () => '0a4f113b' });
  const auth = client.authorize('Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"', 'GET', '/dir/index.html');
  t.is(parseDigestParams(auth)!.response, '6629fae49393a05397450978507c4ef1');
  t.is(parseDigestParams(auth)!.algorithm, 'MD5');
});

test('RFC 2069 style when no qop is offered', (t) => {
  const client = new DigestClient('u', 'p');
  const auth = parseDigestParams(client.authorize('Digest realm="r", nonce="n"', 'INVITE', 'sip:x@y'))!;
  const ha1 = h('md5', 'u:r:p');
  t.is(auth.response, h('md5', `${ha1}:n:${h('md5', 'INVITE:sip:x@y')}`));
  t.is(auth.qop, undefined);
  t.is(client.authorize('Digest realm="r", nonce="n", algorithm=SHA-512-256', 'INVITE', 'sip:x'), undefined);
  t.is(client.authorize('Digest realm="r", nonce="n", qop="auth-int"', 'INVITE', 'sip:x'), undefined);
});

test('parser: quoting, escapes, case, malformed input never throws', (t) => {
  const p = parseDigestParams('digest  USERNAME="a\\"b, c", Realm = "r" ,nonce=abc/def=, qop=auth,nc=00000001')!;
  t.deepEqual({ ...p }, { username: 'a"b, c', realm: 'r', nonce: 'abc/def=', qop: 'auth', nc: '00000001' });
  for (const bad of [undefined, '', 'Basic abc', 'Digest', 'Digest ', 'Digest a', 'Digest a=', 'Digest a="x', 'Digest a="x\\',
    'Digest a=1 b=2', 'Digest =1', 'Digest a=1, a=2', 'Digestx a=1', 'Digest a="x"y']) {
    t.is(parseDigestParams(bad), undefined, String(bad));
  }
});

function setup(opts: { lifetime?: number; algorithms?: DigestAlgorithm[]; max?: number; qop?: 'required' | 'optional' } = {}) {
  let now = 1_700_000_000_000;
  const server = new DigestServer({
    realm: 'pbx.example', secret: Buffer.alloc(32, 7), nonceLifetimeMs: opts.lifetime ?? 60_000,
    algorithms: opts.algorithms ?? ['SHA-256', 'MD5'], now: () => now, maxTrackedNonces: opts.max, qop: opts.qop,
  });
  const users: Record<string, string> = { alice: 's3cret', bob: 'pw' };
  const lookup = (u: string) => users[u];
  return { server, lookup, users, tick: (ms: number) => { now += ms; } };
}

const URI = 'sip:pbx.example';

test('challenge offers SHA-256 then MD5 with one nonce', (t) => {
  const { server } = setup();
  const c = server.challenge();
  t.is(c.length, 2);
  t.regex(c[0], /^Digest realm="pbx.example", nonce="[A-Za-z0-9_-]{40}", algorithm=SHA-256, qop="auth"$/);
  t.regex(c[1], /algorithm=MD5/);
  t.is(parseDigestParams(c[0])!.nonce, parseDigestParams(c[1])!.nonce);
  t.regex(server.challenge(true)[0], /stale=true/);
  const nonces = new Set(Array.from({ length: 1000 }, () => parseDigestParams(server.challenge()[0])!.nonce));
  t.is(nonces.size, 1000, 'unique within one millisecond');
});

test('client and server round trip for both algorithms; nc replay refused, higher nc accepted', (t) => {
  const { server, lookup } = setup();
  for (const [i, alg] of (['SHA-256', 'MD5'] as const).entries()) {
    const client = new DigestClient('alice', 's3cret');
    const challenge = server.challenge()[i]; // a fresh nonce per challenge, even within one ms
    const a1 = client.authorize(challenge, 'REGISTER', URI)!;
    t.deepEqual(server.verify('REGISTER', URI, a1, lookup), { ok: true, username: 'alice', algorithm: alg });
    t.like(server.verify('REGISTER', URI, a1, lookup), { ok: false, reason: 'replay' }, 'same nc again');
    const a2 = client.authorize(challenge, 'REGISTER', URI)!;
    t.is(parseDigestParams(a2)!.nc, '00000002');
    t.like(server.verify('REGISTER', URI, a2, lookup), { ok: true });
    t.like(server.verify('REGISTER', URI, a1, lookup), { ok: false, reason: 'replay' }, 'older nc');
  }
});

test('failures: wrong password, unknown user, realm, uri, algorithm, tampered nonce, missing', (t) => {
  const { server, lookup } = setup({ algorithms: ['MD5'] });
  const challenge = server.challenge()[0];
  const wrong = new DigestClient('alice', 'nope').authorize(challenge, 'REGISTER', URI);
  t.deepEqual(server.verify('REGISTER', URI, wrong, lookup), { ok: false, reason: 'bad-response', username: 'alice' });
  t.like(server.verify('REGISTER', URI, new DigestClient('carol', 'x').authorize(challenge, 'REGISTER', URI), lookup), { reason: 'unknown-user', username: 'carol' });
  t.like(server.verify('REGISTER', 'sip:other', new DigestClient('alice', 's3cret').authorize(challenge, 'REGISTER', URI), lookup), { reason: 'uri' });
  t.like(server.verify('REGISTER', URI, new DigestClient('alice', 's3cret').authorize(challenge.replace('pbx.example', 'evil'), 'REGISTER', URI), lookup), { reason: 'realm' });
  t.like(server.verify('REGISTER', URI, new DigestClient('alice', 's3cret').authorize(challenge.replace('MD5', 'SHA-256'), 'REGISTER', URI), lookup), { reason: 'algorithm' });
  const nonce = parseDigestParams(challenge)!.nonce!;
  const flipped = nonce.slice(0, 5) + (nonce[5] === 'A' ? 'B' : 'A') + nonce.slice(6);
  const tampered = new DigestClient('alice', 's3cret').authorize(challenge.replace(nonce, flipped), 'REGISTER', URI);
  // a nonce we did not mint: never accepted; with the right password a new challenge (stale),
  // with a wrong one a failed guess like any other (no password oracle through foreign nonces)
  t.like(server.verify('REGISTER', URI, tampered, lookup), { ok: false, reason: 'stale' });
  t.like(server.verify('REGISTER', URI, new DigestClient('alice', 's3cret').authorize(challenge.replace(nonce, 'short'), 'REGISTER', URI), lookup), { ok: false, reason: 'stale' });
  t.like(server.verify('REGISTER', URI, new DigestClient('alice', 'nope').authorize(challenge.replace(nonce, flipped), 'REGISTER', URI), lookup), { ok: false, reason: 'bad-response' });
  t.deepEqual(server.verify('REGISTER', URI, undefined, lookup), { ok: false, reason: 'missing' });
});

test('stale nonce with a correct response gets stale; wrong password on a stale nonce does not', (t) => {
  const { server, lookup, tick } = setup({ lifetime: 30_000 });
  const challenge = server.challenge()[0];
  tick(31_000);
  const good = new DigestClient('alice', 's3cret').authorize(challenge, 'REGISTER', URI);
  t.like(server.verify('REGISTER', URI, good, lookup), { ok: false, reason: 'stale' });
  const bad = new DigestClient('alice', 'x').authorize(challenge, 'REGISTER', URI);
  t.like(server.verify('REGISTER', URI, bad, lookup), { ok: false, reason: 'bad-response' });
  // and the fresh challenge works
  const fresh = server.challenge(true);
  t.like(server.verify('REGISTER', URI, new DigestClient('alice', 's3cret').authorize(fresh[0], 'REGISTER', URI), lookup), { ok: true });
});

test('qop=auth without nc/cnonce and other malformed credentials are refused without throwing', (t) => {
  const { server, lookup } = setup({ algorithms: ['MD5'] });
  const challenge = server.challenge()[0];
  const auth = new DigestClient('alice', 's3cret').authorize(challenge, 'REGISTER', URI)!;
  const noCnonce = auth.replace(/, cnonce="[^"]*"/, '');
  const noNc = auth.replace(/, nc=\w+/, '');
  const badNc = auth.replace(/nc=\w+/, 'nc=zz');
  t.like(server.verify('REGISTER', URI, noCnonce, lookup), { reason: 'malformed' });
  t.like(server.verify('REGISTER', URI, noNc, lookup), { reason: 'malformed' });
  t.like(server.verify('REGISTER', URI, badNc, lookup), { reason: 'malformed' });
  t.like(server.verify('REGISTER', URI, auth.replace('qop=auth', 'qop=auth-int'), lookup), { reason: 'malformed' });
  for (const bad of ['Digest', 'Digest username="alice"', 'Digest username="a, realm=', 'Basic YWxpY2U6cw==', 'Digest ,,,', '\u0000\uffff']) {
    t.like(server.verify('REGISTER', URI, bad, lookup), { ok: false, reason: 'malformed' }, bad);
  }
  t.like(server.verify('REGISTER', URI, auth, lookup), { ok: true });
});

test('no qop by default: never verified, a new challenge instead (RFC 7616), so a captured answer cannot be replayed', (t) => {
  const { server, lookup } = setup({ algorithms: ['MD5'] });
  const challenge = server.challenge()[0].replace(', qop="auth"', '');
  const auth = new DigestClient('bob', 'pw').authorize(challenge, 'REGISTER', URI);
  t.deepEqual(server.verify('REGISTER', URI, auth, lookup), { ok: false, reason: 'qop-required', username: 'bob' });
  const wrong = new DigestClient('bob', 'guess').authorize(challenge, 'REGISTER', URI);
  t.like(server.verify('REGISTER', URI, wrong, lookup), { reason: 'qop-required' }, 'not even checked: no password oracle without qop');
});

test('qop optional: an RFC 2069 answer is accepted once, only for the Call-ID and address its nonce went to', (t) => {
  const { server, lookup } = setup({ algorithms: ['MD5'], qop: 'optional' });
  const bind = { callId: 'call-1@phone', address: '192.0.2.10' };
  const challenge = server.challenge(false, bind)[0].replace(', qop="auth"', '');
  const auth = new DigestClient('bob', 'pw').authorize(challenge, 'REGISTER', URI);
  t.like(server.verify('REGISTER', URI, auth, lookup, { ...bind, address: '198.51.100.7' }), { ok: false, reason: 'stale' }, 'from elsewhere');
  t.like(server.verify('REGISTER', URI, auth, lookup, { ...bind, callId: 'other' }), { ok: false, reason: 'stale' }, 'in another call');
  t.like(server.verify('REGISTER', URI, auth, lookup, bind), { ok: true, username: 'bob' });
  t.like(server.verify('REGISTER', URI, auth, lookup, bind), { ok: false, reason: 'replay' }, 'the same answer again');
  const unbound = new DigestClient('bob', 'pw').authorize(server.challenge()[0].replace(', qop="auth"', ''), 'REGISTER', URI);
  t.like(server.verify('REGISTER', URI, unbound, lookup, bind), { ok: false, reason: 'stale' }, 'a nonce issued to nobody');
});

test('an unknown user costs the same hash as a known one and is never cached', (t) => {
  const { server, lookup } = setup({ algorithms: ['MD5'] });
  const c = server.challenge()[0];
  for (let i = 0; i < 3; i++) {
    t.like(server.verify('REGISTER', URI, new DigestClient(`nobody${i}`, 'x').authorize(c, 'REGISTER', URI), lookup), { reason: 'unknown-user' });
  }
});

test('HA1 cache follows password changes', (t) => {
  const { server, lookup, users } = setup({ algorithms: ['MD5'] });
  const c = () => server.challenge()[0];
  t.like(server.verify('REGISTER', URI, new DigestClient('alice', 's3cret').authorize(c(), 'REGISTER', URI), lookup), { ok: true });
  users.alice = 'changed';
  t.like(server.verify('REGISTER', URI, new DigestClient('alice', 's3cret').authorize(c(), 'REGISTER', URI), lookup), { reason: 'bad-response' });
  t.like(server.verify('REGISTER', URI, new DigestClient('alice', 'changed').authorize(c(), 'REGISTER', URI), lookup), { ok: true });
});

test('replay map is bounded; an evicted nonce is refreshed as stale, never replayable', (t) => {
  const { server, lookup, tick } = setup({ algorithms: ['MD5'], max: 2 });
  const client = new DigestClient('alice', 's3cret');
  const c1 = server.challenge()[0]; tick(1);
  const c2 = server.challenge()[0]; tick(1);
  const c3 = server.challenge()[0]; tick(1);
  const a1 = client.authorize(c1, 'REGISTER', URI);
  t.like(server.verify('REGISTER', URI, a1, lookup), { ok: true });
  t.like(server.verify('REGISTER', URI, client.authorize(c2, 'REGISTER', URI), lookup), { ok: true });
  t.like(server.verify('REGISTER', URI, client.authorize(c3, 'REGISTER', URI), lookup), { ok: true }); // evicts c1
  t.like(server.verify('REGISTER', URI, a1, lookup), { ok: false, reason: 'stale' });
  t.like(server.verify('REGISTER', URI, client.authorize(c1, 'REGISTER', URI), lookup), { ok: false, reason: 'stale' });
});
