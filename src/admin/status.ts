/**
 * What the node is doing, as the admin API, the console and `pbx status` show it: plain data
 * read from the features' own status methods at the moment of the request.
 */
import { getProfile } from '../core/profiles.js';
import type { PbxNode } from '../node.js';

export interface Capacity {
  /** What is in use now, and the node's limit (its profile's, or the configured one). */
  [what: string]: { used: number; limit: number };
}

export function nodeStatus(n: PbxNode) {
  const c = n.config;
  return {
    name: c.node.name,
    role: c.node.role,
    profile: c.node.profile,
    /** 'up' while the node runs; a solution view adds its other nodes' states. */
    state: 'up' as const,
    startedAt: n.startedAt?.toISOString() ?? null,
    revision: n.revision,
    /** In a solution: the document's revision on the bus that this node applied last. */
    solutionRevision: n.solution?.revision ?? null,
    pending: [...n.pending],
    sip: n.started.sip.listen.map((l) => `${l.transport}:${l.address}:${l.port}`),
  };
}

export function capacity(n: PbxNode): Capacity {
  const c = n.config;
  const profile = getProfile(n.started.node.profile);
  const conf = n.conferences.status();
  const vm = n.voicemail?.status();
  // the trunks' own channels, capped by the node's profile (all trunks together)
  const own = n.trunks.status().reduce((a, t) => a + t.maxChannels, 0);
  const trunkChannels = { used: n.trunks.channels.used, limit: Math.min(own, n.trunks.channels.limit) };
  return {
    users: { used: c.users.length, limit: profile.users },
    registeredUsers: { used: n.location.aorCount, limit: profile.users },
    calls: { used: n.calls.active, limit: n.maxCalls },
    conferenceChannels: { used: conf.channelsInUse, limit: conf.channels },
    voicemailPorts: { used: vm?.inUse ?? 0, limit: vm?.ports ?? 0 },
    trunkChannels,
    callAttemptsLastHour: { used: n.calls.attemptsLastHour, limit: profile.busyHourCallAttempts },
  };
}

export function registrations(n: PbxNode) {
  const now = Date.now();
  return n.config.users.flatMap((u) =>
    n.location.lookup(u.extension).map((b) => ({
      extension: u.extension,
      name: u.name,
      contact: b.contact,
      source: `${b.source.protocol}:${b.source.address}:${b.source.port}`,
      userAgent: b.userAgent ?? null,
      expiresInSeconds: Math.max(0, Math.round((b.expiresAt - now) / 1000)),
    })),
  );
}

export function calls(n: PbxNode) {
  return n.calls.list().map((c) => ({
    ...c,
    startedAt: c.startedAt.toISOString(),
    parties: c.parties.map((p) => ({ number: p.number, codec: p.codec ?? null, quality: p.quality ?? null })),
  }));
}

export function conferences(n: PbxNode) {
  const s = n.conferences.status();
  return {
    channelsInUse: s.channelsInUse,
    channels: s.channels,
    rooms: s.rooms.map((r) => ({ id: r.id, kind: r.kind, parties: n.conferences.room(r.id)?.parties() ?? [] })),
  };
}

export function huntGroups(n: PbxNode) {
  return n.hunt.status().map((g) => ({ ...g, members: [...g.members], loggedIn: [...g.loggedIn] }));
}

export function voicemail(n: PbxNode) {
  const vm = n.voicemail;
  if (!vm) return { enabled: false as const };
  return { enabled: true as const, ...vm.status() };
}

export function trunks(n: PbxNode) {
  return n.trunks.status();
}

export function alarms(n: PbxNode) {
  return n.alarms.list().map((a) => ({ ...a, raisedAt: a.raisedAt.toISOString(), lastAt: a.lastAt.toISOString() }));
}

/** Everything at once: what `pbx status` prints and the console's first page shows. */
export function summary(n: PbxNode) {
  return {
    node: nodeStatus(n),
    capacity: capacity(n),
    alarms: alarms(n),
    counts: {
      registrations: n.location.size,
      calls: n.calls.active,
      conferences: n.conferences.status().conferences,
      queued: n.hunt.status().reduce((a, g) => a + g.queued, 0),
    },
    trunks: trunks(n),
    /** Node links of a solution (src/solution): peer node, state, address, calls; none on a single node. */
    links: n.solution?.linkStatus() ?? [],
    /** The other nodes of the solution as their heartbeats tell: up or down, role, revision, registered users. */
    nodes: solutionNodes(n),
  };
}

/** The other nodes of a solution, from the directory; none on a single node. */
export function solutionNodes(n: PbxNode) {
  return (n.solution?.directory.nodes() ?? []).map((x) => ({ ...x, state: x.up ? 'up' as const : 'down' as const, lastSeen: new Date(x.lastSeen).toISOString() }));
}
