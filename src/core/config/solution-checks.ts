/**
 * Checks of a solution document: the nodes (one primary, at most one secondary of the
 * primary's platform family, at most 30 expansions and 32 nodes), where users and trunks are
 * homed, each node's capacity, per-node overrides, and the limits that hold for a one-node
 * document too (mailboxes, an IP500 V2 without voicemail, trunk names). Like checks.ts they
 * read the raw document, so one broken entry never hides a problem elsewhere.
 */
import type { z } from 'zod';
import { PROFILES, SOLUTION_LIMITS, type Profile, type ProfileName } from '../profiles.js';
import { deepMerge, field, isRecord, list, type CrossCheck, type Raw } from './fields.js';
import { CallsSchema, CdrSchema, LogSchema, MediaSchema, RegistrarSchema, SecuritySchema, SipSchema, StorageSchema } from './schema.js';
import { ConferenceSchema } from './conference-schema.js';
import { VoicemailSchema } from './voicemail-schema.js';
import { AdminSchema } from './admin-schema.js';
import { backupOf, NODE_SECTIONS, SOLUTION_WIDE_KEYS, SolutionNodeSchema, type NodeSection, type SolutionNodeConfig } from './solution-schema.js';
import { isDemoPassword, isLoopback } from './fields.js';

const SECTION_SCHEMAS: Record<NodeSection, z.ZodType> = {
  log: LogSchema, sip: SipSchema, registrar: RegistrarSchema, security: SecuritySchema, storage: StorageSchema,
  media: MediaSchema, cdr: CdrSchema, calls: CallsSchema, conference: ConferenceSchema, voicemail: VoicemailSchema, admin: AdminSchema,
};

/** Top-level keys that name one node's sockets or files: in a solution each node has its own. */
const PER_NODE_ONLY: readonly { path: string[]; instead: string }[] = [
  { path: ['node'], instead: 'a solution names its nodes in nodes: and starts one with --node NAME' },
  { path: ['sip', 'listen'], instead: 'per node in a solution: nodes[].sip, or nodes[].overrides.sip.listen' },
  { path: ['media', 'address'], instead: 'per node in a solution: nodes[].mediaAddress or nodes[].address' },
  { path: ['storage'], instead: 'per node in a solution: nodes[].dataDir, or nodes[].overrides.storage' },
  { path: ['voicemail', 'dir'], instead: 'per node in a solution: nodes[].dataDir, or nodes[].overrides.voicemail.dir' },
];

function profileOf(v: unknown): Profile | undefined {
  return typeof v === 'string' && Object.hasOwn(PROFILES, v) ? PROFILES[v as ProfileName] : undefined;
}

/** The node entries the schema accepts, by index (a broken entry is reported by the schema). */
function parsedNodes(doc: Raw): { i: number; n: SolutionNodeConfig }[] {
  const out: { i: number; n: SolutionNodeConfig }[] = [];
  list(doc.nodes).forEach((raw, i) => {
    const r = SolutionNodeSchema.safeParse(raw);
    if (r.success) out.push({ i, n: r.data });
  });
  return out;
}

/** Sections with channel counts a node may set for itself: none above its profile's. */
const CHANNEL_SECTIONS = ['calls', 'conference', 'voicemail'] as const;

/** Each channel count a node can set (top level or in its overrides), and its profile's figure. */
const CHANNEL_LIMITS: readonly { section: (typeof CHANNEL_SECTIONS)[number]; key: string; limit: (p: Profile) => number; what: string }[] = [
  { section: 'calls', key: 'maxChannels', limit: (p) => p.sipTrunkChannels, what: 'relayed calls (trunk channels)' },
  { section: 'conference', key: 'maxChannels', limit: (p) => p.conferenceChannels, what: 'conference channels' },
  { section: 'conference', key: 'maxParties', limit: (p) => p.conferenceChannelsPerConference, what: 'parties in one conference' },
  // a profile without voicemail has its own message (checkOverrides)
  { section: 'voicemail', key: 'channels', limit: (p) => p.voicemailChannels || Infinity, what: 'voicemail channels' },
];

