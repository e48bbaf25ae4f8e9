/**
 * Attacks on digest authentication, each beside the legitimate user it must not hurt (sipp
 * registering from its own address): lockout bypass by spelling the user name differently
 * (defect 1), a flood of made-up users (2), guessing across addresses and across users (3),
 * telling users from non-users (4), replay of captured credentials (5), and the challenge as an
 * amplifier towards a forged source (11).
 */
import test from 'ava';
import { portBlock } from '../helpers/ports.js';
import { runSipp, scenario } from '../helpers/sipp.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { eventually, sleep } from '../helpers/wait.js';
import { authorization, challengeOf, request, SDP, statusOf, token, UdpAttacker } from '../helpers/attacker.js';

const port = portBlock(131);
const REGISTER = scenario('register_auth.xml');
const REALM = '127.0.0.1';

/** Tight limits so the attacks trip them in a few packets. */
const LIMITS = `security:
  lockout: { maxFailures: 3, windowSeconds: 60, lockoutSeconds: 60 }
  sourceLimit: { maxFailures: 12, windowSeconds: 60, blockSeconds: 60 }
  userLimit: { maxFailures: 15, windowSeconds: 60, protectSeconds: 60 }`;

async function node(udp: number, yaml = LIMITS): Promise<TestServer> {
  return startServer({ udp, yaml });
}

/** The legitimate user: sipp registering `user` from `ip`; resolves with sipp's exit code (0: registered). */
async function legit(n: TestServer, user: string, ip = '127.0.0.1', localPort = port(190)): Promise<number> {
  const r = await runSipp([`127.0.0.1:${n.config.sip.listen[0]!.port}`, '-sf', REGISTER, '-s', user, '-au', user, '-ap', `demo${user}`,
    '-i', ip, '-p', String(localPort), '-m', '1'], { timeoutMs: 15_000 });
  return r.code ?? -1;
}

/** One REGISTER of `user` (To) with credentials for `authUser`/`password`, spelled as asked; returns the final answer. */
async function guess(a: UdpAttacker, sipPort: number, o: { to: string; authUser: string; password: string; spelling?: 'quoted' | 'escaped' | 'bare' }): Promise<string | undefined> {
  const callId = `${token()}@attacker`;
  const base = { method: 'REGISTER', uri: `sip:${REALM}`, fromUser: o.to, toUser: o.to, via: a.via, callId };
  const challenge = await a.ask(request({ ...base, cseq: 1 }), sipPort);
  if (!challenge || !challenge.startsWith('SIP/2.0 401')) return challenge;
  const c = challengeOf(challenge);
  const authz = authorization({ user: o.authUser, password: o.password, method: 'REGISTER', uri: `sip:${REALM}`, realm: c.realm, nonce: c.nonce, nc: 1, spelling: o.spelling });
  return a.ask(request({ ...base, cseq: 2, headers: { Authorization: authz, Expires: '300' } }), sipPort);
}

