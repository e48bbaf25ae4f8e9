import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, problemsOf } from '../helpers/config.js';
import { ConfigError } from '../../src/core/config/index.js';
import { nodeView, solutionFromRaw, solutionFromText } from '../../src/solution/document.js';
import { DocumentValidator } from '../../src/solution/validator.js';
import { assembleDocument, digest, splitDocument, type Manifest } from '../../src/solution/entries.js';

/** A solution document: `nodes` YAML lines and users/extra sections. */
function doc(o: { nodes?: string[]; users?: string[]; extra?: string } = {}): string {
  const nodes = o.nodes ?? [
    '  - { name: pri, role: primary, profile: DL360, address: 127.0.0.11 }',
    '  - { name: sec, role: secondary, profile: DL120, address: 127.0.0.12 }',
    '  - { name: exp1, role: expansion, profile: ExpansionL, address: 127.0.0.13 }',
  ];
  const users = o.users ?? ['  - { extension: "201", password: secret201 }', '  - { extension: "301", password: secret301, node: exp1 }'];
  return ['nodes:', ...nodes, users.length === 0 ? 'users: []' : 'users:', ...users, o.extra ?? ''].join('\n');
}

const expansions = (n: number, from = 1) => Array.from({ length: n }, (_, i) => `  - { name: e${from + i}, role: expansion, profile: DL120, address: 127.0.1.${from + i} }`);
const users = (n: number, node?: string, from = 1000) =>
  Array.from({ length: n }, (_, i) => `  - { extension: "${from + i}", password: pw-${from + i}${node ? `, node: ${node}` : ''} }`);

test('a 3-node solution document is valid and each node derives its own view', (t) => {
  t.deepEqual(problemsOf(doc()), []);
  const sol = solutionFromText(
    doc({
      extra: `huntGroups:\n  - { extension: "500", members: ["201", "301"] }
trunks:
  - { name: c1, lineGroup: 1, type: peer, host: 127.0.0.99, node: exp1 }
calls: { ringTimeoutSeconds: 30 }`,
      nodes: [
        '  - { name: pri, role: primary, profile: DL360, address: 127.0.0.11 }',
        '  - { name: exp1, role: expansion, profile: ExpansionL, address: 127.0.0.13, sip: { port: 5070 }, overrides: { calls: { ringTimeoutSeconds: 20 } } }',
      ],
    }),
    'sol.yaml',
  );
  const pri = nodeView(sol, 'pri');
  const exp = nodeView(sol, 'exp1');
  t.deepEqual(pri.node, { name: 'pri', role: 'primary', profile: 'DL360' });
  t.deepEqual(pri.users.map((u) => u.extension), ['201']);
  t.deepEqual(exp.users.map((u) => u.extension), ['301']);
  t.deepEqual(pri.huntGroups.map((g) => g.extension), ['500'], 'hunt groups run on the primary');
  t.deepEqual(exp.huntGroups, []);
  t.deepEqual(exp.trunks.map((x) => x.name), ['c1']);
  t.deepEqual(pri.trunks, []);
  t.is(pri.calls.ringTimeoutSeconds, 30);
  t.is(exp.calls.ringTimeoutSeconds, 20, 'the override is merged for that node only');
  t.deepEqual(exp.sip.listen.map((l) => `${l.transport} ${l.address}:${l.port}`), ['udp 127.0.0.13:5070', 'tcp 127.0.0.13:5070']);
  t.is(exp.media.address, '127.0.0.13');
  t.is(exp.storage.path, join('var', 'exp1', 'pbx.sqlite'));
  t.throws(() => nodeView(sol, 'nope'), { instanceOf: TypeError, message: /node: no node named "nope"/ });
});

