/**
 * SIP trunks: how this node reaches carriers and which peers may send it calls. Line groups
 * tie trunks to the dial plan: short codes, ARS routes and incoming call routes name a line
 * group, and every trunk belongs to one.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { need, int, name, nonEmpty } from './fields.js';

const digits = (what: string) => z.string({ error: need(`must be ${what}`) }).regex(/^[0-9]*$/, { error: `must be ${what}` });

/** An IPv4/IPv6 address, or an address block in CIDR notation. */
export const addressOrCidr = z
  .string({ error: need('must be an IP address or CIDR block (e.g. 192.0.2.0/24)') })
  .refine(
    (s) => {
      const [ip, bits, extra] = s.split('/');
      if (extra !== undefined || isIP(ip) === 0) return false;
      if (bits === undefined) return true;
      const max = isIP(ip) === 4 ? 32 : 128;
      return /^[0-9]{1,3}$/.test(bits) && Number(bits) <= max;
    },
    { error: 'must be an IP address or CIDR block (e.g. 192.0.2.0/24)' },
  );

export const NumberingSchema = z.strictObject({
  /** Country calling code of this site, without "+" (e.g. "44"); "" leaves numbers as dialled. */
  countryCode: digits('a string of digits (e.g. "44")').default(''),
  /** Trunk prefix dialled before a national number (e.g. "0"). */
  nationalPrefix: digits('a string of digits (e.g. "0")').default('0'),
  /** Prefix dialled before an international number (e.g. "00"). */
  internationalPrefix: digits('a string of digits (e.g. "00")').default('00'),
  /**
   * Form of the numbers sent to this trunk: "dialled" (as the ARS output them) or "e164"
   * (+CC...: national and international prefixes replaced). Incoming E.164 numbers are always
   * turned back into the local dialling form (national prefix, international prefix).
   */
  outgoing: z.enum(['dialled', 'e164'], { error: 'must be dialled or e164' }).default('dialled'),
});

export const TrunkSchema = z.strictObject({
  /** Name of the trunk, unique; appears in logs, status and explain. */
  name,
  /** Line group of this trunk (short codes, ARS routes and incoming call routes name it); several trunks may share one. */
  lineGroup: int(0, 99_999),
  /** registration: this node registers to the carrier with digest; peer: no registration, the peer's addresses are configured. */
  type: z.enum(['registration', 'peer'], { error: 'must be registration or peer' }),
  /** Carrier host name (resolved per RFC 3263: NAPTR-less SRV, then A/AAAA) or IP address. */
  host: nonEmpty,
  /** Carrier port; given, no SRV lookup is made. */
  port: int(1, 65535).optional(),
  /** Transport towards the carrier. */
  transport: z.enum(['udp', 'tcp', 'tls'], { error: 'must be udp, tcp or tls' }).default('udp'),
  /** Send every request through this proxy ("host" or "host:port") instead of to the host. */
  outboundProxy: nonEmpty.optional(),
  /** The carrier's SIP domain (request URIs, From and To); default: host. */
  domain: nonEmpty.optional(),
  /** Account name at the carrier (registration AOR user part, From user for pai presentation). */
  username: nonEmpty.optional(),
  /** Digest user name when it differs from username. */
  authUsername: nonEmpty.optional(),
  /** Digest password (registration and challenged INVITEs); never logged. */
  password: z.string({ error: need('must be a string') }).optional(),
  /** Registration period asked of the carrier (seconds); refreshed before it runs out. */
  registerExpires: int(60, 86_400).default(3600),
  /**
   * First wait (seconds) before a failed registration is tried again; each further failure
   * doubles it, up to registerRetryMaxSeconds (a cap below this start acts as the start).
   */
  registerRetrySeconds: int(1, 3600).default(2),
  /** Longest wait (seconds) between registration attempts while the carrier keeps failing. */
  registerRetryMaxSeconds: int(1, 86_400).default(300),
  /**
   * A REGISTER or keepalive OPTIONS without a final answer in this long (seconds) takes the
   * trunk out of service at once, without waiting for the transaction's 32 s timeout (the
   * request keeps being retransmitted, and a late answer restores service). Keepalives use
   * min(keepaliveSeconds, this).
   */
  responseTimeoutSeconds: int(1, 32).default(5),
  /**
   * Addresses (IP or CIDR) calls from this trunk come from. Default: the addresses the host
   * (and outbound proxy) resolve to. Requests from anywhere else get 403.
   */
  peers: z.array(addressOrCidr, { error: 'must be a list of addresses' }).optional(),
  /** Accept only requests whose From host is one of these (carriers that sign with a domain); empty: any. */
  fromHosts: z.array(nonEmpty, { error: 'must be a list of host names' }).default(() => []),
  /** Calls at once on this trunk; the next route is tried when it is full. */
  maxChannels: int(1, 100_000).default(30),
  /** OPTIONS keepalive interval (seconds); 0: none, the trunk is always in service. */
  keepaliveSeconds: int(0, 3600).default(30),
  /** A call not answered with any provisional or final response in this long fails over to the next route (seconds). */
  setupTimeoutSeconds: int(1, 120).default(10),
  /** Calls from this trunk may leave through a trunk again (forward, transfer, route), and calls to it may come from one. */
  allowTrunkToTrunk: z.boolean({ error: need('must be true or false') }).default(false),
  /**
   * User rights (dialPlan.userRights name) that bar and route calls coming in on this trunk when
   * a route sends them on to a number outside; absent: only allowTrunkToTrunk decides.
   */
  rights: name.optional(),
  /** How callers are presented: from (number in From), pai (account in From, number in P-Asserted-Identity), withheld. */
  callerId: z.enum(['from', 'pai', 'withheld'], { error: 'must be from, pai or withheld' }).default('from'),
  /** Prepended to an extension to make the number presented to the carrier (e.g. "44207946"); "" presents the extension. */
  callerIdPrefix: digits('a string of digits').default(''),
  numbering: NumberingSchema.prefault({}),
  /** In a solution: the node this trunk is on (a nodes[].name); default: the primary. */
  node: name.optional(),
});

export type TrunkConfig = z.output<typeof TrunkSchema>;
export type NumberingConfig = z.output<typeof NumberingSchema>;
