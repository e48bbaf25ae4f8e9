import test from 'ava';
import { cli } from '../helpers/config.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';


const dir = mkdtempSync(join(tmpdir(), 'pbx-explain-'));
const config = join(dir, 'pbx.yaml');
writeFileSync(
  config,
  `users:
  - { extension: "201", password: s3cret-201 }
  - { extension: "205", password: s3cret-205, rights: local-only }
trunks:
  - { name: a, lineGroup: 1, type: peer, host: 192.0.2.1, numbering: { countryCode: "44", outgoing: e164 } }
  - { name: b, lineGroup: 2, type: peer, host: 192.0.2.2, allowTrunkToTrunk: true }
huntGroups:
  - { extension: "300", members: ["201"] }
dialPlan:
  timeProfiles:
    - { name: office, weekly: [{ days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:30" }] }
  shortCodes:
    - { code: "9N", feature: dial, number: N, ars: main }
    - { code: "9XXX", feature: busy }
    - { code: "*21*N", feature: forwardAll, number: N }
  callClasses:
    - { name: international, patterns: ["00N"] }
    - { name: national, patterns: ["0N"] }
  userRights:
    - { name: local-only, classes: [national] }
  arsForms:
    - name: main
      shortCodes:
        - { code: "0N", feature: dial, number: "0N", lineGroup: 1 }
        - { code: "0N", feature: dial, number: "90N", lineGroup: 2 }
  incomingCallRoutes:
    - { lineGroup: 1, incomingNumber: "4567", destinations: [{ timeProfile: office, destination: "201" }], destination: "205" }
    - { lineGroup: 1, incomingNumber: "7777", destination: "901234567" }
    - { lineGroup: 2, incomingNumber: "7777", destination: "901234567" }
`,
);

