/**
 * The configuration document's schema. Every object is strict (an unknown key is a problem, so
 * a typo never silently falls back to a default) and every optional field has its default here,
 * so features read complete objects. Checks that relate several fields live in checks.ts.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { need, int, name, nonEmpty } from './fields.js';
import { PROFILE_NAMES } from '../profiles.js';
import { TrunkSchema } from './trunk-schema.js';
import { DialPlanSchema, ShortCodeSchema } from './dialplan-schema.js';
import { ConferenceSchema } from './conference-schema.js';
import { MailboxSchema, VoicemailSchema } from './voicemail-schema.js';
import { HuntGroupSchema } from './huntgroup-schema.js';
import { AdminSchema } from './admin-schema.js';
import { BusSchema, FailoverSchema, LinksSchema, SolutionNodeSchema } from './solution-schema.js';

const ipAddress = z
  .string({ error: need('must be an IPv4 or IPv6 address') })
  .refine((s) => isIP(s) !== 0, { error: 'must be an IPv4 or IPv6 address' });

const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const hostOrAddress = z
  .string({ error: need('must be an IP address or a host name') })
  .refine((s) => isIP(s) !== 0 || HOST_NAME.test(s), { error: 'must be an IP address or a host name' });

export const TRANSPORTS = ['udp', 'tcp', 'tls', 'ws', 'wss'] as const;
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug', 'silly'] as const;
export const DIGEST_ALGORITHMS = ['SHA-256', 'MD5'] as const;

export const NodeSchema = z.strictObject({
  /** Name of this node, unique in the solution; appears in logs and in node links. */
  name: z
    .string({ error: need('must be a name of letters, digits, "-" or "_" (1..32)') })
    .regex(/^[A-Za-z0-9_-]{1,32}$/, { error: 'must be a name of letters, digits, "-" or "_" (1..32)' })
    .default('node1'),
  /** primary: holds the solution's data; secondary: takes over from a failed primary; expansion: adds capacity. */
  role: z.enum(['primary', 'secondary', 'expansion']).default('primary'),
  /** Hardware this node stands for; sets its capacity (see src/core/profiles.ts). */
  profile: z.enum(PROFILE_NAMES).default('DL360'),
});

export const LogSchema = z.strictObject({
  /** Most verbose level written: error | warn | info | debug | silly. */
  level: z.enum(LOG_LEVELS).default('info'),
  /** auto: JSON lines when stdout is not a TTY, readable coloured lines on a TTY; json; text. */
  format: z.enum(['auto', 'json', 'text']).default('auto'),
});

export const ListenSchema = z.strictObject({
  /** udp | tcp | tls | ws | wss (ws and wss: SIP over WebSocket, RFC 7118). */
  transport: z.enum(TRANSPORTS),
  /** Local IP address to bind; 0.0.0.0 or :: binds every interface (and is not loopback). */
  address: ipAddress,
  /** Local port. */
  port: int(1, 65535),
  /**
   * Address or host name written into Via and Contact (what phones and trunks send to): for a node
   * behind NAT, or bound to a wildcard. Default: `address`; for 0.0.0.0 or :: the machine's first
   * non-loopback address of that family.
   */
  advertise: hostOrAddress.optional(),
  /** PEM certificate chain file; required for tls and wss; relative to the working directory. */
  certificate: nonEmpty.optional(),
  /** PEM private key file; required for tls and wss; relative to the working directory. */
  privateKey: nonEmpty.optional(),
});

export const TimersSchema = z.strictObject({
  /** RFC 3261 T1, round-trip time estimate (ms). */
  t1: int(1, 60_000).default(500),
  /** RFC 3261 T2, maximum retransmit interval for non-INVITE requests and INVITE responses (ms). */
  t2: int(1, 600_000).default(4000),
  /** RFC 3261 T4, maximum time a message stays in the network (ms). */
  t4: int(1, 600_000).default(5000),
});

const DEFAULT_LISTEN = [
  { transport: 'udp', address: '127.0.0.1', port: 5060 },
  { transport: 'tcp', address: '127.0.0.1', port: 5060 },
] as const;