test('the node roles are checked: exactly one primary, at most one secondary of its family, at most 30 expansions and 32 nodes', (t) => {
  t.true(problemsOf(doc({ nodes: ['  - { name: a, role: expansion, profile: DL120, address: 127.0.0.1 }'], users: [] })).includes('nodes: no primary (exactly one node must have role primary)'));
  t.true(
    problemsOf(doc({ nodes: ['  - { name: a, role: primary, profile: DL360, address: 127.0.0.1 }', '  - { name: b, role: primary, profile: DL360, address: 127.0.0.2 }'], users: [] })).includes(
      'nodes[1].role: a second primary (nodes[0] is the primary; a solution has exactly one)',
    ),
  );
  const twoSecondaries = [
    '  - { name: a, role: primary, profile: DL360, address: 127.0.0.1 }',
    '  - { name: b, role: secondary, profile: DL360, address: 127.0.0.2 }',
    '  - { name: c, role: secondary, profile: DL120, address: 127.0.0.3 }',
  ];
  t.true(problemsOf(doc({ nodes: twoSecondaries, users: [] })).includes('nodes[2].role: a second secondary (nodes[1] is the secondary; a solution has at most 1)'));
  const family = ['  - { name: a, role: primary, profile: DL360, address: 127.0.0.1 }', '  - { name: b, role: secondary, profile: IP500V2, address: 127.0.0.2 }'];
  t.true(problemsOf(doc({ nodes: family, users: [] })).includes("nodes[1].profile: a secondary must be of the primary's platform family (DL360 is linux, IP500V2 is ip500)"));
  t.true(problemsOf(doc({ nodes: ['  - { name: a, role: primary, profile: ExpansionL, address: 127.0.0.1 }'], users: [] })).includes('nodes[0].profile: ExpansionL serves only as expansion, not as primary'));

  const primary = '  - { name: p, role: primary, profile: DL360, address: 127.0.0.1 }';
  const secondary = '  - { name: s, role: secondary, profile: DL360, address: 127.0.0.2 }';
  t.deepEqual(problemsOf(doc({ nodes: [primary, secondary, ...expansions(30)], users: [] })), [], '32 nodes: 1 + 1 + 30');
  t.true(problemsOf(doc({ nodes: [primary, ...expansions(31)], users: [] })).includes('nodes: 31 expansions, the limit is 30'));
  const p33 = problemsOf(doc({ nodes: [primary, secondary, ...expansions(31)], users: [] }));
  t.true(p33.includes('nodes: 33 nodes, the solution limit is 32'), p33.join('\n'));
  t.true(problemsOf(doc({ nodes: [primary, primary.replace('127.0.0.1', '127.0.0.9')], users: [] })).includes('nodes[1].name: duplicate of nodes[0]'));
});

test('users: 1000 in the solution, each node within its profile, the home node exists, numbers unique', (t) => {
  const nodes = [
    '  - { name: pri, role: primary, profile: DL360, address: 127.0.0.1 }',
    '  - { name: e1, role: expansion, profile: ExpansionL, address: 127.0.0.2 }',
    '  - { name: e2, role: expansion, profile: IP500V2, address: 127.0.0.3 }',
    '  - { name: e3, role: expansion, profile: DL120, address: 127.0.0.4 }',
  ];
  const full = [...users(500, 'pri', 1000), ...users(250, 'e1', 2000), ...users(250, 'e3', 3000)];
  t.deepEqual(problemsOf(doc({ nodes, users: full, extra: 'voicemail: { mailboxQuotaMinutes: 60 }' })), [], '1000 users, each node at its profile');
  const p1001 = problemsOf(doc({ nodes, users: [...full, ...users(1, 'e2', 4000)] }));
  t.true(p1001.includes('users: 1001 users exceed the solution limit of 1000'), p1001.join('\n'));
  t.true(problemsOf(doc({ nodes, users: users(251, 'e1') })).includes('nodes[1]: 251 users have their home here, the ExpansionL profile allows 250'));
  t.true(problemsOf(doc({ nodes, users: users(385, 'e2') })).includes('nodes[2]: 385 users have their home here, the IP500V2 profile allows 384'));
  t.true(problemsOf(doc({ nodes, users: users(501) })).includes('nodes[0]: 501 users have their home here, the DL360 profile allows 500'), 'users without node: are the primary\'s');
  t.true(problemsOf(doc({ nodes, users: ['  - { extension: "201", password: secret201, node: e9 }'] })).includes('users[0].node: no node named e9 (nodes: pri, e1, e2, e3)'));
  t.true(
    problemsOf(doc({ nodes, users: ['  - { extension: "201", password: secret201, node: e1 }', '  - { extension: "201", password: secret202, node: e2 }'] })).includes(
      'users[1].extension: duplicate of users[0]',
    ),
    'numbers are unique across nodes',
  );
  t.true(problemsOf(doc({ extra: 'huntGroups:\n  - { extension: "301" }' })).includes("huntGroups[0].extension: 301 is a user's extension"));
  t.true(problemsOf(doc({ extra: 'trunks:\n  - { name: c1, lineGroup: 1, type: peer, host: 127.0.0.9, node: e7 }' })).includes('trunks[0].node: no node named e7 (nodes: pri, sec, exp1)'));
});