const hasNodes = (doc: Raw) => list(doc.nodes).length > 0;
const inSolution = (check: (doc: Raw) => string[]) => (doc: Raw) => (hasNodes(doc) ? check(doc) : []);

/** The checks of a solution document (and the few of a one-node one), with what each reads (checks.ts). */
export const SOLUTION_CHECKS: readonly CrossCheck[] = [
  { name: 'mailboxes', reads: ['users', 'huntGroups'], run: checkMailboxes },
  { name: 'trunkNames', reads: ['trunks'], run: checkTrunkNames },
  { name: 'oneNode', reads: ['nodes', 'node', 'users', 'trunks', 'voicemail'], run: (doc) => (hasNodes(doc) ? [] : checkOneNode(doc)) },
  { name: 'perNodeOnly', reads: ['nodes', ...new Set(PER_NODE_ONLY.map((p) => p.path[0]!))], run: inSolution(checkPerNodeOnly) },
  { name: 'nodes', reads: ['nodes'], run: inSolution(checkNodes) },
  { name: 'homes', reads: ['nodes', 'users', 'trunks'], run: inSolution(checkHomes) },
  { name: 'backups', reads: ['nodes', 'users'], run: inSolution(checkBackups) },
  { name: 'overrides', reads: ['nodes', ...NODE_SECTIONS], run: inSolution(checkOverrides) },
  { name: 'exposure', reads: ['nodes', 'bus', 'users'], run: inSolution(checkExposure) },
  { name: 'channels', reads: ['nodes', 'trunks', ...CHANNEL_SECTIONS], run: inSolution(checkChannels) },
];

/** Every problem of the solution checks (checks.ts runs them with the others). */
export function checkSolution(doc: Raw): string[] {
  return SOLUTION_CHECKS.flatMap((c) => c.run(doc));
}

function checkPerNodeOnly(doc: Raw): string[] {
  const problems: string[] = [];
  for (const { path, instead } of PER_NODE_ONLY) {
    if (path.reduce<unknown>((v, k) => field(v, k), doc) !== undefined) problems.push(`${path.join('.')}: ${instead}`);
  }
  return problems;
}

/** Mailboxes of users and hunt groups that take messages, against the solution limit. */
function checkMailboxes(doc: Raw): string[] {
  const enabled = (e: unknown) => field(field(e, 'voicemail'), 'enabled') !== false;
  const n = list(doc.users).filter(enabled).length + list(doc.huntGroups).filter(enabled).length;
  // too many users is reported as such; their mailboxes would only say it again
  return n > SOLUTION_LIMITS.mailboxes && list(doc.users).length <= SOLUTION_LIMITS.users
    ? [`users: ${n} mailboxes of users and hunt groups, the solution limit is ${SOLUTION_LIMITS.mailboxes} (voicemail: { enabled: false } frees one)`]
    : [];
}

function checkTrunkNames(doc: Raw): string[] {
  const problems: string[] = [];
  const seen = new Map<string, number>();
  list(doc.trunks).forEach((t, i) => {
    const name = field(t, 'name');
    if (typeof name !== 'string') return;
    const first = seen.get(name);
    if (first === undefined) seen.set(name, i);
    else problems.push(`trunks[${i}].name: duplicate of trunks[${first}]`);
  });
  return problems;
}

/** A one-node document: home nodes can only name that node, and an IP500 V2 has no voicemail. */
function checkOneNode(doc: Raw): string[] {
  const problems: string[] = [];
  const own = field(doc.node, 'name') ?? 'node1';
  for (const key of ['users', 'trunks']) {
    list(doc[key]).forEach((e, i) => {
      const home = field(e, 'node');
      if (typeof home === 'string' && home !== own) problems.push(`${key}[${i}].node: no node ${home}: a document without nodes: is the one node ${String(own)}`);
    });
  }
  const channels = field(doc.voicemail, 'channels');
  if (field(doc.node, 'profile') === 'IP500V2' && typeof channels === 'number' && channels > 0) {
    problems.push(`voicemail.channels: an IP500V2 node has no voicemail`);
  }
  return problems;
}

