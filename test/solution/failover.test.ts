/**
 * Failover decisions on a manual clock, with the heartbeats and OPTIONS answers a node would
 * have: the hold-down, the other nodes' agreement (no takeover of a node only cut from its
 * backup, nor by a node that hears no one), the stable time before users return, a node lost
 * again while handing back, and a home node displaced by its backup. Each change is logged.
 */
import test from 'ava';
import { parseConfig, type Config } from '../../src/core/config/index.js';
import { createTestLogger } from '../../src/core/logger.js';
import type { FailoverAnnouncement, Heard, HomeState } from '../../src/solution/directory.js';
import { Failover } from '../../src/solution/failover.js';

const config: Config = parseConfig(`
bus: { heartbeatSeconds: 0.5, holdDownSeconds: 2 }
failover: { stableSeconds: 10, startGraceSeconds: 5 }
nodes:
  - { name: pri, role: primary, profile: DL360, address: 127.0.0.1 }
  - { name: sec, role: secondary, profile: DL120, address: 127.0.0.2 }
  - { name: exp1, role: expansion, profile: ExpansionL, address: 127.0.0.3 }
users:
  - { extension: "201", password: demo201, node: pri }
`);

/** A node `self` of that solution, with what it hears set by the test, on a clock the test moves. */
function node(self: string) {
  let now = 1_000_000;
  const heard = new Map<string, Heard>();
  const answered = new Map<string, number>();
  const served: string[][] = [];
  const homes: HomeState[] = [];
  const logger = createTestLogger();
  let caughtUp = true;
  const f = new Failover({
    self, config: () => config, logger, now: () => now,
    inputs: {
      heard: (n) => heard.get(n),
      lastAnswer: (n) => answered.get(n),
      busConnectedSince: () => 0,
      caughtUp: () => caughtUp,
    },
    serve: async (nodes) => {
      served.push(nodes);
    },
    home: (s) => homes.push(s),
    announce: () => {},
  });
  return {
    f, served, homes, logger,
    /** `name` heard on the bus now, saying `a` about failover. */
    hear(name: string, a: Partial<FailoverAnnouncement> = {}) {
      heard.set(name, { at: now, failover: { sees: [], serving: [], home: 'serving', caughtUp: true, ...a } });
    },
    answer(name: string) {
      answered.set(name, now);
    },
    setCaughtUp(v: boolean) {
      caughtUp = v;
    },
    /** Moves the clock by `ms` and lets the decisions (and a serve() they start) run. */
    async pass(ms: number) {
      now += ms;
      f.tick();
      await new Promise((r) => setImmediate(r));
    },
    logged: (message: string) => logger.records.filter((r) => r.message === message),
  };
}

test('the secondary takes the primary over only after the hold-down, and only when the expansion no longer sees it either', async (t) => {
  const n = node('sec');
  n.hear('pri');
  n.hear('exp1', { sees: ['pri', 'sec'] });
  await n.pass(100);
  t.deepEqual(n.f.announcement().sees, ['pri']);
  // the primary falls silent; the expansion still sees it (over its own bus link, or OPTIONS)
  for (let i = 0; i < 10; i++) {
    n.hear('exp1', { sees: ['pri', 'sec'] });
    await n.pass(500);
  }
  t.false(n.f.declaredDown('pri'));
  t.deepEqual(n.served, [], 'no takeover while the expansion sees the primary');
  t.deepEqual(n.f.announcement().sees, [], 'this node does not see it');
  t.is(n.logged('failover: watched nodes seen here changed').at(-1)?.lost?.toString(), 'pri');
  // now the expansion loses it too
  n.hear('exp1', { sees: ['sec'] });
  await n.pass(100);
  t.deepEqual(n.served, [['pri']]);
  t.deepEqual(n.f.serving, ['pri']);
  t.like(n.logged('failover: node declared down, serving its users')[0], { node: 'pri', from: 'standby', to: 'serving' });
});

