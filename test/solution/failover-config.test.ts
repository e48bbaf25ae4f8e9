/**
 * The failover keys of a solution document: a bad backup or failover setting names its path and
 * the problem, and a backup must hold the standby registrations of the users it backs up.
 */
import test from 'ava';
import { parseConfig } from '../../src/core/config/index.js';
import { backupOf } from '../../src/solution/backup.js';
import { problemsOf } from '../helpers/config.js';

const doc = (o: { backup?: string; extra?: string; users?: string } = {}) => `
nodes:
  - { name: pri, role: primary, profile: DL360, address: 127.0.0.1 }
  - { name: sec, role: secondary, profile: DL120, address: 127.0.0.2 }
  - { name: exp1, role: expansion, profile: ExpansionL, address: 127.0.0.3${o.backup ? `, backup: ${o.backup}` : ''} }
users:
  - { extension: "201", password: demo201, node: pri }
  - { extension: "301", password: demo301, node: exp1 }
${o.users ?? ''}
${o.extra ?? ''}
`;

test('each node has a default backup: the other core; an expansion the one it names', (t) => {
  const c = parseConfig(doc({ backup: 'sec' }));
  t.is(backupOf(c.nodes, 'pri'), 'sec');
  t.is(backupOf(c.nodes, 'sec'), 'pri');
  t.is(backupOf(c.nodes, 'exp1'), 'sec');
  t.is(backupOf(parseConfig(doc()).nodes, 'exp1'), undefined);
  t.like(c.failover, { enabled: true, stableSeconds: 60, startGraceSeconds: 20 });
  t.like(c.bus, { heartbeatSeconds: 0.5, holdDownSeconds: 2 });
});

test('a backup that is no core, the node itself or unknown is refused by path', (t) => {
  t.deepEqual(problemsOf(doc({ backup: 'nowhere' })), ['nodes[2].backup: no node named nowhere (nodes: pri, sec, exp1)']);
  t.deepEqual(problemsOf(doc({ backup: 'exp1' })), ['nodes[2].backup: a node cannot back itself up']);
});

test('a backup holds at most its profile of standby registrations', (t) => {
  // the DL120 secondary backs up the primary's users: 250 at most
  const many = Array.from({ length: 250 }, (_, i) => `  - { extension: "${4000 + i}", password: pw-${4000 + i}, node: pri }`).join('\n');
  t.deepEqual(problemsOf(doc({ users: many })), ['nodes[1]: it backs up 251 users, the DL120 profile holds 250 standby registrations']);
});

test('failover and hold-down settings out of range name their path', (t) => {
  const problems = problemsOf(doc({ extra: 'failover: { stableSeconds: -1, bogus: 1 }\nbus: { holdDownSeconds: 0.1 }' }));
  t.true(problems.some((p) => p.startsWith('failover.stableSeconds: must be a number of seconds 0..3600')), problems.join('\n'));
  t.true(problems.some((p) => p.startsWith('bus.holdDownSeconds: must be a number of seconds 0.5..600')), problems.join('\n'));
  t.true(problems.some((p) => p.includes('bogus')), problems.join('\n'));
});