test('explain an outgoing call: short code, barring, ARS routes, one result line', async (t) => {
  const r = await cli('explain', '--config', config, '--from', '201', '--number', '901234567');
  t.is(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  t.regex(lines[0]!, /^dial: 901234567 dialled by 201/);
  t.true(lines.some((l) => /^shortcode: 901234567 matched system 9N/.test(l)));
  t.true(lines.some((l) => /^barring: .*class national/.test(l)));
  t.true(lines.some((l) => /^route: form main code 0N: 901234567 on line group 2/.test(l)));
  // each route names its trunks and the number as their numbering sends it
  t.is(lines.at(-1), 'result: 01234567 via ARS form main (class national): line group 1 (trunk a sends +441234567), then line group 2 (trunk b sends 901234567)');
  t.is(lines.filter((l) => l.startsWith('result:')).length, 1);
});

test('explain refused calls exits 1: barred, busy, incomplete', async (t) => {
  const barred = await cli('explain', '-c', config, '--from', '205', '--number', '90044123');
  t.is(barred.code, 1);
  t.regex(barred.stdout, /\nresult: barred: 403 Forbidden \(international calls are barred for 205\)\n$/);
  const busy = await cli('explain', '-c', config, '--from', '201', '--number', '9123');
  t.is(busy.code, 1);
  t.regex(busy.stdout, /result: busy/);
  const none = await cli('explain', '-c', config, '--from', '201', '--number', '*2');
  t.is(none.code, 1);
  t.regex(none.stdout, /result: incomplete \(484 Address Incomplete\)/);
});

test('explain an incoming call: route, time profile, then the destination dialled by the system', async (t) => {
  const day = await cli('explain', '-c', config, '--line-group', '1', '--number', '01234567', '--caller', '02079460000', '--at', '2026-11-25T10:00:00Z');
  t.is(day.code, 0, day.stderr);
  t.regex(day.stdout, /^incoming: call to 01234567 on line group 1 from caller 02079460000/);
  t.regex(day.stdout, /time: time profile office is active/);
  t.regex(day.stdout, /result: extension 201\n$/);
  const night = await cli('explain', '-c', config, '--line-group', '1', '--number', '01234567', '--withheld', '--at', '2026-11-25T20:00:00Z');
  t.is(night.code, 0);
  t.regex(night.stdout, /result: extension 205\n$/);
  const rejected = await cli('explain', '-c', config, '--line-group', '2', '--number', '555');
  t.is(rejected.code, 1);
  t.regex(rejected.stdout, /result: rejected/);
});

test('explain dials a hunt group\'s number as the live call does: an extension', async (t) => {
  const r = await cli('explain', '-c', config, '--from', '201', '--number', '300');
  t.is(r.code, 0, r.stdout);
  t.regex(r.stdout, /result: extension 300\n$/);
});

test('explain an incoming call that would leave by a trunk: refused where trunk-to-trunk is off, as the live call is', async (t) => {
  const off = await cli('explain', '-c', config, '--line-group', '1', '--number', '7777', '--caller', '02079460000');
  t.is(off.code, 1, off.stdout);
  t.regex(off.stdout, /trunk: trunk-to-trunk calls are off for trunk a \(line group 1\)/);
  t.regex(off.stdout, /result: refused: 403 Forbidden \(trunk-to-trunk calls are off for trunk a\)\n$/);
  const on = await cli('explain', '-c', config, '--line-group', '2', '--number', '7777', '--caller', '02079460000');
  t.is(on.code, 0, on.stdout);
  t.regex(on.stdout, /result: 01234567 via ARS form main \(class national\): line group 1 \(no trunk\), then line group 2 \(trunk b sends 901234567\)\n$/, 'only trunks that allow it carry it out');
});

test('explain usage errors exit 2', async (t) => {
  for (const args of [
    ['--number', '1'],
    ['--from', '201'],
    ['--from', '201', '--line-group', '1', '--number', '1'],
    ['--from', '201', '--number', '1', '--at', 'yesterday'],
    ['--from', '999', '--number', '1'],
    ['--line-group', '1', '--number', '1', '--caller', '1', '--withheld'],
  ]) {
    const r = await cli('explain', '-c', config, ...args);
    t.is(r.code, 2, args.join(' '));
    t.regex(r.stderr, /^pbx explain: .*\nusage: pbx explain/, args.join(' '));
  }
});

const solution = join(dir, 'solution.yaml');
writeFileSync(
  solution,
  `nodes:
  - { name: pri, role: primary, profile: DL360, address: 127.0.0.11 }
  - { name: sec, role: secondary, profile: DL360, address: 127.0.0.12 }
  - { name: exp1, role: expansion, profile: DL120, address: 127.0.0.13 }
  - { name: exp2, role: expansion, profile: DL120, address: 127.0.0.14 }
users:
  - { extension: "201", password: s3cret-201 }
  - { extension: "301", password: s3cret-301, node: exp1 }
  - { extension: "401", password: s3cret-401, node: exp2 }
huntGroups:
  - { extension: "500", members: ["201", "301"] }
trunks:
  - { name: carrier, lineGroup: 1, type: peer, host: 192.0.2.1, node: exp1 }
dialPlan:
  shortCodes:
    - { code: "9N", feature: dial, number: N, lineGroup: 1 }
  incomingCallRoutes:
    - { lineGroup: 1, incomingNumber: "4567", destination: "201" }
`,
);

test('explain on a solution document, offline: the node that serves the number and the links the call takes, as a running node explains it', async (t) => {
  const toPri = await cli('explain', '-c', solution, '--from', '301', '--number', '201');
  t.is(toPri.code, 0, toPri.stderr);
  t.regex(toPri.stdout, /^node: exp1 \(from the document/, "the caller's home node explains by default");
  t.is(toPri.stdout.trim().split('\n').at(-1), 'result: extension 201, served by node pri, over link pri');
  const across = await cli('explain', '-c', solution, '--from', '301', '--number', '401');
  t.is(across.stdout.trim().split('\n').at(-1), 'result: extension 401, served by node exp2, through node pri over link pri, else through node sec over link sec', 'two expansions: through the cores');
  const group = await cli('explain', '-c', solution, '--from', '401', '--number', '500');
  t.regex(group.stdout, /\nresult: extension 500, served by node pri, over link pri\n$/, 'hunt groups run on the primary');
  const own = await cli('explain', '-c', solution, '--from', '201', '--number', '201');
  t.regex(own.stdout, /\nresult: extension 201\n$/, 'a number served here names no node');
  const central = await cli('explain', '-c', solution, '--from', '201', '--number', '9012345');
  t.is(central.code, 0, central.stdout);
  t.regex(central.stdout, /\nresult: 012345 via line group 1, .*: the trunks of node exp1, over link exp1\n$/, "a line group on another node: that node's trunks, over its link");
  const local = await cli('explain', '-c', solution, '--node', 'exp1', '--from', '301', '--number', '9012345');
  t.regex(local.stdout, /\nresult: 012345 via line group 1, .*: trunk carrier sends 012345\n$/, "on the trunk's own node: the trunk");
  const incoming = await cli('explain', '-c', solution, '--node', 'exp1', '--line-group', '1', '--number', '4567');
  t.is(incoming.code, 0, incoming.stderr);
  t.regex(incoming.stdout, /^node: exp1 /);
  t.regex(incoming.stdout, /\nresult: extension 201, served by node pri, over link pri\n$/);
});

test('explain on a solution document: usage errors name the node', async (t) => {
  const notThere = await cli('explain', '-c', solution, '--node', 'exp2', '--from', '301', '--number', '201');
  t.is(notThere.code, 2);
  t.regex(notThere.stderr, /--from: 301 is not a user's extension on node exp2/);
  const noNode = await cli('explain', '-c', solution, '--node', 'nope', '--from', '301', '--number', '201');
  t.is(noNode.code, 2);
  t.regex(noNode.stderr, /--node: no node nope in .* \(pri, sec, exp1, exp2\)/);
  const oneNode = await cli('explain', '-c', config, '--node', 'other', '--from', '201', '--number', '201');
  t.is(oneNode.code, 2);
  t.regex(oneNode.stderr, /--node: .* is the one node node1/);
});
