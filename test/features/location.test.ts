// The registrar's location store tells its owner when a user becomes reachable or unreachable:
// in a solution, the other nodes must hear that at once (a hunt group on the primary offers a
// call to a member on an expansion only while it knows the member's phone is registered).
import test from 'ava';
import { LocationStore, type Binding } from '../../src/features/registrar/location.js';

const binding = (aor: string, contact: string, expiresAt: number): Binding => ({
  aor, contact, key: contact, callId: `c-${contact}`, cseq: 1, expiresAt, q: 1, path: [],
  source: { protocol: 'udp', address: '127.0.0.1', port: 5062 },
});

test('onPresence: a user\'s first binding and the loss of its last are announced, nothing in between', (t) => {
  let now = 1_000;
  const loc = new LocationStore(undefined, () => now);
  const seen: string[] = [];
  loc.onPresence = (aor, registered) => seen.push(`${aor}:${registered ? 'in' : 'out'}`);
  loc.save(binding('201', 'sip:201@127.0.0.1:5062', 60_000));
  loc.save(binding('201', 'sip:201@127.0.0.1:5064', 5_000)); // a second phone: no change of presence
  loc.save(binding('202', 'sip:202@127.0.0.1:5066', 60_000));
  t.deepEqual(seen, ['201:in', '202:in']);
  loc.remove('201', 'sip:201@127.0.0.1:5062');
  t.deepEqual(seen, ['201:in', '202:in'], 'one phone of 201 is still there');
  now = 10_000;
  loc.expire(); // the second phone's registration ran out
  t.deepEqual(seen, ['201:in', '202:in', '201:out']);
  t.false(loc.hasAor('201'));
  loc.close();
});