test('hunt groups and mailboxes: 200 groups, 500 members each, 2000 memberships, 1000 mailboxes', (t) => {
  const nodes = ['  - { name: pri, role: primary, profile: DL360, address: 127.0.0.1 }', '  - { name: e1, role: expansion, profile: DL120, address: 127.0.0.2 }'];
  const spread = [...users(500, 'pri', 1000), ...users(100, 'e1', 1500)].map((l) => l.replace(' }', ', voicemail: { enabled: false } }'));
  const members = (n: number) => `[${Array.from({ length: n }, (_, i) => `"${1000 + i}"`).join(', ')}]`;
  const groups = (n: number, size: number) => `huntGroups:\n${Array.from({ length: n }, (_, i) => `  - { extension: "${5000 + i}", members: ${members(size)}, voicemail: { enabled: false } }`).join('\n')}`;
  t.deepEqual(problemsOf(doc({ nodes, users: spread, extra: groups(4, 500) })), [], '2000 memberships');
  t.true(problemsOf(doc({ nodes, users: spread, extra: groups(1, 501) })).includes('huntGroups[0].members: 501 members, the limit is 500 per group'));
  t.true(problemsOf(doc({ nodes, users: spread, extra: groups(5, 401) })).includes('huntGroups: 2005 memberships in all, the limit is 2000'));
  t.true(problemsOf(doc({ nodes, users: spread, extra: groups(201, 1) })).includes('huntGroups: 201 hunt groups, the solution limit is 200'));
  const withBoxes = [...users(500, undefined, 1000), ...users(250, 'e1', 2000), ...users(250, 'e1', 3000).map((l) => l.replace('e1', 'e2'))];
  const three = [...nodes, '  - { name: e2, role: expansion, profile: DL120, address: 127.0.0.3 }'];
  const mailboxes = problemsOf(doc({ nodes: three, users: withBoxes, extra: 'huntGroups:\n  - { extension: "5000", members: ["1000"] }' }));
  t.true(mailboxes.includes('users: 1001 mailboxes of users and hunt groups, the solution limit is 1000 (voicemail: { enabled: false } frees one)'), mailboxes.join('\n'));
});

test('an IP500 V2 node has no voicemail, in a solution and on its own', (t) => {
  const nodes = ['  - { name: pri, role: primary, profile: DL360, address: 127.0.0.1 }', '  - { name: v2, role: expansion, profile: IP500V2, address: 127.0.0.2, overrides: { voicemail: { channels: 4 } } }'];
  t.true(problemsOf(doc({ nodes, users: [] })).includes('nodes[1].overrides.voicemail.channels: an IP500V2 node has no voicemail (nodes[1])'));
  t.true(problemsOf('node: { profile: IP500V2 }\nvoicemail: { channels: 2 }\n').includes('voicemail.channels: an IP500V2 node has no voicemail'));
  t.deepEqual(problemsOf('node: { profile: IP500V2 }\n'), []);
});