export const SipSchema = z.strictObject({
  /** The domain (and digest realm) of this PBX: the host part of its users' addresses of record. */
  domain: nonEmpty.default('127.0.0.1'),
  /** Sockets to listen on; at least one. */
  listen: z
    .array(ListenSchema, { error: 'must be a list of listen entries' })
    .min(1, { error: 'must have at least one entry' })
    .default(() => DEFAULT_LISTEN.map((l) => ({ ...l }))),
  /** Transaction timers. */
  timers: TimersSchema.prefault({}),
  /** Largest SIP message accepted, in bytes (UDP datagrams and stream messages alike). */
  maxMessageSize: int(1300, 1_048_576).default(65535),
  /** Value of the User-Agent and Server headers. */
  userAgent: nonEmpty.default('pbx-core'),
});

export const RegistrarSchema = z.strictObject({
  /** Shortest registration accepted (seconds); shorter requests get 423 Interval Too Brief. */
  minExpires: int(1, 86_400).default(60),
  /** Longest registration granted (seconds); longer requests are shortened to it. */
  maxExpires: int(1, 86_400).default(3600),
  /** Registration granted when the request asks for none (seconds). */
  defaultExpires: int(1, 86_400).default(3600),
  /** Contacts one user may register at once (phones, softphones, browsers). */
  maxContactsPerUser: int(1, 100).default(5),
  /**
   * RFC 5626 outbound: the Flow-Timer sent with a registration that uses a flow (seconds): how
   * often the phone proves its flow alive (STUN on UDP, CRLF on TCP), so a phone with a standby
   * flow on the backup keeps it open and learns soon when its home node's flow is dead.
   */
  flowTimerSeconds: int(10, 3600).default(25),
});

export const SecuritySchema = z.strictObject({
  /** Lock out one user at one source address after this many failed authentications within the window. */
  lockout: z
    .strictObject({
      /** Failures that trigger a lockout. */
      maxFailures: int(1, 10_000).default(10),
      /** Window in which failures are counted (seconds), from the first failure. */
      windowSeconds: int(1, 86_400).default(60),
      /** How long a locked-out source is refused (seconds). */
      lockoutSeconds: int(1, 604_800).default(300),
    })
    .prefault({}),
  /**
   * Block a source address (an IPv6 /64) after this many failed authentications for any users
   * (fail2ban, Kamailio pike): guessing many users, or probing which exist. Users who logged in
   * from that address before keep working.
   */
  sourceLimit: z
    .strictObject({
      maxFailures: int(1, 100_000).default(30),
      windowSeconds: int(1, 86_400).default(60),
      /** How long the address is blocked (seconds). */
      blockSeconds: int(1, 604_800).default(900),
    })
    .prefault({}),
  /**
   * After this many failed authentications of one user from any addresses (a password guessed
   * from many places), that user is let in only from addresses it logged in from before.
   */
  userLimit: z
    .strictObject({
      maxFailures: int(1, 100_000).default(30),
      windowSeconds: int(1, 86_400).default(600),
      /** How long only known addresses are let in (seconds). */
      protectSeconds: int(1, 604_800).default(900),
    })
    .prefault({}),
  digest: z
    .strictObject({
      /**
       * Digest algorithms offered, one challenge each in this order (RFC 8760). The default is
       * MD5 alone: phones pick a challenge in different ways (sipp answers the first, SIP.js the
       * last) and many know only MD5, so a second challenge breaks them. Offer [SHA-256] or
       * [SHA-256, MD5] where every phone copes.
       */
      algorithms: z
        .array(z.enum(DIGEST_ALGORITHMS))
        .min(1, { error: 'must have at least one algorithm' })
        .refine((a) => new Set(a).size === a.length, { error: 'must not repeat an algorithm' })
        .default(() => ['MD5'] as ('MD5' | 'SHA-256')[]),
      /** How long a nonce stays valid (seconds). */
      nonceLifetimeSeconds: int(10, 86_400).default(300),
      /**
       * Refuse credentials without qop=auth (RFC 7616): they cannot be protected from replay.
       * false accepts RFC 2069 phones, each nonce once, from the Call-ID and address it went to.
       */
      requireQop: z.boolean({ error: need('must be true or false') }).default(true),
    })
    .prefault({}),
  /**
   * Connections (TCP, TLS, WebSocket) others open to this node. Each holds a file descriptor,
   * as every media socket does: max is lowered at start so the media ports always find theirs.
   */
  connections: z
    .strictObject({
      /** Inbound connections held at once; the next is closed at once. */
      max: int(1, 1_000_000).default(4096),
      /** Inbound connections from one address held at once (phones behind one NAT share one). */
      perAddress: int(1, 1_000_000).default(128),
      /** A message must arrive whole within this long of its first byte, and a new connection bring its first one (seconds). */
      messageTimeoutSeconds: int(1, 300).default(10),
      /** A connection without any message or keepalive this long is closed (seconds). */
      idleTimeoutSeconds: int(10, 86_400).default(600),
    })
    .prefault({}),
  /** HMAC secret for nonces (at least 16 characters); null: generated once and kept in the store. */
  secret: z
    .string({ error: need('must be a string of at least 16 characters, or null') })
    .min(16, { error: 'must be a string of at least 16 characters, or null' })
    .nullable()
    .default(null),
});

