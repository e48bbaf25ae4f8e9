/**
 * Message waiting indication (RFC 3842 over RFC 6665) against sipp phones: a subscription
 * challenged, notified, updated and ended; refusals; expiry; a subscriber that is gone; and the
 * unsolicited NOTIFY a registered phone without a subscription gets.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { createTestLogger, type TestLogger } from '../../src/core/logger.js';
import { Authenticator } from '../../src/core/security/authenticator.js';
import { Lockout } from '../../src/core/security/lockout.js';
import { Store } from '../../src/core/store.js';
import { LocationStore, type Binding } from '../../src/features/registrar/location.js';
import { MessageWaiting, summaryBody, type MailboxCounts } from '../../src/features/voicemail/mwi.js';
import { DigestServer } from '../../src/sip/auth/digest.js';
import { SipStack } from '../../src/sip/stack.js';
import { portBlock } from '../helpers/ports.js';
import { runSipp, startSipp, type SippResult } from '../helpers/sipp.js';
import { scenario } from '../helpers/peers.js';
import { until } from '../helpers/wait.js';

const port = portBlock(23);
const USERS = new Map([['201', 'demo201'], ['202', 'demo202']]);
/** Hunt group 300's mailbox, watched by its members 201 and 202. */
const GROUP = '300';

interface Node {
  stack: SipStack;
  mwi: MessageWaiting;
  location: LocationStore;
  logger: TestLogger;
  counts: Map<string, MailboxCounts>;
  close(): Promise<void>;
}

async function startNode(sipPort: number, o: { minExpires?: number } = {}): Promise<Node> {
  const logger = createTestLogger('debug');
  const store = Store.open(':memory:');
  const location = new LocationStore(store);
  const counts = new Map<string, MailboxCounts>([['201', { new: 0, saved: 0 }], ['202', { new: 0, saved: 0 }], [GROUP, { new: 0, saved: 0 }]]);
  let mwi: MessageWaiting | undefined;
  const stack = new SipStack({
    listen: [{ transport: 'udp', address: '127.0.0.1', port: sipPort }],
    maxMessageSize: 65535,
    logger,
    methods: ['SUBSCRIBE', 'NOTIFY', 'OPTIONS'],
    onRequest: (req, tx) => {
      if (!mwi?.handle(req, tx)) stack.respond(tx, stack.createResponse(req, 405));
    },
  });
  const digest = new DigestServer({ realm: 'pbx.test', secret: randomBytes(32), nonceLifetimeMs: 300_000, algorithms: ['MD5'] });
  const lockout = new Lockout({ maxFailures: 10, windowMs: 60_000, lockoutMs: 60_000 });
  const auth = new Authenticator({ stack, digest, lockout, logger, password: (u) => USERS.get(u) });
  mwi = new MessageWaiting({
    stack, auth, logger, domain: 'pbx.test',
    locate: (u) => location.lookup(u),
    counts: (m) => counts.get(m),
    mayWatch: (u, m) => u === m || (m === GROUP && USERS.has(u)),
    minExpires: o.minExpires,
  });
  await stack.start();
  const node = mwi;
  return {
    stack, mwi: node, location, logger, counts,
    close: async () => {
      node.close();
      location.close();
      await stack.close();
      store.close();
    },
  };
}

/** A binding of `aor` at a sipp phone on 127.0.0.1:phonePort, as a UDP REGISTER would leave it. */
function binding(aor: string, phonePort: number): Binding {
  const contact = `sip:${aor}@127.0.0.1:${phonePort}`;
  return {
    aor, contact, key: contact, callId: `reg-${aor}-${phonePort}`, cseq: 1, expiresAt: Date.now() + 300_000, q: 1,
    path: [], source: { protocol: 'udp', address: '127.0.0.1', port: phonePort },
  };
}

const notifyAnswers = (n: Node, mailbox: string, status: number) =>
  n.logger.records.filter((r) => r.message === 'message-summary NOTIFY answered' && r.mailbox === mailbox && r.status === status).length;

/** Final answers sipp received, without the 407 challenge. */
const finals = (r: SippResult) => [...r.messages.matchAll(/^SIP\/2\.0 ([2-6]\d\d) /gm)].map((m) => Number(m[1])).filter((s) => s !== 407);