test('silence shorter than the hold-down, or a node answering OPTIONS only, is not a failure', async (t) => {
  const n = node('sec');
  n.hear('pri');
  n.hear('exp1', { sees: ['sec'] });
  await n.pass(1900);
  n.hear('exp1', { sees: ['sec'] });
  await n.pass(0);
  t.deepEqual(n.served, [], 'within the hold-down');
  // its bus link is gone but its SIP still answers: alive
  n.answer('pri');
  await n.pass(1000);
  n.hear('exp1', { sees: ['sec'] });
  t.false(n.f.declaredDown('pri'));
  await n.pass(0);
  t.deepEqual(n.served, []);
});

test('a node that hears no other node takes nothing over: it may be the one cut off', async (t) => {
  const n = node('sec');
  n.hear('pri');
  n.hear('exp1', { sees: ['pri', 'sec'] });
  await n.pass(100);
  await n.pass(10_000);
  t.false(n.f.declaredDown('pri'));
  t.deepEqual(n.served, []);
});

test('the users return after the stable time once the primary caught up; lost again meanwhile, they stay', async (t) => {
  const n = node('sec');
  n.hear('exp1', { sees: ['sec'] });
  await n.pass(6000);
  n.hear('exp1', { sees: ['sec'] });
  await n.pass(0);
  t.deepEqual(n.served, [['pri']], 'never heard since the start grace ended, unseen by the expansion: down');
  // back, then lost again before the stable time
  n.hear('pri', { home: 'displaced', caughtUp: true });
  await n.pass(100);
  t.is(n.logged('failover: node back, its users return after the stable time').length, 1);
  await n.pass(2500);
  t.is(n.logged('failover: node lost again before its users returned').length, 1);
  t.deepEqual(n.served, [['pri']], 'still serving, nothing applied again');
  // back for good, but not caught up yet: the users stay past the stable time
  n.setCaughtUp(true);
  const beats = async (ms: number, caughtUp: boolean) => {
    for (let left = ms; left > 0; left -= 500) {
      n.hear('pri', { home: 'displaced', caughtUp });
      await n.pass(500);
    }
  };
  await beats(12_000, false);
  t.deepEqual(n.f.serving, ['pri'], 'not caught up: not handed back');
  await beats(1000, true);
  t.deepEqual(n.served.at(-1), [], 'handed back');
  t.deepEqual(n.f.serving, []);
  t.like(n.logged('failover: node stable and caught up, its users returned to it')[0], { node: 'pri', from: 'handing-back', to: 'standby' });
});

test('the primary is displaced while the secondary serves its users, and serves them again when they are handed back', async (t) => {
  const n = node('pri');
  n.hear('sec', { serving: ['pri'] });
  await n.pass(100);
  t.is(n.f.homeState, 'displaced');
  t.deepEqual(n.homes.at(-1), 'displaced');
  n.hear('sec', { serving: [] });
  await n.pass(100);
  t.is(n.f.homeState, 'serving');
  t.like(n.logged('failover: this node serves its own users').at(-1), { from: 'displaced', to: 'serving' });
  t.is(n.logged("failover: this node's users are served by its backup; new calls refused until they return").length, 1);
});

test('a restarted primary waits while the expansion still sees the secondary: it hears it serves its users and never serves them too', async (t) => {
  const n = node('pri');
  n.hear('exp1', { sees: ['pri', 'sec'] });
  // the bus is connected (since 0), the secondary not heard yet: its path to this node is not up
  for (let i = 0; i < 6; i++) {
    n.hear('exp1', { sees: ['pri', 'sec'] });
    await n.pass(500);
  }
  t.is(n.f.homeState, 'starting');
  n.hear('sec', { serving: ['pri'] });
  await n.pass(100);
  t.is(n.f.homeState, 'displaced');
  t.false(n.homes.includes('serving'));
});

test('a restarted primary serves its users at once when no node heard on the bus sees the secondary', async (t) => {
  const n = node('pri');
  n.hear('exp1', { sees: ['pri'] });
  await n.pass(100);
  t.is(n.f.homeState, 'serving');
  t.like(n.logged('failover: this node serves its own users')[0], { from: 'starting', to: 'serving', why: 'sec not heard on the bus' });
});

test('bad options are refused by name', (t) => {
  t.throws(() => new Failover({ self: '' } as never), { instanceOf: TypeError, message: /^self:/ });
});
