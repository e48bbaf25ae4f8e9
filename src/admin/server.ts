/**
 * The admin API of a node: fastify on its own address (loopback by default, HTTPS when a
 * certificate is configured), described by an OpenAPI document (GET /api/openapi.json), with
 * accounts and roles, sessions, the audit trail, the configuration, status and control of calls
 * in progress, Prometheus /metrics and the web console. One part of the node's lifecycle:
 * start() listens, close() closes the socket, its sessions and its timers.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import { isLoopback } from '../core/config/index.js';
import type { Logger } from '../core/logger.js';
import type { PbxNode } from '../node.js';
import { AccountError, Accounts, DEFAULT_ACCOUNT, DEFAULT_PASSWORD } from './accounts.js';
import { AlarmWatch } from './alarm-watch.js';
import { AuditTrail } from './audit.js';
import { ConfigChanges } from './config-changes.js';
import { ChangeRefused } from './config-doc.js';
import { authenticate, HttpError, type AdminContext } from './context.js';
import { LoginGuard } from './login-guard.js';
import { createMetrics } from './metrics.js';
import { accountRoutes } from './routes/accounts.js';
import { configRoutes } from './routes/config.js';
import { consoleRoutes, SECURITY_HEADERS } from './routes/console.js';
import { sessionRoutes } from './routes/session.js';
import { statusRoutes } from './routes/status.js';
import { Sessions } from './sessions.js';

export interface AdminServerOptions {
  node: PbxNode;
  logger: Logger;
}

export class AdminServer {
  readonly #node: PbxNode;
  readonly #log: Logger;
  #app: FastifyInstance | undefined;
  #ctx: AdminContext | undefined;
  #watch: AlarmWatch | undefined;
  #unrecord: (() => void) | undefined;
  #port: number | undefined;
  #closed = false;

  constructor(o: AdminServerOptions) {
    if (!o || typeof o !== 'object' || !o.node) throw new TypeError('options.node: PbxNode expected');
    this.#node = o.node;
    this.#log = o.logger.child({ part: 'admin' });
  }

  /** Where it listens (after start): for tests and `pbx status`. */
  get url(): string {
    const a = this.#node.config.admin;
    const host = a.address.includes(':') ? `[${a.address}]` : a.address;
    return `${a.certificate ? 'https' : 'http'}://${host}:${this.#port ?? a.port}`;
  }

  async start(): Promise<void> {
    const n = this.#node;
    const a = n.started.admin;
    const accounts = new Accounts(n.store);
    await this.#firstAccount(accounts, a.address);
    const guard = new LoginGuard({ maxFailures: a.login.maxFailures, windowMs: a.login.windowSeconds * 1000, lockoutMs: a.login.lockoutSeconds * 1000 });
    const sessions = new Sessions({ idleMs: a.sessionIdleMinutes * 60_000, maxAgeMs: a.sessionMaxHours * 3_600_000 });
    const audit = new AuditTrail(n.store);
    const counters = { loginFailures: 0, lockouts: 0 };
    const ctx: AdminContext = {
      node: n, log: this.#log, accounts, sessions, guard, audit, counters,
      changes: new ConfigChanges(n, audit, this.#log), secure: a.certificate !== undefined,
    };
    this.#ctx = ctx;
    const https = a.certificate !== undefined ? { cert: readFileSync(resolve(a.certificate)), key: readFileSync(resolve(a.privateKey!)) } : null;
    const app = Fastify({ https, logger: false, bodyLimit: 2 * 1024 * 1024, trustProxy: false, forceCloseConnections: true }) as unknown as FastifyInstance;
    this.#app = app;
    await app.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: { title: 'pbx-core admin API', version: '1', description: 'Status, configuration, accounts, audit trail and call control of one node. Log in with POST /api/login and send the token as a bearer token.' },
        components: { securitySchemes: { session: { type: 'http', scheme: 'bearer' } } },
        security: [{ session: [] }],
      },
    });
    app.decorateRequest('session', undefined);
    app.addHook('onRequest', async (req, reply) => {
      reply.headers(SECURITY_HEADERS);
      const cfg = req.routeOptions.config;
      await authenticate(ctx, req, cfg?.access ?? 'administrator', cfg?.basic === true);
    });
    app.addHook('onResponse', async (req, reply) => {
      this.#log.debug(`admin ${req.method} ${req.url.split('?')[0]} ${reply.statusCode}`, { address: req.ip, account: req.session?.account });
    });
    app.setErrorHandler((err: FastifyError | Error, req, reply) => {
      if (err instanceof HttpError) return reply.code(err.status).headers(err.headers).send({ error: err.message });
      if (err instanceof ChangeRefused) return reply.code(err.status).send({ error: err.message, problems: err.problems });
      if (err instanceof AccountError) return reply.code(err.field === 'name' && /taken/.test(err.message) ? 409 : 400).send({ error: err.message, field: err.field });
      const fe = err as FastifyError;
      if (fe.validation) return reply.code(400).send({ error: fe.message });
      if (typeof fe.statusCode === 'number' && fe.statusCode < 500) return reply.code(fe.statusCode).send({ error: fe.message });
      this.#log.error(`admin ${req.method} ${req.url.split('?')[0]} failed: ${err.message}`, { err });
      return reply.code(500).send({ error: 'internal error (logged on the node)' });
    });
    app.setNotFoundHandler((_req, reply) => reply.code(404).send({ error: 'not found' }));

    const metrics = createMetrics(n, counters, guard);
    this.#unrecord = n.onCallRecord(metrics.onRecord);
    app.get('/metrics', { config: { access: n.started.admin.openMetrics ? 'public' : 'read-only', basic: true }, schema: { summary: 'Prometheus metrics', tags: ['metrics'] } }, async (_req, reply) => {
      reply.type(metrics.registry.contentType);
      return metrics.registry.metrics();
    });
    app.get('/api/openapi.json', { config: { access: 'public' }, schema: { hide: true } }, async () => app.swagger());
    sessionRoutes(app, ctx);
    accountRoutes(app, ctx);
    statusRoutes(app, ctx);
    configRoutes(app, ctx);
    consoleRoutes(app);
    this.#watch = new AlarmWatch(n, guard);
    this.#watch.start();
    await app.listen({ host: a.address, port: a.port });
    const addr = app.server.address();
    this.#port = typeof addr === 'object' && addr ? addr.port : a.port;
    this.#log.info(`admin API and console at ${this.url}`, { accounts: accounts.size });
  }

  /**
   * A fresh node makes admin/admin on a loopback API (to be changed at the first login); a node
   * whose API is on another address never has a default password: it will not start with one.
   */
  async #firstAccount(accounts: Accounts, address: string): Promise<void> {
    if (isLoopback(address)) {
      if (await accounts.addDefault()) {
        this.#log.warn(`admin: no account yet: made "${DEFAULT_ACCOUNT}" with the password "${DEFAULT_PASSWORD}"; log in at the console and choose a new one`);
      }
      return;
    }
    const stale = accounts.list().filter((x) => x.defaultPassword);
    if (stale.length > 0) {
      throw new Error(`admin.address ${address} is not loopback and account ${stale.map((x) => x.name).join(', ')} still has its default password: set one with \`pbx account password ${stale[0]!.name}\` first`);
    }
    if (accounts.size === 0) this.#log.error('admin: no account can log in: make one with `pbx account add NAME --role administrator`');
  }

  /** The shared context (for tests). */
  get context(): AdminContext | undefined {
    return this.#ctx;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#watch?.close();
    this.#unrecord?.();
    this.#ctx?.sessions.close();
    await this.#app?.close();
  }
}
