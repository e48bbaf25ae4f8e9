/**
 * The admin API (src/admin/): the HTTP API, the web console and /metrics of this node, on their
 * own address (loopback by default), and the node's scheduled backups.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { int, need, nonEmpty } from './fields.js';

const ADDRESS_ERROR = 'must be an IPv4 or IPv6 address';

export const AdminSchema = z.strictObject({
  /** Serve the admin API, the console and /metrics. */
  enabled: z.boolean({ error: need('must be true or false') }).default(true),
  /** Local IP address to listen on; any address that is not loopback needs certificate and privateKey (HTTPS). */
  address: z.string({ error: need(ADDRESS_ERROR) }).refine((s) => isIP(s) !== 0, { error: ADDRESS_ERROR }).default('127.0.0.1'),
  /** TCP port. */
  port: int(1, 65535).default(8090),
  /** PEM certificate chain file: with privateKey, the API is served over HTTPS. */
  certificate: nonEmpty.optional(),
  /** PEM private key file of the certificate. */
  privateKey: nonEmpty.optional(),
  /** A session ends after this long without a request (minutes). */
  sessionIdleMinutes: int(1, 1440).default(15),
  /** A session ends this long after its login, however busy (hours). */
  sessionMaxHours: int(1, 168).default(12),
  /** Login lockout: after maxFailures wrong passwords for one account (from any address) or from one address (for any account) within windowSeconds, logins there are refused for lockoutSeconds. */
  login: z
    .strictObject({
      maxFailures: int(1, 1000).default(5),
      windowSeconds: int(1, 86_400).default(300),
      lockoutSeconds: int(1, 604_800).default(900),
    })
    .prefault({}),
  /** Serve /metrics without a login (for a Prometheus on this machine); otherwise it needs an account (HTTP Basic or a session). */
  openMetrics: z.boolean({ error: need('must be true or false') }).default(false),
  /** Scheduled local backups (the same file set as `pbx backup`). */
  backup: z
    .strictObject({
      /** Folder the backups are written to, one folder per backup. */
      dir: nonEmpty.default('var/backup'),
      /** Hours between scheduled backups; 0: no scheduled backups. */
      everyHours: int(0, 8760).default(0),
      /** Scheduled backups kept; older ones are removed after each new one. */
      keep: int(1, 1000).default(7),
    })
    .prefault({}),
});

export type AdminConfig = z.output<typeof AdminSchema>;