function checkNodes(doc: Raw): string[] {
  const problems: string[] = [];
  const total = list(doc.nodes).length;
  if (total > SOLUTION_LIMITS.nodes) problems.push(`nodes: ${total} nodes, the solution limit is ${SOLUTION_LIMITS.nodes}`);
  const names = new Map<string, number>();
  list(doc.nodes).forEach((n, i) => {
    const name = field(n, 'name');
    if (typeof name !== 'string') return;
    const first = names.get(name);
    if (first !== undefined) problems.push(`nodes[${i}].name: duplicate of nodes[${first}]`);
    else names.set(name, i);
  });

  const byRole = (role: string) => list(doc.nodes).flatMap((n, i) => (field(n, 'role') === role ? [i] : []));
  const primaries = byRole('primary');
  const secondaries = byRole('secondary');
  const expansions = byRole('expansion');
  if (primaries.length === 0) problems.push('nodes: no primary (exactly one node must have role primary)');
  for (const i of primaries.slice(1)) problems.push(`nodes[${i}].role: a second primary (nodes[${primaries[0]}] is the primary; a solution has exactly one)`);
  for (const i of secondaries.slice(SOLUTION_LIMITS.secondaries)) {
    problems.push(`nodes[${i}].role: a second secondary (nodes[${secondaries[0]}] is the secondary; a solution has at most ${SOLUTION_LIMITS.secondaries})`);
  }
  if (expansions.length > SOLUTION_LIMITS.expansions) problems.push(`nodes: ${expansions.length} expansions, the limit is ${SOLUTION_LIMITS.expansions}`);

  list(doc.nodes).forEach((n, i) => {
    const p = profileOf(field(n, 'profile'));
    const role = field(n, 'role');
    if (p && typeof role === 'string' && !p.roles.includes(role as never)) problems.push(`nodes[${i}].profile: ${p.name} serves only as ${p.roles.join(' or ')}, not as ${role}`);
  });
  const primary = primaries[0] === undefined ? undefined : profileOf(field(list(doc.nodes)[primaries[0]], 'profile'));
  for (const i of secondaries) {
    const p = profileOf(field(list(doc.nodes)[i], 'profile'));
    if (p && primary && p.family !== primary.family) {
      problems.push(`nodes[${i}].profile: a secondary must be of the primary's platform family (${primary.name} is ${primary.family}, ${p.name} is ${p.family})`);
    }
  }

  // two nodes on one machine must not share a socket or a data folder
  const taken = new Map<string, string>();
  const claim = (key: string, at: string, what: string) => {
    const other = taken.get(key);
    if (other !== undefined) problems.push(`${at}: ${what} is already taken by ${other}`);
    else taken.set(key, at.replace(/^(nodes\[\d+\]).*$/, '$1'));
  };
  for (const { i, n } of parsedNodes(doc)) {
    const sipAddress = n.sip.address ?? n.address;
    claim(`sip ${sipAddress} ${n.sip.port}`, `nodes[${i}].sip.port`, `${sipAddress} port ${n.sip.port}`);
    claim(`dir ${n.dataDir ?? `var/${n.name}`}`, `nodes[${i}].dataDir`, `the folder ${n.dataDir ?? `var/${n.name}`}`);
    if (n.role === 'expansion') continue;
    const busAddress = n.bus.address ?? n.address;
    claim(`tcp ${busAddress} ${n.bus.port}`, `nodes[${i}].bus.port`, `${busAddress} port ${n.bus.port}`);
    if (n.role === 'primary') claim(`tcp ${busAddress} ${n.bus.leafPort}`, `nodes[${i}].bus.leafPort`, `${busAddress} port ${n.bus.leafPort}`);
  }
  return problems;
}