export const StorageSchema = z.strictObject({
  /** SQLite database file; a relative path resolves against the working directory; ":memory:" for tests. */
  path: nonEmpty.default('var/pbx.sqlite'),
});

export const MediaSchema = z.strictObject({
  /** Local IP address of the RTP sockets (also the address put in SDP unless `advertise` says otherwise). */
  address: ipAddress.default('127.0.0.1'),
  /** Address written into SDP (c=): for a node behind NAT or bound to 0.0.0.0. Default: `address`, for 0.0.0.0 the machine's first non-loopback IPv4 address. */
  advertise: ipAddress.optional(),
  /** First RTP port (even). */
  portMin: int(1024, 65535).default(20000),
  /** Last port of the range; RTP uses even ports, RTCP the odd port above. */
  portMax: int(1024, 65535).default(29999),
  /** An answered party that sends no RTP this long (not holding the call) is hung up (seconds); 0: never. */
  rtpTimeoutSeconds: int(0, 3600).default(60),
});

export const CdrSchema = z.strictObject({
  /**
   * SMDR: every call record as a CSV line on a TCP port, for billing and call-accounting
   * systems (field order in src/features/cdr/smdr.ts). Unauthenticated and in clear text:
   * whoever reaches the port sees who called whom, so it is off unless asked for.
   */
  smdr: z
    .strictObject({
      /** Serve the SMDR stream. */
      enabled: z.boolean({ error: need('must be true or false') }).default(false),
      /** Local IP address to listen on; loopback unless a billing system on another machine needs it. */
      address: ipAddress.default('127.0.0.1'),
      /** TCP port. */
      port: int(1, 65535).default(8808),
    })
    .prefault({}),
});

const EXTENSION_ERROR = 'must be a quoted string of 2..15 digits (e.g. "201")';