function refused(serverPort: number, localPort: number, mailbox: string, o: { subscriber?: string; event?: string; accept?: string; expires?: number } = {}) {
  const subscriber = o.subscriber ?? mailbox;
  return runSipp([`127.0.0.1:${serverPort}`, '-sf', scenario('uac_mwi_refused.xml'), '-s', mailbox,
    '-au', subscriber, '-ap', USERS.get(subscriber) ?? 'nopass', '-key', 'subscriber', subscriber,
    '-key', 'event', o.event ?? 'message-summary', '-key', 'accept', o.accept ?? 'application/simple-message-summary',
    '-key', 'expires', String(o.expires ?? 120),
    '-i', '127.0.0.1', '-p', String(localPort), '-m', '1'], { timeoutMs: 15_000, trace: true });
}

let node: Node;
test.before(async () => {
  node = await startNode(port(0));
});
test.after.always(async () => {
  await node?.close();
});

test.serial('a phone subscribes, is told of a new message, and unsubscribes', async (t) => {
  // 202's phone is registered from where it subscribes: its subscription replaces the
  // unsolicited NOTIFY, so it must not get a second one.
  node.location.save(binding('202', port(10)));
  const sent = node.mwi.stats.notifiedUnsolicited;
  const phone = startSipp([`127.0.0.1:${port(0)}`, '-sf', scenario('uac_mwi_subscribe.xml'), '-s', '202',
    '-au', '202', '-ap', 'demo202', '-i', '127.0.0.1', '-p', String(port(10)), '-m', '1'], { timeoutMs: 20_000, trace: true });
  try {
    await until('the first NOTIFY answered', () => notifyAnswers(node, '202', 200) >= 1, 5000);
    t.is(node.mwi.status().subscriptions, 1);
    node.counts.set('202', { new: 1, saved: 0 });
    // two changes in one turn: one NOTIFY (sipp fails on an unexpected third one)
    node.mwi.update('202');
    node.mwi.update('202');
    const r = await phone.done;
    t.is(r.code, 0, `${r.stderr.slice(-800)}\n${r.messages.slice(-2000)}`);
    t.is(node.mwi.stats.notifiedUnsolicited, sent, 'no unsolicited NOTIFY to a phone that subscribed');
    t.is(node.mwi.status().subscriptions, 0, 'unsubscribed');
    t.regex(r.messages, /^Expires: 120/m);
    t.regex(r.messages, /^Message-Account: sip:202@pbx\.test\r?$/m);
  } finally {
    await phone.stop();
    node.location.remove('202', `sip:202@127.0.0.1:${port(10)}`);
    node.counts.set('202', { new: 0, saved: 0 });
  }
});

test.serial("another user's mailbox: 403 after authentication", async (t) => {
  const r = await refused(port(0), port(20), '202', { subscriber: '201' });
  t.deepEqual(finals(r), [403], r.messages.slice(-1500));
  t.is(node.mwi.status().subscriptions, 0);
});

test.serial('an unknown mailbox: 404', async (t) => {
  const r = await refused(port(0), port(21), '299', { subscriber: '201' });
  t.deepEqual(finals(r), [404], r.messages.slice(-1500));
});

test.serial('another event package: 489 with Allow-Events', async (t) => {
  const r = await refused(port(0), port(22), '201', { event: 'presence' });
  t.deepEqual(finals(r), [489], r.messages.slice(-1500));
  t.regex(r.messages, /Allow-Events: message-summary/);
});

test.serial('a subscriber that cannot read the summary format: 406', async (t) => {
  const r = await refused(port(0), port(23), '201', { accept: 'application/pidf+xml' });
  t.deepEqual(finals(r), [406], r.messages.slice(-1500));
});

test.serial('too short a subscription: 423 with Min-Expires; too long: shortened', async (t) => {
  const short = await refused(port(0), port(24), '201', { expires: 10 });
  t.deepEqual(finals(short), [423], short.messages.slice(-1500));
  t.regex(short.messages, /Min-Expires: 60/);
  // sipp leaves once it has its 200, so this one runs on a node of its own that is closed after
  const n = await startNode(port(3));
  try {
    const long = await refused(port(3), port(25), '201', { expires: 86400 });
    t.deepEqual(finals(long), [200], long.messages.slice(-1500));
    t.regex(long.messages, /^Expires: 3600/m);
    await until('the first NOTIFY', () => n.logger.records.some((x) => x.message === 'message-summary NOTIFY sent'));
    t.true(n.logger.records.some((x) => x.message === 'message-summary NOTIFY sent' && /^active;expires=(3600|3599)$/.test(String(x.state))));
  } finally {
    await n.close();
  }
  // closing tells the subscriber to subscribe again (to whichever node serves then)
  t.true(n.logger.records.some((x) => x.message === 'message-summary NOTIFY sent' && x.state === 'terminated;reason=deactivated'));
  t.is(n.mwi.status().subscriptions, 0);
});