/** Users and trunks name an existing home node; each node holds no more users than its profile. */
function checkHomes(doc: Raw): string[] {
  const problems: string[] = [];
  const nodes = list(doc.nodes);
  const index = new Map<string, number>();
  nodes.forEach((n, i) => {
    const name = field(n, 'name');
    if (typeof name === 'string' && !index.has(name)) index.set(name, i);
  });
  const primary = nodes.findIndex((n) => field(n, 'role') === 'primary');
  const known = [...index.keys()].join(', ');
  const homed = new Map<number, number>();
  for (const key of ['users', 'trunks']) {
    list(doc[key]).forEach((e, i) => {
      const home = field(e, 'node');
      let at = primary;
      if (typeof home === 'string') {
        at = index.get(home) ?? -1;
        if (at < 0) problems.push(`${key}[${i}].node: no node named ${home} (nodes: ${known})`);
      }
      if (key === 'users' && at >= 0) homed.set(at, (homed.get(at) ?? 0) + 1);
    });
  }
  for (const [i, count] of homed) {
    const p = profileOf(field(nodes[i], 'profile'));
    if (p && count > p.users) problems.push(`nodes[${i}]: ${count} users have their home here, the ${p.name} profile allows ${p.users}`);
  }
  return problems;
}

/**
 * Backups: a node's backup is the primary or the secondary (never itself), and a backup holds
 * the standby registrations of every user homed on the nodes it backs up within its profile's
 * user capacity (its backup capacity: 500 on a DL360).
 */
function checkBackups(doc: Raw): string[] {
  const problems: string[] = [];
  const parsed = parsedNodes(doc);
  const nodes = parsed.map(({ n }) => n);
  const byName = new Map(parsed.map(({ i, n }) => [n.name, { i, n }]));
  for (const { i, n } of parsed) {
    if (n.backup === undefined) continue;
    const b = byName.get(n.backup);
    if (!b) problems.push(`nodes[${i}].backup: no node named ${n.backup} (nodes: ${nodes.map((x) => x.name).join(', ')})`);
    else if (b.n.name === n.name) problems.push(`nodes[${i}].backup: a node cannot back itself up`);
    else if (b.n.role === 'expansion') problems.push(`nodes[${i}].backup: must be the primary or the secondary (${b.n.name} is an expansion)`);
    else if (n.role !== 'expansion' && b.n.role === n.role) problems.push(`nodes[${i}].backup: must be the primary or the secondary`);
  }
  const primary = nodes.find((n) => n.role === 'primary')?.name;
  const standby = new Map<string, number>();
  for (const u of list(doc.users)) {
    const home = field(u, 'node');
    const backup = backupOf(nodes, typeof home === 'string' ? home : primary ?? '');
    if (backup !== undefined) standby.set(backup, (standby.get(backup) ?? 0) + 1);
  }
  for (const [name, count] of standby) {
    const b = byName.get(name);
    const p = b && profileOf(b.n.profile);
    if (b && p && count > p.users) {
      problems.push(`nodes[${b.i}]: it backs up ${count} users, the ${p.name} profile holds ${p.users} standby registrations`);
    }
  }
  return problems;
}

