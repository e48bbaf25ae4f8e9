/**
 * Per-object validation of the revisions a node applies (src/solution/validator.ts): what is
 * validated again for each kind of change, what is refused and with which path, and that the
 * outcome is always validateConfig's.
 */
import test from 'ava';
import { parse } from 'yaml';
import { ConfigError, validateConfig } from '../../src/core/config/index.js';
import { CROSS_CHECKS } from '../../src/core/config/checks.js';
import type { Raw } from '../../src/core/config/fields.js';
import { solutionFromRaw } from '../../src/solution/document.js';
import { assembleDocument, digest, splitDocument, type EntryCache, type Manifest } from '../../src/solution/entries.js';
import { DocumentValidator } from '../../src/solution/validator.js';

const NODES = [
  '  - { name: pri, role: primary, profile: DL360, address: 127.0.0.11 }',
  '  - { name: sec, role: secondary, profile: DL360, address: 127.0.0.12 }',
  '  - { name: e1, role: expansion, profile: DL120, address: 127.0.0.13 }',
  '  - { name: e2, role: expansion, profile: DL120, address: 127.0.0.14 }',
];

/** A 4-node document with 40 users; `o` changes one thing. */
function doc(o: { ring?: number; password?: [number, string]; extraUser?: string; nodes?: string[]; extra?: string } = {}): Raw {
  const users = Array.from({ length: 40 }, (_, u) => {
    const pw = o.password?.[0] === u ? o.password[1] : `pw-${1000 + u}`;
    return `  - { extension: "${1000 + u}", password: ${pw}, node: ${['pri', 'e1', 'e2'][u % 3]} }`;
  });
  if (o.extraUser) users.push(o.extraUser);
  return parse(`bus: { password: bus-test-24 }
calls: { ringTimeoutSeconds: ${o.ring ?? 30} }
huntGroups:
  - { extension: "500", members: ["1000", "1001"] }
nodes:
${(o.nodes ?? NODES).join('\n')}
users:
${users.join('\n')}
${o.extra ?? ''}
`) as Raw;
}

/** The document as a follower assembles it from bus entries: unchanged entries are the same objects. */
function viaBus(raw: Raw, cache: EntryCache): Raw {
  const { entries, hash } = splitDocument(raw);
  const digests = new Map([...entries].map(([k, v]) => [k, digest(v)]));
  const m: Manifest = { revision: 1, hash, order: [...entries.keys()], digests: Object.fromEntries(digests), publisher: 'pri', publishedAt: '' };
  return assembleDocument(m, entries, digests, cache)!;
}

function problems(f: () => unknown): string[] {
  try {
    f();
  } catch (e) {
    if (e instanceof ConfigError) return [...e.problems];
    throw e;
  }
  return [];
}

test('a section change validates that section and runs only the checks that read it', (t) => {
  const v = new DocumentValidator();
  const cache: EntryCache = new Map();
  const first = v.validate(viaBus(doc(), cache), 'rev 1');
  t.true(first.parsed.includes('users[1000]') && first.parsed.includes('calls'), 'the first document is validated whole');
  const next = v.validate(viaBus(doc({ ring: 45 }), cache), 'rev 2');
  t.deepEqual(next.parsed, ['calls']);
  t.deepEqual(next.checks, ['calls', 'overrides', 'channels']);
  t.is(next.config.calls.ringTimeoutSeconds, 45);
  t.is(next.config.users, first.config.users, 'the users are the last revision\'s, not parsed again');
  t.is(next.config.nodes, first.config.nodes);
  t.deepEqual(next.config, validateConfig(doc({ ring: 45 }), 'x'), 'the same configuration as validating the whole');
});

test('a user change validates that user, and the checks across users (numbers, homes, capacity) run', (t) => {
  const v = new DocumentValidator();
  const cache: EntryCache = new Map();
  const first = v.validate(viaBus(doc(), cache), 'rev 1');
  const next = v.validate(viaBus(doc({ password: [7, 'changed-7'] }), cache), 'rev 2');
  t.deepEqual(next.parsed, ['users[1007]']);
  t.true(next.checks.includes('users') && next.checks.includes('homes') && next.checks.includes('huntGroups'), next.checks.join());
  t.false(next.checks.includes('nodes') || next.checks.includes('listen'), 'checks that read no user do not run');
  t.is(next.config.users[7]!.password, 'changed-7');
  t.is(next.config.users[8], first.config.users[8], 'an unchanged user is the parsed object of the last revision');
  t.is(next.config.calls, first.config.calls);
  // the same document from a file (no shared objects): recognised by content
  const again = v.validate(doc({ password: [7, 'changed-7'] }), 'rev 3');
  t.deepEqual(again.parsed, []);
  t.deepEqual(again.config, next.config);
});

