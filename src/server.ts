import { randomBytes } from 'node:crypto';
import type { Config } from './core/config/index.js';
import type { Logger } from './core/logger.js';
import { getProfile } from './core/profiles.js';
import { Store } from './core/store.js';
import { LocationStore } from './features/registrar/location.js';
import { Lockout } from './features/registrar/lockout.js';
import { Registrar } from './features/registrar/registrar.js';
import { DigestServer } from './sip/auth/digest.js';
import type { SipRequest } from './sip/message/message.js';
import { SipStack } from './sip/stack.js';
import type { ServerTransaction } from './sip/transaction/server.js';

/** Methods this node answers; the stack refuses the rest with 405/501. */
const METHODS = ['REGISTER', 'OPTIONS', 'INVITE', 'ACK', 'BYE', 'CANCEL'];

/**
 * One node of the solution: the store, the SIP stack and the features, wired from one
 * validated configuration. `close()` leaves no socket, timer or database handle behind.
 */
export class Server {
  readonly config: Config;
  readonly #log: Logger;
  #store: Store | undefined;
  #stack: SipStack | undefined;
  #location: LocationStore | undefined;
  #registrar: Registrar | undefined;
  #users = new Map<string, string>();
  #closed = false;

  constructor(config: Config, logger: Logger) {
    this.config = config;
    this.#log = logger;
  }

  get stack(): SipStack {
    if (!this.#stack) throw new Error('server not started');
    return this.#stack;
  }

  get location(): LocationStore {
    if (!this.#location) throw new Error('server not started');
    return this.#location;
  }

  get registrar(): Registrar {
    if (!this.#registrar) throw new Error('server not started');
    return this.#registrar;
  }

  async start(): Promise<void> {
    const c = this.config;
    const log = this.#log;
    const profile = getProfile(c.node.profile);
    for (const u of c.users) this.#users.set(u.extension, u.password);

    this.#store = Store.open(c.storage.path);
    const secret = c.security.secret !== null
      ? Buffer.from(c.security.secret, 'utf8')
      : Buffer.from(this.#store.getOrCreateMeta('digest.secret', () => randomBytes(32).toString('hex')), 'hex');
    const digest = new DigestServer({
      realm: c.sip.domain,
      secret,
      nonceLifetimeMs: c.security.digest.nonceLifetimeSeconds * 1000,
      algorithms: [...c.security.digest.algorithms],
    });
    this.#location = new LocationStore(this.#store);
    const lockout = new Lockout({
      maxFailures: c.security.lockout.maxFailures,
      windowMs: c.security.lockout.windowSeconds * 1000,
      lockoutMs: c.security.lockout.lockoutSeconds * 1000,
    });

    const stack = new SipStack({
      listen: c.sip.listen.map((l) => ({ ...l })),
      maxMessageSize: c.sip.maxMessageSize,
      t1: c.sip.timers.t1,
      t2: c.sip.timers.t2,
      t4: c.sip.timers.t4,
      userAgent: c.sip.userAgent,
      logger: log,
      methods: METHODS,
      supported: ['path', 'outbound', 'replaces'],
      accept: ['application/sdp'],
      onRequest: (req, tx) => this.#onRequest(req, tx),
      onFlowClosed: (flowId) => this.#location?.flowClosed(flowId),
    });
    this.#stack = stack;

    const domains = new Set<string>([c.sip.domain.toLowerCase(), 'localhost']);
    for (const l of c.sip.listen) domains.add(l.address.toLowerCase());
    this.#registrar = new Registrar({
      stack,
      location: this.#location,
      digest,
      lockout,
      logger: log,
      domains,
      minExpires: c.registrar.minExpires,
      maxExpires: c.registrar.maxExpires,
      defaultExpires: c.registrar.defaultExpires,
      maxContactsPerUser: c.registrar.maxContactsPerUser,
      userCapacity: profile.users,
      password: (ext) => this.#users.get(ext),
    });
    this.#location.onRemoved = (b, why) => log.info(`binding removed (${why})`, { aor: b.aor, contact: b.contact });

    try {
      await stack.start();
    } catch (e) {
      await this.close();
      throw e;
    }
    log.info('server started', {
      node: c.node.name,
      role: c.node.role,
      profile: c.node.profile,
      listen: c.sip.listen.map((l) => `${l.transport}:${l.address}:${l.port}`),
      users: c.users.length,
      bindings: this.#location.size,
    });
  }

  #onRequest(req: SipRequest, tx: ServerTransaction): void {
    const stack = this.#stack!;
    switch (req.method) {
      case 'REGISTER':
        this.#registrar!.handle(req, tx);
        return;
      case 'OPTIONS': {
        const res = stack.createResponse(req, 200);
        res.set('allow', METHODS.join(', '));
        res.set('accept', 'application/sdp');
        res.set('supported', 'path, outbound, replaces');
        stack.respond(tx, res);
        return;
      }
      default:
        // Calls land with the calls feature; until then a clear refusal.
        stack.respond(tx, stack.createResponse(req, req.method === 'INVITE' ? 480 : 481, req.method === 'INVITE' ? 'Temporarily Unavailable (calls not enabled on this node)' : undefined));
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#stack?.close();
    this.#location?.close();
    this.#store?.close();
    this.#log.info('server stopped', { node: this.config.node.name });
  }
}