test('per-node settings: named at their path, solution-wide keys refused in overrides, per-node keys refused at the top', (t) => {
  const nodes = ['  - { name: pri, role: primary, profile: DL360, address: 127.0.0.1, overrides: { calls: { ringTimeoutSeconds: 1 }, conference: { rooms: [] }, sip: { lisen: [] }, users: [] } }'];
  const p = problemsOf(doc({ nodes, users: [], extra: 'sip: { listen: [{ transport: udp, address: 127.0.0.1, port: 5060 }] }\nstorage: { path: x.sqlite }\nnode: { name: a }' }));
  for (const want of [
    'nodes[0].overrides.calls.ringTimeoutSeconds: must be an integer 5..600',
    'nodes[0].overrides.conference.rooms: solution-wide, set it at the top level (conference.rooms)',
    'nodes[0].overrides.sip.lisen: unknown key',
    'nodes[0].overrides.users: unknown key',
    'sip.listen: per node in a solution: nodes[].sip, or nodes[].overrides.sip.listen',
    'storage: per node in a solution: nodes[].dataDir, or nodes[].overrides.storage',
    'node: a solution names its nodes in nodes: and starts one with --node NAME',
  ]) {
    t.true(p.includes(want), `${want}\nnot in:\n${p.join('\n')}`);
  }
  const shared = ['  - { name: a, role: primary, profile: DL360, address: 127.0.0.1 }', '  - { name: b, role: expansion, profile: DL120, address: 127.0.0.1 }'];
  t.true(problemsOf(doc({ nodes: shared, users: [] })).includes('nodes[1].sip.port: 127.0.0.1 port 5060 is already taken by nodes[0]'));
});

test('a solution on the network: no demo passwords, and the bus needs a password', (t) => {
  const nodes = ['  - { name: pri, role: primary, profile: DL360, address: 10.16.9.1 }'];
  const p = problemsOf(doc({ nodes, users: ['  - { extension: "201", password: demo201 }'] }));
  t.true(p.includes('bus.password: required when a node is not on loopback (nodes[0] is at 10.16.9.1)'));
  t.true(p.includes('users[0].password: demo passwords are only allowed when every node is on loopback (nodes[0] is at 10.16.9.1)'));
  t.deepEqual(problemsOf(doc({ nodes, users: ['  - { extension: "201", password: s3cret-201 }'], extra: 'bus: { password: bus-s3cret }' })), []);
});

test('a document goes onto the bus as one entry per object and comes back whole only when every entry matches the manifest', (t) => {
  const sol = solutionFromText(doc({ extra: 'huntGroups:\n  - { extension: "500", members: ["201"] }\ndialPlan: { shortCodes: [] }' }), 'sol.yaml');
  const { entries, hash } = splitDocument(sol.raw as Record<string, unknown>);
  t.true(entries.has('users.201') && entries.has('users.301') && entries.has('nodes.exp1') && entries.has('huntGroups.500'));
  const manifest: Manifest = { revision: 1, hash, order: [...entries.keys()], digests: Object.fromEntries([...entries].map(([k, v]) => [k, digest(v)])), publisher: 'pri', publishedAt: '' };
  const back = assembleDocument(manifest, entries)!;
  const again = solutionFromText(JSON.stringify(back), 'back');
  t.is(again.hash, sol.hash);
  t.deepEqual(again.config, sol.config, 'the same document, with its empty short code list kept');
  const partial = new Map(entries);
  partial.set('users.301', partial.get('users.201')!);
  t.is(assembleDocument(manifest, partial), undefined, 'an entry that differs from the manifest');
  partial.delete('users.301');
  t.is(assembleDocument(manifest, partial), undefined, 'a missing entry');
});

test('pbx check validates a solution and prints each node against its profile; a refused one names the path', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pbx-sol-'));
  writeFileSync(join(dir, 'ok.yaml'), doc());
  const ok = await cli('check', join(dir, 'ok.yaml'));
  t.is(ok.code, 0, ok.stderr);
  t.regex(ok.stdout, /solution: 3\/32 nodes \(1 primary, 1 secondary, 1 expansions\), 2\/1000 users/);
  t.regex(ok.stdout, /exp1: expansion, ExpansionL, 127\.0\.0\.13, 1\/250 users/);
  writeFileSync(join(dir, 'bad.yaml'), doc({ users: ['  - { extension: "201", password: secret201, node: nowhere }'] }));
  const bad = await cli('check', join(dir, 'bad.yaml'));
  t.is(bad.code, 1);
  t.regex(bad.stderr, /users\[0\]\.node: no node named nowhere \(nodes: pri, sec, exp1\)/);
  const noNode = await cli('start', '--config', join(dir, 'ok.yaml'));
  t.is(noNode.code, 2);
  t.regex(noNode.stderr, /--node: .* is a solution: name the node to start \(pri, sec, exp1\)/);
});