test.serial('defect 1: however the user name is spelled (escaped, unquoted, another To user), a locked-out pair stays locked out', async (t) => {
  const n = await node(port(0));
  const a = await UdpAttacker.open('127.0.0.21');
  try {
    // three wrong guesses spelled "2\0\1": the lockout counts them for 201
    const answers: string[] = [];
    for (let i = 0; i < 3; i++) answers.push(statusOf(await guess(a, port(0), { to: '201', authUser: '201', password: `guess${i}`, spelling: 'escaped' })));
    t.deepEqual(answers.map((s) => s.slice(0, 3)), ['401', '401', '403'], answers.join(' | '));
    // the right password, escaped, unquoted, and unquoted under another To user: all refused unverified
    for (const [to, spelling] of [['201', 'escaped'], ['201', 'bare'], ['202', 'bare'], ['201', 'quoted']] as const) {
      const res = await guess(a, port(0), { to, authUser: '201', password: 'demo201', spelling });
      t.regex(statusOf(res), /^403 Forbidden \(locked out/, `${spelling} username, To ${to}`);
    }
    // and further guesses get no challenge to guess against
    t.regex(statusOf(await guess(a, port(0), { to: '201', authUser: '201', password: 'x', spelling: 'bare' })), /^403/);
    t.deepEqual(n.server.location.lookup('201'), [], 'no binding for the attacker');
    t.is(await legit(n, '201'), 0, 'the real 201 registers from its own address');
    t.is(n.server.alarms.list('auth.lockout').length, 1, 'one alarm for the locked pair');
  } finally {
    a.close();
    await n.close();
  }
});

test.serial('defect 2: a flood of failed logins for made-up users from many addresses stays bounded and the node keeps serving', async (t) => {
  // the per-address limit is lifted here so every made-up pair lands in the lockout table
  const n = await node(port(10), 'security: { lockout: { maxFailures: 3 }, sourceLimit: { maxFailures: 100000 }, userLimit: { maxFailures: 100000 } }');
  const attackers = await Promise.all(Array.from({ length: 50 }, (_, i) => UdpAttacker.open(`127.0.2.${i + 1}`)));
  try {
    // a valid nonce to guess against, then one wrong answer per made-up user: every one a failure
    const first = await attackers[0]!.ask(request({ method: 'REGISTER', uri: `sip:${REALM}`, fromUser: '9', toUser: '9', via: attackers[0]!.via }), port(10));
    const c = challengeOf(first!);
    let sent = 0;
    const flood = (async () => {
      for (let round = 0; round < 40; round++) {
        for (const a of attackers) {
          for (let k = 0; k < 5; k++) {
            const user = `u${sent++}`;
            const authz = authorization({ user, password: 'x', method: 'REGISTER', uri: `sip:${REALM}`, realm: c.realm, nonce: c.nonce, nc: 1 });
            a.send(request({ method: 'REGISTER', uri: `sip:${REALM}`, fromUser: user, toUser: user, via: a.via, headers: { Authorization: authz } }), port(10));
          }
        }
        await sleep(10);
      }
    })();
    const during = await legit(n, '202');
    await flood;
    t.is(during, 0, 'the real 202 registers during the flood');
    t.is(sent, 10_000);
    t.is(await legit(n, '203', '127.0.0.1', port(191)), 0, 'and after it');
    const answered = () => attackers.reduce((k, a) => k + a.received.length, 0);
    await eventually(() => answered() >= 9000, 5000);
    t.true(answered() >= 5000, `the flood reached the node and was answered (${answered()} answers)`);
    // (the legitimate registrations' own transactions wait out Timer J: a handful)
    t.true(n.server.stack.transactions.serverCount < 10, `10,000 refusals left no transactions (${n.server.stack.transactions.serverCount})`);
  } finally {
    for (const a of attackers) a.close();
    await n.close();
  }
});

test.serial('defect 3: guessing one password from many addresses stops; the user\'s own address still gets in', async (t) => {
  const n = await node(port(20));
  try {
    t.is(await legit(n, '205'), 0, '205 registers from its phone first');
    const guessers = await Promise.all(Array.from({ length: 20 }, (_, i) => UdpAttacker.open(`127.0.3.${i + 1}`)));
    try {
      // one or two guesses per address: no (user, address) lockout ever trips
      for (const [i, a] of guessers.entries()) {
        const s = statusOf(await guess(a, port(20), { to: '205', authUser: '205', password: `guess${i}` }));
        t.regex(s, /^40[13]/);
      }
      const fresh = await UdpAttacker.open('127.0.3.99');
      const right = statusOf(await guess(fresh, port(20), { to: '205', authUser: '205', password: 'demo205' }));
      fresh.close();
      t.regex(right, /^403 Forbidden \(this user accepts logins only from known addresses/, 'even the right password from a new address');
      t.deepEqual(n.server.location.lookup('205').map((b) => b.source.address), ['127.0.0.1']);
      t.is(await legit(n, '205', '127.0.0.1', port(191)), 0, "the user's own phone is not locked out");
      t.truthy(n.server.alarms.list('auth.user-attacked').find((a) => a.key === '205'));
    } finally {
      for (const a of guessers) a.close();
    }
  } finally {
    await n.close();
  }
});

test.serial('defect 3: one address trying many users is blocked; users who logged in from there before keep working', async (t) => {
  const n = await node(port(30));
  const scanner = await UdpAttacker.open('127.0.0.30');
  try {
    t.is(await legit(n, '208', '127.0.0.30', port(192)), 0, '208 has a phone at that address');
    const seen: string[] = [];
    for (let i = 0; i < 12; i++) {
      const user = String(201 + (i % 6));
      seen.push(statusOf(await guess(scanner, port(30), { to: user, authUser: user, password: 'guess' })).slice(0, 3));
    }
    t.is(seen.at(-1), '403', seen.join(' '));
    const right = statusOf(await guess(scanner, port(30), { to: '207', authUser: '207', password: 'demo207' }));
    t.regex(right, /^403 Forbidden \(too many failed authentications from this address/);
    t.is(await legit(n, '208', '127.0.0.30', port(193)), 0, '208 still registers from the blocked address');
    t.is(await legit(n, '207'), 0, '207 registers from elsewhere');
    t.truthy(n.server.alarms.list('auth.source-blocked').find((a) => a.key === '127.0.0.30'));
  } finally {
    scanner.close();
    await n.close();
  }
});

test.serial('defect 4: users and non-users get the same answers until credentials check out', async (t) => {
  const n = await node(port(40));
  const a = await UdpAttacker.open('127.0.0.40');
  try {
    const shape = (res: string | undefined) => [statusOf(res), /^Proxy-Authenticate: Digest realm="[^"]+", nonce="[^"]+", algorithm=MD5, qop="auth"$/m.test(res ?? '')];
    const invite = (from: string, headers: Record<string, string> = {}, callId = `${token()}@a`) =>
      a.ask(request({ method: 'INVITE', uri: `sip:202@${REALM}`, fromUser: from, toUser: '202', via: a.via, callId, headers, body: SDP('127.0.0.40', 40000) }), port(40));
    const known = await invite('201');
    const unknown = await invite('999');
    t.deepEqual(shape(unknown), shape(known));
    t.deepEqual(shape(known), ['407 Proxy Authentication Required', true]);
    // with (wrong) credentials: a user and a non-user are both challenged again
    for (const from of ['201', '999']) {
      const c = challengeOf((await invite(from))!);
      const authz = authorization({ user: from, password: 'nope', method: 'INVITE', uri: `sip:202@${REALM}`, realm: c.realm, nonce: c.nonce, nc: 1 });
      t.is(statusOf(await invite(from, { 'Proxy-Authorization': authz })), '407 Proxy Authentication Required', from);
    }
    const reg = (user: string) => a.ask(request({ method: 'REGISTER', uri: `sip:${REALM}`, fromUser: user, toUser: user, via: a.via }), port(40));
    t.is(statusOf(await reg('999')), statusOf(await reg('201')));
    t.false(n.logger.records.some((r) => /not a user/.test(String(r.message))), 'nothing says "not a user"');
    t.is(await legit(n, '202'), 0);
  } finally {
    a.close();
    await n.close();
  }
});

test.serial('defect 5: credentials without qop are never accepted, and captured credentials cannot be replayed', async (t) => {
  const n = await node(port(50));
  const phone = await UdpAttacker.open('127.0.0.50');
  const thief = await UdpAttacker.open('127.0.0.51');
  try {
    const uri = `sip:${REALM}`;
    const callId = `${token()}@phone`;
    const reg = (a: UdpAttacker, cseq: number, headers: Record<string, string>) =>
      a.ask(request({ method: 'REGISTER', uri, fromUser: '203', toUser: '203', via: a.via, callId, cseq, headers: { Expires: '300', ...headers } }), port(50));
    const c = challengeOf((await reg(phone, 1, {}))!);
    // RFC 2069 (no qop) with the right password: a new challenge, never a 200
    const noQop = authorization({ user: '203', password: 'demo203', method: 'REGISTER', uri, realm: c.realm, nonce: c.nonce });
    t.is(statusOf(await reg(phone, 2, { Authorization: noQop })), '401 Unauthorized');
    t.deepEqual(n.server.location.lookup('203'), []);
    // the phone's own login with qop=auth, nc=1
    const good = authorization({ user: '203', password: 'demo203', method: 'REGISTER', uri, realm: c.realm, nonce: c.nonce, nc: 1 });
    t.is(statusOf(await reg(phone, 3, { Authorization: good })), '200 OK');
    // the same Authorization replayed by whoever captured it, with its own Contact
    const replay = await reg(thief, 4, { Authorization: good });
    t.is(statusOf(replay), '401 Unauthorized', 'the replay is challenged');
    t.deepEqual(n.server.location.lookup('203').map((b) => b.source.address), ['127.0.0.50'], 'the binding was not moved');
    t.is(await legit(n, '204'), 0);
  } finally {
    phone.close();
    thief.close();
    await n.close();
  }
});

test.serial('defect 11: an unauthenticated INVITE or REGISTER brings back exactly one packet, and leaves no transaction', async (t) => {
  const n = await node(port(60));
  const victim = await UdpAttacker.open('127.0.0.60');
  try {
    victim.send(request({ method: 'INVITE', uri: `sip:202@${REALM}`, fromUser: '201', toUser: '202', via: victim.via, body: SDP('127.0.0.60', 40000) }), port(60));
    victim.send(request({ method: 'REGISTER', uri: `sip:${REALM}`, fromUser: '201', toUser: '201', via: victim.via }), port(60));
    // refused before authentication for another reason (a body type the node does not take)
    victim.send(request({ method: 'INVITE', uri: `sip:202@${REALM}`, fromUser: '201', toUser: '202', via: victim.via, body: 'x' }).replace('Content-Type: application/sdp', 'Content-Type: text/html'), port(60));
    t.is(n.server.stack.transactions.serverCount, 0, 'nothing kept for any');
    // the 407 and the 415 would be retransmitted at 0.5, 1, 2 and 4 s until Timer H if they were stateful
    await sleep(4500);
    t.deepEqual(victim.received.map(statusOf).sort(), ['401 Unauthorized', '407 Proxy Authentication Required', '415 Unsupported Media Type']);
    const inBytes = Buffer.byteLength(request({ method: 'INVITE', uri: `sip:202@${REALM}`, fromUser: '201', toUser: '202', via: victim.via, body: SDP('127.0.0.60', 40000) }));
    const out = Buffer.byteLength(victim.received.find((m) => m.startsWith('SIP/2.0 407'))!);
    t.true(out < 2 * inBytes, `the answer (${out} bytes) is no amplifier for a ${inBytes}-byte request`);
    t.is(await legit(n, '201'), 0);
  } finally {
    victim.close();
    await n.close();
  }
});

test.serial('defect 11: requests for dialogs that do not exist and methods nobody takes are refused with one packet each, the same bytes to a retransmission, and no transaction', async (t) => {
  const n = await node(port(70));
  const a = await UdpAttacker.open('127.0.0.70');
  try {
    const base = { uri: `sip:202@${REALM}`, fromUser: '201', toUser: '202', via: a.via };
    const withTag = (text: string) => text.replace(/^(To: <[^>]*>)$/m, '$1;tag=made-up');
    const sent = [
      withTag(request({ ...base, method: 'BYE', cseq: 2 })), // a dialog we never had
      request({ ...base, method: 'BYE' }), // a BYE outside any dialog
      request({ ...base, method: 'REFER', headers: { 'Refer-To': '<sip:999@127.0.0.1>' } }), // no feature takes it outside a dialog
    ];
    for (const m of sent) a.send(m, port(70));
    t.true(await eventually(() => a.received.length >= 3, 3000), 'each is answered');
    t.is(n.server.stack.transactions.serverCount, 0, 'nothing kept for any');
    for (const m of sent) a.send(m, port(70)); // retransmissions
    t.true(await eventually(() => a.received.length >= 6, 3000), 'retransmissions are answered too');
    await sleep(1000);
    t.is(a.received.length, 6, 'one packet per request, nothing else');
    t.deepEqual(a.received.slice(0, 3).map(statusOf), ['481 Call/Transaction Does Not Exist', '481 Call/Transaction Does Not Exist', '405 Method Not Allowed']);
    t.deepEqual(a.received.slice(3), a.received.slice(0, 3), 'the same bytes again');
    t.regex(a.received[2]!, /^Allow: .*INVITE/m, '405 names what is allowed');
    t.is(n.server.stack.transactions.serverCount, 0, 'still nothing kept');
    t.is(await legit(n, '201'), 0);
  } finally {
    a.close();
    await n.close();
  }
});