export const UserSchema = z
  .strictObject({
    /** Extension number: 2..15 digits, quoted in YAML so leading zeros survive; unique. */
    extension: z.string({ error: need(EXTENSION_ERROR) }).regex(/^[0-9]{2,15}$/, { error: EXTENSION_ERROR }),
    /** Display name; defaults to the extension. */
    name: z.string({ error: need('must be a string') }).max(64, { error: 'must be at most 64 characters' }).optional(),
    /** SIP digest password, 4..64 characters. */
    password: z
      .string({ error: need('must be a string of 4..64 characters') })
      .min(4, { error: 'must be a string of 4..64 characters' })
      .max(64, { error: 'must be a string of 4..64 characters' }),
    /**
     * Media path of this user's calls: anchored (through the media engine: transcoding, music
     * on hold, recording) or direct (SDP end to end; used only when both parties are direct).
     */
    media: z.enum(['anchored', 'direct'], { error: 'must be anchored or direct' }).default('anchored'),
    /**
     * How this user's phones are reached over UDP: auto (at the address a registration came
     * from when it came through NAT, else at its Contact), source (always where it came from:
     * forced NAT traversal), contact (always at its Contact).
     */
    nat: z.enum(['auto', 'source', 'contact'], { error: 'must be auto, source or contact' }).default('auto'),
    /** Call forwarding to extensions or numbers the dial plan routes; the user changes it from the phone too (*21, *67, *61). */
    forward: z.strictObject({
      /** Every call goes to this extension. */
      all: z.string().regex(/^[0-9]{2,15}$/, { error: EXTENSION_ERROR }).optional(),
      /** Calls while busy (on a call without call waiting, or in do not disturb). */
      busy: z.string().regex(/^[0-9]{2,15}$/, { error: EXTENSION_ERROR }).optional(),
      /** Calls not answered within noAnswerSeconds. */
      noAnswer: z.string().regex(/^[0-9]{2,15}$/, { error: EXTENSION_ERROR }).optional(),
      /** No-answer time before forwarding on no answer (seconds). */
      noAnswerSeconds: int(5, 600).default(15),
    }).prefault({}),
    /** Do not disturb: callers get busy (or forward-on-busy). */
    doNotDisturb: z.boolean({ error: 'must be true or false' }).default(false),
    /** A second call rings while on a call (else the caller gets busy). */
    callWaiting: z.boolean({ error: 'must be true or false' }).default(true),
    /** Present this user's calls as anonymous (RFC 3323 Privacy: id). */
    withholdCallerId: z.boolean({ error: 'must be true or false' }).default(false),
    /** User rights (dialPlan.userRights name): shared short codes, allowed call classes, priority. */
    rights: z.string({ error: need('must be a user rights name') }).optional(),
    /** Priority for ARS alternate routes, 1 (highest) .. 5; the rights' priority overrides it. */
    priority: int(1, 5).default(5),
    /** This user's own short codes: the highest tier after extension numbers. */
    shortCodes: z.array(ShortCodeSchema, { error: 'must be a list of short codes' }).default(() => []),
    /** This user's mailbox (voicemail-schema.ts): unanswered calls, PIN, email. */
    voicemail: MailboxSchema.prefault({}),
    /** Home node in a solution (a nodes[].name); default: the primary. */
    node: name.optional(),
  })
  .transform((u) => ({ ...u, name: u.name ?? u.extension }));

export const CallsSchema = z.strictObject({
  /**
   * Calls relayed at once by this node; null: the node profile's relayed channels (256 on
   * DL360). The next call is refused with 503 and Retry-After.
   */
  maxChannels: int(1, 100_000).nullable().default(null),
  /** How long a call rings before it is given up (seconds) when nothing else takes it. */
  ringTimeoutSeconds: int(5, 600).default(60),
  /** Music on hold: a WAV file (8 kHz mono, mu-law, A-law or 16-bit); null: the built-in tune. */
  musicOnHold: z.string({ error: need('must be a file path or null') }).nullable().default(null),
  /**
   * A node shutting down (SIGTERM) refuses new calls with 503 and Retry-After, hangs up its
   * calls and waits at most this long for their BYEs to be answered (seconds).
   */
  shutdownSeconds: int(0, 60).default(5),
  /** Calls one user may have at once (made, or answered by the server: conferences, voicemail); user rights' maxCalls overrides. */
  maxCallsPerUser: int(1, 10_000).default(8),
  /**
   * RFC 4028 session timers: an answered call is refreshed at least this often (seconds, at
   * least 90); a party that stops answering the refreshes is hung up. 0: off.
   */
  sessionExpiresSeconds: z.int({ error: need('must be 0 (off) or an integer 90..86400') })
    .refine((v) => v === 0 || (v >= 90 && v <= 86_400), { error: 'must be 0 (off) or an integer 90..86400' }).default(1800),
});