test('a bad object is refused with its path; the next revision is validated against the last accepted one', (t) => {
  const v = new DocumentValidator();
  const cache: EntryCache = new Map();
  v.validate(viaBus(doc(), cache), 'rev 1');
  t.deepEqual(problems(() => v.validate(viaBus(doc({ password: [3, 'x'] }), cache), 'rev 2')), ['users[3].password: must be a string of 4..64 characters']);
  // an object valid alone that breaks a check across objects: a number taken, a home that is gone
  t.deepEqual(problems(() => v.validate(viaBus(doc({ extraUser: '  - { extension: "1004", password: pw-dup, node: e1 }' }), cache), 'rev 3')), ['users[40].extension: duplicate of users[4]']);
  const withoutE2 = problems(() => v.validate(viaBus(doc({ nodes: NODES.slice(0, 3) }), cache), 'rev 4'));
  t.true(withoutE2.includes('users[2].node: no node named e2 (nodes: pri, sec, e1)'), withoutE2.join('\n'));
  t.true(problems(() => v.validate(viaBus(doc({ ring: 2 }), cache), 'rev 5'))[0]!.startsWith('calls.ringTimeoutSeconds: '));
  // none of them became the reference: a good change is compared with revision 1
  const ok = v.validate(viaBus(doc({ password: [5, 'changed-5'] }), cache), 'rev 6');
  t.deepEqual(ok.parsed, ['users[1005]']);
  t.is(ok.config.users[3]!.password, 'pw-1003');
  t.is(ok.config.calls.ringTimeoutSeconds, 30);
});

test('a node raising a channel count above its profile is refused live with the path, like pbx check', (t) => {
  const v = new DocumentValidator();
  v.validate(doc(), 'rev 1');
  const raised = NODES.map((n) => n.replace('address: 127.0.0.13 }', 'address: 127.0.0.13, overrides: { conference: { maxChannels: 200 }, voicemail: { channels: 41 } } }'));
  const refused = problems(() => solutionFromRaw(doc({ nodes: raised }), 'bus revision 2', { validator: v }));
  t.deepEqual(refused, [
    "nodes[2].overrides.conference.maxChannels: 200 is above the DL120 profile's 128 conference channels (node e1)",
    "nodes[2].overrides.voicemail.channels: 41 is above the DL120 profile's 40 voicemail channels (node e1)",
  ]);
  t.deepEqual(problems(() => validateConfig(doc({ nodes: raised }), 'x')), refused, 'the same problems as validating the whole');
  // at the profile's figure it is accepted
  const atProfile = NODES.map((n) => n.replace('address: 127.0.0.13 }', 'address: 127.0.0.13, overrides: { conference: { maxChannels: 128 }, voicemail: { channels: 40 } } }'));
  t.notThrows(() => solutionFromRaw(doc({ nodes: atProfile }), 'bus revision 3', { validator: v }));
});

test('each check across fields reads only the top-level keys it names (what lets a node skip it)', (t) => {
  const docs = [
    doc({ nodes: NODES.map((n) => n.replace(' }', ', overrides: { calls: { maxChannels: 5 }, conference: { maxParties: 8 }, voicemail: { channels: 2 }, media: { portMin: 41000 } } }')), extra: 'trunks:\n  - { name: c1, lineGroup: 1, type: peer, host: 192.0.2.1, node: e1, maxChannels: 4 }\ndialPlan:\n  shortCodes:\n    - { code: "9N", feature: dial, number: N, lineGroup: 1 }' }),
    parse('users:\n  - { extension: "201", password: demo201 }\nsip: { listen: [{ transport: udp, address: 192.0.2.5, port: 5060 }] }\ncdr: { smdr: { enabled: true, port: 5060 } }\nnode: { profile: IP500V2 }\nvoicemail: { channels: 2 }\n') as Raw,
  ];
  for (const raw of docs) {
    for (const check of CROSS_CHECKS) {
      const read = new Set<string>();
      const watched = new Proxy(raw, {
        get: (target, key) => {
          if (typeof key === 'string') read.add(key);
          return Reflect.get(target, key);
        },
        has: (target, key) => {
          if (typeof key === 'string') read.add(key);
          return Reflect.has(target, key);
        },
      });
      check.run(watched);
      const unnamed = [...read].filter((k) => !check.reads.includes(k));
      t.deepEqual(unnamed, [], `check ${check.name} reads ${unnamed.join(', ')} without naming it`);
    }
  }
});
