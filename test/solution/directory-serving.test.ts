/**
 * Unit test of Directory.servingNode where issue 16's numbering meets issue 17's failover: the
 * heartbeats come from a stand-in for the bus (the bus itself is tested in directory.test.ts and
 * the netns tests). A backup that announces it serves a node's users serves its users and, the
 * primary's, its hunt groups; otherwise a user is served where the phone is registered, else at
 * home.
 */
import test from 'ava';
import type { NatsConnection } from '@nats-io/transport-node';
import { createTestLogger } from '../../src/core/logger.js';
import type { Bus } from '../../src/solution/bus.js';
import { BusDirectory, type FailoverAnnouncement } from '../../src/solution/directory.js';

type Callback = (err: Error | null, msg: { json<T>(): T }) => void;

/** The part of a NATS connection the directory uses: heartbeats delivered by `hear`. */
function fakeBus() {
  let callback: Callback | undefined;
  const nc = {
    subscribe: (_subject: string, o: { callback: Callback }) => {
      callback = o.callback;
      return { unsubscribe: () => (callback = undefined) };
    },
    publish: () => {},
  } as unknown as NatsConnection;
  const bus = { onConnected: (fn: (c: NatsConnection) => void) => fn(nc), connection: nc, state: 'connected' } as unknown as Bus;
  const hear = (node: string, role: string, users: string[], failover?: FailoverAnnouncement) =>
    callback?.(null, { json: <T>() => ({ node, role, revision: 1, users, failover }) as T });
  return { bus, hear };
}

const OWNERS: Record<string, { node: string; kind: 'user' | 'huntGroup' }> = {
  '201': { node: 'pri', kind: 'user' },
  '202': { node: 'pri', kind: 'user' },
  '250': { node: 'sec', kind: 'user' },
  '301': { node: 'exp1', kind: 'user' },
  '600': { node: 'pri', kind: 'huntGroup' },
};

function directoryOn(self: string, role: string, mine: () => FailoverAnnouncement | undefined, holdDownMs = 5000) {
  const { bus, hear } = fakeBus();
  const d = new BusDirectory({
    bus, self: { name: self, role }, heartbeatMs: holdDownMs / 5, holdDownMs,
    registered: () => [], revision: () => 1, logger: createTestLogger('error'),
    failover: () => mine() ?? { sees: [], serving: [], home: 'serving', caughtUp: true },
    owner: (n) => OWNERS[n],
  });
  d.start();
  return { d, hear };
}

const serving = (nodes: string[]): FailoverAnnouncement => ({ sees: [], serving: nodes, home: 'serving', caughtUp: true });

test("on an expansion: the primary's users and hunt groups follow the secondary while it serves them, then return home", (t) => {
  const { d, hear } = directoryOn('exp1', 'expansion', () => undefined);
  t.teardown(() => d.close());
  hear('pri', 'primary', ['201']);
  hear('sec', 'secondary', ['250']);
  t.is(d.servingNode('201'), 'pri');
  t.is(d.servingNode('600'), 'pri');
  t.is(d.servedBy('pri'), 'pri');

  hear('sec', 'secondary', ['250', '201'], serving(['pri']));
  t.is(d.servingNode('201'), 'sec');
  t.is(d.servingNode('202'), 'sec', 'a user of the primary with no phone registered is served by the backup too');
  t.is(d.servingNode('600'), 'sec', "the primary's hunt group follows the primary's backup");
  t.is(d.servedBy('pri'), 'sec');
  t.is(d.servingNode('250'), 'sec');
  t.is(d.servingNode('301'), 'exp1');
  t.is(d.servingNode('999'), undefined);

  hear('sec', 'secondary', ['250'], serving([]));
  t.is(d.servingNode('201'), 'pri');
  t.is(d.servingNode('600'), 'pri');
});

test("on the backup itself: its own announcement says it serves the primary's users", (t) => {
  let mine = serving([]);
  const { d, hear } = directoryOn('sec', 'secondary', () => mine);
  t.teardown(() => d.close());
  hear('exp1', 'expansion', ['301']);
  t.is(d.servingNode('201'), 'pri');
  mine = serving(['pri']);
  t.is(d.servingNode('201'), 'sec');
  t.is(d.servingNode('600'), 'sec');
  t.is(d.servingNode('301'), 'exp1');
});

test('without failover: a phone registered away from its home node is served where it is registered', (t) => {
  const { d, hear } = directoryOn('pri', 'primary', () => undefined);
  t.teardown(() => d.close());
  hear('exp1', 'expansion', ['201']);
  t.is(d.servingNode('201'), 'exp1');
  t.is(d.servingNode('301'), 'exp1');
  hear('exp1', 'expansion', []);
  t.is(d.servingNode('201'), 'pri');
});

test("a backup late with its heartbeat still serves the users of a home node not heard either; the home node heard again, they are served there", async (t) => {
  const { d, hear } = directoryOn('pri', 'primary', () => undefined, 200);
  t.teardown(() => d.close());
  hear('exp1', 'expansion', ['301']);
  hear('sec', 'secondary', [], serving(['exp1']));
  t.is(d.servingNode('301'), 'sec');
  // neither heard for longer than the hold-down: the backup's last word stands (exp1 is the one that failed)
  await new Promise((r) => setTimeout(r, 300));
  t.false(d.isUp('sec'));
  t.is(d.servingNode('301'), 'sec');
  // the home node heard again while the backup is still silent: home
  hear('exp1', 'expansion', ['301']);
  t.is(d.servingNode('301'), 'exp1');
  // a backup that never said it serves them is no way to them
  await new Promise((r) => setTimeout(r, 300));
  hear('sec', 'secondary', [], serving([]));
  await new Promise((r) => setTimeout(r, 300));
  t.is(d.servingNode('301'), 'exp1');
});