export const ConfigSchema = z.strictObject({
  node: NodeSchema.prefault({}),
  log: LogSchema.prefault({}),
  sip: SipSchema.prefault({}),
  registrar: RegistrarSchema.prefault({}),
  security: SecuritySchema.prefault({}),
  storage: StorageSchema.prefault({}),
  media: MediaSchema.prefault({}),
  /** Call records (CDR): kept in the store, optionally streamed as SMDR. */
  cdr: CdrSchema.prefault({}),
  /** Calls between extensions (the B2BUA). */
  calls: CallsSchema.prefault({}),
  /** The users (extensions) hosted by this node. */
  users: z.array(UserSchema, { error: 'must be a list of users' }).default(() => []),
  /** Meet-me and ad-hoc conferences (src/core/config/conference-schema.ts). */
  conference: ConferenceSchema.prefault({}),
  /** Voicemail ports, message store, PIN policy, email (src/core/config/voicemail-schema.ts). */
  voicemail: VoicemailSchema.prefault({}),
  /** SIP trunks to carriers (src/core/config/trunk-schema.ts). */
  trunks: z.array(TrunkSchema, { error: 'must be a list of trunks' }).default(() => []),
  /** Hunt groups: numbers whose calls are offered to member users (src/core/config/huntgroup-schema.ts). */
  huntGroups: z.array(HuntGroupSchema, { error: 'must be a list of hunt groups' }).default(() => []),
  /** The dial plan: short codes, ARS, incoming call routes, time profiles, barring (dialplan-schema.ts). */
  dialPlan: DialPlanSchema.prefault({}),
  /** The admin API, web console, /metrics and scheduled backups (src/core/config/admin-schema.ts). */
  admin: AdminSchema.prefault({}),
  /**
   * The nodes of a solution (solution-schema.ts); empty: this document is one node, `node:`.
   * With nodes, `pbx start --node NAME` runs one of them on its part of the document.
   */
  nodes: z.array(SolutionNodeSchema, { error: 'must be a list of nodes' }).default(() => []),
  /** The solution's bus (NATS): credentials, heartbeat and hold-down; unused without nodes. */
  bus: BusSchema.prefault({}),
  /** Backups taking over a failed node's users and handing them back (solution-schema.ts); unused without nodes. */
  failover: FailoverSchema.prefault({}),
  /** The node links of a solution (solution-schema.ts): keepalive and setup times; unused without nodes. */
  links: LinksSchema.prefault({}),
});

export type Config = z.output<typeof ConfigSchema>;
export type CallsConfig = Config['calls'];
export type NodeConfig = Config['node'];
export type LogConfig = Config['log'];
export type SipConfig = Config['sip'];
export type ListenConfig = SipConfig['listen'][number];
export type Transport = ListenConfig['transport'];
export type TimersConfig = SipConfig['timers'];
export type RegistrarConfig = Config['registrar'];
export type SecurityConfig = Config['security'];
export type StorageConfig = Config['storage'];
export type MediaConfig = Config['media'];
export type CdrConfig = Config['cdr'];
export type UserConfig = Config['users'][number];
export type LogLevel = LogConfig['level'];
export type { SolutionNodeConfig, BusConfig, FailoverConfig, OverridesConfig, LinksConfig } from './solution-schema.js';
export type { TrunkConfig, NumberingConfig } from './trunk-schema.js';
export type { AdminConfig } from './admin-schema.js';
export type { HuntGroupConfig, HuntMemberConfig, RingMode, ServiceState } from './huntgroup-schema.js';
export type { VoicemailConfig, MailboxConfig, SmtpConfig } from './voicemail-schema.js';
export type {
  DialPlanConfig,
  ShortCodeConfig,
  ShortCodeFeature,
  ArsShortCodeConfig,
  ArsFormConfig,
  TimeProfileConfig,
  UserRightsConfig,
  CallClassConfig,
  IncomingCallRouteConfig,
} from './dialplan-schema.js';
