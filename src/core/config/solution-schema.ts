/**
 * What a solution adds to the one-node document: the nodes (name, role, profile, addresses,
 * per-node overrides) and the bus that carries state between them. A document without `nodes:`
 * is a one-node solution and reads exactly as before. Checks across nodes, users and trunks
 * (one primary, capacities, home nodes) live in solution-checks.ts.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { PROFILE_NAMES } from '../profiles.js';
import { int, name, need, nonEmpty } from './fields.js';

/** A number of seconds in min..max (fractions allowed: tests and fast detection use them). */
function seconds(min: number, max: number) {
  const error = need(`must be a number of seconds ${min}..${max}`);
  return z.number({ error }).min(min, { error }).max(max, { error });
}

const ipAddress = z
  .string({ error: need('must be an IPv4 or IPv6 address') })
  .refine((s) => isIP(s) !== 0, { error: 'must be an IPv4 or IPv6 address' });

/** Sections a node may set for itself; the rest of the document is the same on every node. */
export const NODE_SECTIONS = ['log', 'sip', 'registrar', 'security', 'storage', 'media', 'cdr', 'calls', 'conference', 'voicemail', 'admin'] as const;
export type NodeSection = (typeof NODE_SECTIONS)[number];

/** Keys of a per-node section that are solution-wide all the same (rooms are dialled from every node). */
export const SOLUTION_WIDE_KEYS: Partial<Record<NodeSection, readonly string[]>> = {
  conference: ['rooms', 'openRooms'],
  voicemail: ['collectCode', 'pin'],
};

/**
 * Per-node overrides: each key a section of the document, merged over the top-level section for
 * this node only (objects merged key by key, lists replaced). Validated by solution-checks.ts
 * against the section's own schema, so a problem is named at its path under overrides.
 */
export const OverridesSchema = z.strictObject(
  Object.fromEntries(NODE_SECTIONS.map((s) => [s, z.record(z.string(), z.unknown(), { error: 'must be a mapping' }).optional()])) as Record<
    NodeSection,
    z.ZodOptional<z.ZodRecord<z.ZodString, z.ZodUnknown>>
  >,
);

export const BusEndpointSchema = z.strictObject({
  /** Address the node's nats-server listens on for clients; default: the node's address. */
  address: ipAddress.optional(),
  /** Client port of the node's nats-server. */
  port: int(1, 65535).default(4222),
  /** Port on which the primary's nats-server takes the secondary's leaf connection. */
  leafPort: int(1, 65535).default(7422),
  /**
   * Run nats-server as a child of this node (primary and secondary). false: a nats-server
   * started by other means listens there already, with the configuration `pbx check` describes.
   */
  managed: z.boolean({ error: need('must be true or false') }).default(true),
});

export const SolutionNodeSchema = z.strictObject({
  /** The node's name, unique in the solution; `pbx start --node NAME` starts it. */
  name,
  /** primary: keeps and publishes the document; secondary: the backup core; expansion: adds users and trunks. */
  role: z.enum(['primary', 'secondary', 'expansion'], { error: need('must be one of primary, secondary, expansion') }),
  /** Hardware the node stands for; sets its capacity (src/core/profiles.ts). */
  profile: z.enum(PROFILE_NAMES, { error: need(`must be one of ${PROFILE_NAMES.join(', ')}`) }),
  /** The node's address: its SIP, media and bus address unless those are given on their own. */
  address: ipAddress,
  /** SIP: where phones and the other nodes reach this node (udp and tcp on this port). */
  sip: z
    .strictObject({
      address: ipAddress.optional(),
      port: int(1, 65535).default(5060),
    })
    .prefault({}),
  /** RTP address of this node (written into SDP); default: the node's address. */
  mediaAddress: ipAddress.optional(),
  /** The bus: the primary's and the secondary's nats-server; expansions connect to both. */
  bus: BusEndpointSchema.prefault({}),
  /** Folder of this node's database, voicemail and bus store (relative: to the working directory); default var/<name>. */
  dataDir: nonEmpty.optional(),
  /** This node's own settings, merged over the top-level sections (log, sip, media, calls, ...). */
  overrides: OverridesSchema.prefault({}),
  /**
   * The node that serves this node's users while it is down (it holds their phones' standby
   * registrations): the primary or the secondary. Default: the secondary for the primary, the
   * primary for the secondary, none for an expansion.
   */
  backup: name.optional(),
});

export const BusSchema = z.strictObject({
  /** User name of the bus (clients and the leaf connection between the cores). */
  user: nonEmpty.default('pbx'),
  /** Password of the bus; null: no authentication (only for a solution on loopback or a closed lab network). */
  password: z.string({ error: need('must be a string of at least 8 characters, or null') }).min(8, { error: 'must be a string of at least 8 characters, or null' }).nullable().default(null),
  /** Each node announces itself this often (seconds). */
  heartbeatSeconds: seconds(0.1, 60).default(0.5),
  /**
   * A node neither heard on the bus nor answering OPTIONS for this long is down (seconds); its
   * backup takes over then, if the other nodes that still reach the bus agree.
   */
  holdDownSeconds: seconds(0.5, 600).default(2),
});

/** Failover between a node and its backup (src/solution/failover.ts). */
export const FailoverSchema = z.strictObject({
  /** Backups take over the users of a node declared down; false: standby registrations only. */
  enabled: z.boolean({ error: need('must be true or false') }).default(true),
  /**
   * A node that is back (and has caught up with its backup) gets its users back after it has
   * been up this long without a break (seconds): no flapping on a node that comes and goes.
   */
  stableSeconds: seconds(0, 3600).default(60),
  /**
   * A node never heard since this node started is declared down only after this long
   * (seconds): the nodes of a solution starting together are not taken over while they boot.
   */
  startGraceSeconds: seconds(0, 3600).default(20),
});

/**
 * Node links: the SIP trunks between nodes, generated from `nodes:` (each expansion to the
 * primary, and to the secondary when there is one; the primary to the secondary). Each link
 * authenticates with digest credentials derived from the bus password and the two node names,
 * and from the peer's SIP address only.
 */
export const LinksSchema = z.strictObject({
  /** OPTIONS to each linked node this often (seconds); a link not answering is down. */
  keepaliveSeconds: int(1, 300).default(5),
  /** A keepalive without an answer within this long takes the link down (seconds). */
  responseTimeoutSeconds: int(1, 32).default(2),
  /** A call over a link not answered with any response within this long tries the next link (seconds). */
  setupTimeoutSeconds: int(1, 60).default(4),
});

export type SolutionNodeConfig = z.output<typeof SolutionNodeSchema>;
export type LinksConfig = z.output<typeof LinksSchema>;
export type BusConfig = z.output<typeof BusSchema>;
export type FailoverConfig = z.output<typeof FailoverSchema>;
export type OverridesConfig = z.output<typeof OverridesSchema>;

/**
 * The node that backs up node `name` (serves its users while it is down): its `backup`, else
 * the secondary for the primary and the primary for the secondary; undefined when it has none.
 */
export function backupOf(nodes: readonly Pick<SolutionNodeConfig, 'name' | 'role' | 'backup'>[], name: string): string | undefined {
  const n = nodes.find((x) => x.name === name);
  if (!n) return undefined;
  if (n.backup !== undefined) return n.backup;
  if (n.role === 'primary') return nodes.find((x) => x.role === 'secondary')?.name;
  if (n.role === 'secondary') return nodes.find((x) => x.role === 'primary')?.name;
  return undefined;
}