test('a document from the bus validates the same with the users of the last revision reused', (t) => {
  const sol = solutionFromText(doc({ users: users(200, 'exp1') }), 'sol.yaml');
  const validator = new DocumentValidator();
  const first = solutionFromRaw(structuredClone(sol.raw), 'rev 1', { validator });
  t.deepEqual(first.config, sol.config);
  const raw = structuredClone(sol.raw) as { users: Record<string, unknown>[] };
  raw.users[5] = { ...raw.users[5], password: 'changed-5' };
  const second = solutionFromRaw(raw, 'rev 2', { validator });
  t.is(second.config.users[5]!.password, 'changed-5');
  t.is(second.config.users[6], first.config.users[6], 'an unchanged user is the parsed object of the last revision');
  const bad = structuredClone(sol.raw) as { users: Record<string, unknown>[] };
  bad.users[7] = { ...bad.users[7], password: 'x' };
  bad.users[8] = { ...bad.users[8], node: 'nowhere' };
  const err = t.throws(() => solutionFromRaw(bad, 'rev 3', { validator }), { instanceOf: ConfigError });
  t.deepEqual(err.problems, ['users[7].password: must be a string of 4..64 characters', 'users[8].node: no node named nowhere (nodes: pri, sec, exp1)']);
});

test('a node runs no more channels than its profile: pbx check refuses an override, a top-level count or a trunk above it, by path', async (t) => {
  const nodes = [
    '  - { name: pri, role: primary, profile: DL360, address: 127.0.0.11, overrides: { calls: { maxChannels: 256 } } }',
    '  - { name: e1, role: expansion, profile: DL120, address: 127.0.0.13, overrides: { calls: { maxChannels: 129 }, conference: { maxParties: 65 } } }',
    '  - { name: e2, role: expansion, profile: ExpansionL, address: 127.0.0.14 }',
  ];
  const extra = `conference: { maxChannels: 200 }
trunks:
  - { name: c1, lineGroup: 1, type: peer, host: 127.0.0.99, node: e2, maxChannels: 129 }
  - { name: c2, lineGroup: 2, type: peer, host: 127.0.0.98, maxChannels: 256 }`;
  const dir = mkdtempSync(join(tmpdir(), 'pbx-channels-24-'));
  writeFileSync(join(dir, 'raised.yaml'), doc({ nodes, users: [], extra }));
  const r = await cli('check', join(dir, 'raised.yaml'));
  t.is(r.code, 1, r.stdout);
  const lines = r.stderr.split('\n').map((l) => l.trim().replace(/^- /, ''));
  for (const p of [
    "nodes[1].overrides.calls.maxChannels: 129 is above the DL120 profile's 128 relayed calls (trunk channels) (node e1)",
    "nodes[1].overrides.conference.maxParties: 65 is above the DL120 profile's 64 parties in one conference (node e1)",
    'conference.maxChannels: 200 is above the conference channels of nodes[0] pri (DL360: 128), nodes[1] e1 (DL120: 128), nodes[2] e2 (ExpansionL: 128); set it per node in nodes[].overrides.conference',
    "trunks[0].maxChannels: 129 is above the ExpansionL profile's 128 SIP trunk channels (node e2)",
  ]) {
    t.true(lines.includes(p), `${p}\nnot in:\n${r.stderr}`);
  }
  t.false(r.stderr.includes('nodes[0].overrides.calls'), "the primary's 256 is its DL360 profile's");
  t.false(r.stderr.includes('trunks[1]'), "a trunk without node: is on the primary, a DL360 (256)");
  // at the profiles' figures the document is accepted
  writeFileSync(join(dir, 'ok.yaml'), doc({ nodes: nodes.map((n) => n.replace('129', '128').replace('65', '64')), users: [], extra: extra.replace('maxChannels: 200', 'maxChannels: 128').replace('maxChannels: 129', 'maxChannels: 128') }));
  const ok = await cli('check', join(dir, 'ok.yaml'));
  t.is(ok.code, 0, ok.stderr);
});