test.serial('a member watches the hunt group mailbox; a phone with no subscription gets an unsolicited NOTIFY', async (t) => {
  const r = await refused(port(0), port(26), GROUP, { subscriber: '201' });
  t.deepEqual(finals(r), [200], r.messages.slice(-1500));
  t.is(node.mwi.status().subscriptions, 1);
  // 201's phone never subscribed to its own mailbox
  node.location.save(binding('201', port(30)));
  const phone = startSipp(['-sf', scenario('uas_mwi_notify.xml'), '-i', '127.0.0.1', '-p', String(port(30)), '-m', '1'], { timeoutMs: 15_000, trace: true });
  try {
    await new Promise((res) => setTimeout(res, 300));
    node.counts.set('201', { new: 2, saved: 1 });
    node.mwi.update('201');
    const p = await phone.done;
    t.is(p.code, 0, `${p.stderr.slice(-800)}\n${p.messages.slice(-2000)}`);
    t.regex(p.messages, /^Message-Account: sip:201@pbx\.test/m);
  } finally {
    await phone.stop();
    node.location.remove('201', `sip:201@127.0.0.1:${port(30)}`);
  }
  // a hunt group has no registered phones: only its subscriber is told (sipp is gone, so the
  // NOTIFY goes unanswered; the point is that no unsolicited one is attempted)
  const sent = node.mwi.stats.notifiedUnsolicited;
  node.mwi.update(GROUP);
  await new Promise((res) => setImmediate(res));
  t.is(node.mwi.stats.notifiedUnsolicited, sent);
  t.true(node.logger.records.some((x) => x.message === 'message-summary NOTIFY sent' && x.mailbox === GROUP));
});

test.serial('a subscriber that answers 481 is dropped', async (t) => {
  const base = node.mwi.status().subscriptions;
  const r = await runSipp([`127.0.0.1:${port(0)}`, '-sf', scenario('uac_mwi_gone.xml'), '-s', '202', '-au', '202', '-ap', 'demo202',
    '-key', 'expires', '300', '-i', '127.0.0.1', '-p', String(port(40)), '-m', '1'], { timeoutMs: 15_000, trace: true });
  t.is(r.code, 0, r.messages.slice(-1500));
  await until('the subscription dropped', () => node.mwi.status().subscriptions === base);
  t.true(node.logger.records.some((x) => x.message === 'message-summary subscription dropped' && x.why === 'NOTIFY answered 481'));
});

test('a refreshed subscription, then not refreshed, ends with a terminated NOTIFY', async (t) => {
  const n = await startNode(port(1), { minExpires: 1 });
  try {
    const r = await runSipp([`127.0.0.1:${port(1)}`, '-sf', scenario('uac_mwi_expire.xml'), '-s', '201', '-au', '201', '-ap', 'demo201',
      '-key', 'expires', '2', '-i', '127.0.0.1', '-p', String(port(50)), '-m', '1'], { timeoutMs: 15_000, trace: true });
    t.is(r.code, 0, `${r.stderr.slice(-800)}\n${r.messages.slice(-2000)}`);
    t.is(n.mwi.status().subscriptions, 0);
  } finally {
    await n.close();
  }
});

test('the summary body (RFC 3842 5.2)', (t) => {
  t.is(summaryBody('sip:201@pbx.test', { new: 0, saved: 3 }).toString(),
    'Messages-Waiting: no\r\nMessage-Account: sip:201@pbx.test\r\nVoice-Message: 0/3 (0/0)\r\n');
  t.regex(summaryBody('sip:300@pbx.test', { new: 2, saved: 0 }).toString(), /^Messages-Waiting: yes\r\n.*Voice-Message: 2\/0 \(0\/0\)/s);
});

test('options and input are validated; close is idempotent', async (t) => {
  const n = await startNode(port(2));
  try {
    const opts = { stack: n.stack, auth: {} as Authenticator, logger: n.logger, domain: 'x', locate: () => [], counts: () => undefined, mayWatch: () => true };
    t.throws(() => new MessageWaiting(opts), { instanceOf: TypeError, message: /^auth:/ });
    t.throws(() => new MessageWaiting({ ...opts, auth: { authenticate: () => ({ ok: true, user: 'x' }) } as unknown as Authenticator, domain: '' }), { instanceOf: TypeError, message: /^domain:/ });
    t.throws(() => n.mwi.update(''), { instanceOf: TypeError, message: /^mailbox:/ });
    n.mwi.close();
    n.mwi.close();
    t.notThrows(() => n.mwi.update('201'));
    t.is(n.mwi.status().subscriptions, 0);
  } finally {
    await n.close();
  }
});