/** Each node's overrides: only per-node keys, valid once merged over the top-level section. */
function checkOverrides(doc: Raw): string[] {
  const problems: string[] = [];
  list(doc.nodes).forEach((n, i) => {
    const overrides = field(n, 'overrides');
    for (const section of NODE_SECTIONS) {
      const over = field(overrides, section);
      const at = `nodes[${i}].overrides.${section}`;
      if (!isRecord(over)) continue;
      for (const key of SOLUTION_WIDE_KEYS[section] ?? []) {
        if (key in over) problems.push(`${at}.${key}: solution-wide, set it at the top level (${section}.${key})`);
      }
      const r = SECTION_SCHEMAS[section].safeParse(deepMerge(doc[section] ?? {}, over));
      if (r.success) continue;
      for (const issue of r.error.issues) {
        // what the top-level section gets wrong is reported there; here only what the override brought
        if (issue.path.length > 0 && !(String(issue.path[0]) in over)) continue;
        const keys = issue.code === 'unrecognized_keys' ? issue.keys : [undefined];
        for (const k of keys) {
          const path = [...issue.path, ...(k === undefined ? [] : [k])].map((s) => (typeof s === 'number' ? `[${s}]` : `.${String(s)}`)).join('');
          problems.push(`${at}${path}: ${k === undefined ? issue.message : 'unknown key'}`);
        }
      }
    }
    const profile = profileOf(field(n, 'profile'));
    const own = field(field(overrides, 'voicemail'), 'channels');
    const channels = own ?? field(doc.voicemail, 'channels');
    if (profile?.voicemailChannels === 0 && typeof channels === 'number' && channels > 0) {
      const where = own !== undefined ? `nodes[${i}].overrides.voicemail.channels` : 'voicemail.channels';
      problems.push(`${where}: an ${profile.name} node has no voicemail (nodes[${i}])`);
    }
  });
  return problems;
}

/**
 * A node runs no more channels than its profile has: a count set for it (its overrides, else
 * the top-level section every node takes) above its profile's is refused where it is written;
 * so is a trunk with more channels than its node's profile.
 */
function checkChannels(doc: Raw): string[] {
  const problems: string[] = [];
  const parsed = parsedNodes(doc);
  for (const { section, key, limit, what } of CHANNEL_LIMITS) {
    const top = field(doc[section], key);
    const overTop: string[] = [];
    for (const { i, n } of parsed) {
      const p = PROFILES[n.profile];
      const own = field(n.overrides[section], key);
      const value = own ?? top;
      if (typeof value !== 'number' || value <= limit(p)) continue;
      if (own === undefined) overTop.push(`nodes[${i}] ${n.name} (${p.name}: ${limit(p)})`);
      else problems.push(`nodes[${i}].overrides.${section}.${key}: ${value} is above the ${p.name} profile's ${limit(p)} ${what} (node ${n.name})`);
    }
    if (overTop.length > 0) problems.push(`${section}.${key}: ${String(top)} is above the ${what} of ${overTop.join(', ')}; set it per node in nodes[].overrides.${section}`);
  }
  const byName = new Map(parsed.map(({ n }) => [n.name, n]));
  const primary = parsed.find(({ n }) => n.role === 'primary')?.n;
  list(doc.trunks).forEach((t, i) => {
    const channels = field(t, 'maxChannels');
    const home = field(t, 'node');
    const node = typeof home === 'string' ? byName.get(home) : primary;
    if (!node || typeof channels !== 'number') return;
    const p = PROFILES[node.profile];
    if (channels > p.sipTrunkChannels) problems.push(`trunks[${i}].maxChannels: ${channels} is above the ${p.name} profile's ${p.sipTrunkChannels} SIP trunk channels (node ${node.name})`);
  });
  return problems;
}

/** A solution reachable from the network: no demo passwords, and the bus needs a password. */
function checkExposure(doc: Raw): string[] {
  const problems: string[] = [];
  const exposed = parsedNodes(doc).find(({ n }) => !isLoopback(n.sip.address ?? n.address) || !isLoopback(n.bus.address ?? n.address));
  if (!exposed) return problems;
  const where = `nodes[${exposed.i}] is at ${exposed.n.address}`;
  if (field(doc.bus, 'password') === undefined || field(doc.bus, 'password') === null) {
    problems.push(`bus.password: required when a node is not on loopback (${where})`);
  }
  list(doc.users).forEach((u, i) => {
    if (isDemoPassword(field(u, 'extension'), field(u, 'password'))) {
      problems.push(`users[${i}].password: demo passwords are only allowed when every node is on loopback (${where})`);
    }
  });
  return problems;
}
