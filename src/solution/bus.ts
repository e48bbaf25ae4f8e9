/**
 * This node's connection to the solution bus (NATS). Connecting never holds up the node: a
 * node that cannot reach the bus starts and runs on its last applied configuration, and this
 * keeps trying in the background. Once connected, the NATS client reconnects by itself (to
 * either core), and a fresh connection replaces it when it does not soon; the state is named, logged on each change, and shown in the node's status.
 * Features never see this: they see the directory (directory.ts).
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../core/logger.js';

/** off: no bus (one node); connecting: first attempt; connected; unreachable: no server answers (retrying); closed. */
export type BusState = 'connecting' | 'connected' | 'unreachable' | 'closed';

export interface BusOptions {
  /** This node's name (the connection's name on the servers). */
  name: string;
  /** "host:port" of the cores' nats-servers, the preferred one first. */
  servers: string[];
  user: string;
  password: string | null;
  logger: Logger;
  /** How long a silent server is tolerated before the client reconnects (ms); default 2000. */
  pingIntervalMs?: number;
  /** Pause between connection attempts while no server answers (ms); default 500. */
  retryMs?: number;
}

export class Bus {
  readonly #o: BusOptions;
  #state: BusState = 'connecting';
  #nc: NatsConnection | undefined;
  #since = Date.now();
  #retry: NodeJS.Timeout | undefined;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #closed = false;
  readonly #listeners = new Set<(nc: NatsConnection) => void>();
  readonly #stateListeners = new Set<(s: BusState) => void>();

  constructor(o: BusOptions) {
    if (typeof o?.name !== 'string' || o.name === '') throw new TypeError('name: must be a non-empty string');
    if (!Array.isArray(o.servers) || o.servers.length === 0) throw new TypeError('servers: must list at least one "host:port"');
    this.#o = o;
  }

  get state(): BusState {
    return this.#state;
  }

  /** The connection while connected (or reconnecting underneath). */
  get connection(): NatsConnection | undefined {
    return this.#nc;
  }

  /** `fn(connection)` now if connected, and on every later (re)connection. */
  onConnected(fn: (nc: NatsConnection) => void): void {
    this.#listeners.add(fn);
    if (this.#nc && this.#state === 'connected') fn(this.#nc);
  }

  onState(fn: (s: BusState) => void): void {
    this.#stateListeners.add(fn);
  }

  /** Since when the connection is up (ms since the epoch); undefined while it is not. */
  get connectedSince(): number | undefined {
    return this.#state === 'connected' ? this.#since : undefined;
  }

  status(): { state: BusState; since: string; server: string | undefined } {
    return { state: this.#state, since: new Date(this.#since).toISOString(), server: this.#state === 'connected' ? this.#nc?.getServer() : undefined };
  }

  /** Starts connecting in the background; returns at once. */
  start(): void {
    this.#loop ??= this.#run();
  }

  #set(state: BusState, detail: Record<string, unknown> = {}): void {
    if (state === this.#state) return;
    this.#state = state;
    this.#since = Date.now();
    const log = this.#o.logger;
    if (state === 'connected') log.info('bus: connected', { node: this.#o.name, server: this.#nc?.getServer(), ...detail });
    else if (state === 'unreachable') log.warn('bus: unreachable, running on the last applied configuration; retrying', { node: this.#o.name, servers: this.#o.servers, ...detail });
    for (const fn of this.#stateListeners) fn(state);
  }

  async #run(): Promise<void> {
    const o = this.#o;
    while (!this.#closed) {
      let nc: NatsConnection;
      try {
        nc = await connect({
          servers: o.servers,
          name: `pbx-${o.name}`,
          user: o.password === null ? undefined : o.user,
          pass: o.password ?? undefined,
          timeout: 2000,
          reconnect: true,
          maxReconnectAttempts: -1,
          reconnectTimeWait: o.retryMs ?? 500,
          pingInterval: o.pingIntervalMs ?? 2000,
          maxPingOut: 2,
        });
      } catch (e) {
        this.#set('unreachable', { error: (e as Error).message });
        await this.#pause(o.retryMs ?? 500);
        continue;
      }
      if (this.#closed) {
        await nc.close().catch(() => {});
        return;
      }
      this.#nc = nc;
      this.#set('connected');
      for (const fn of this.#listeners) fn(nc);
      // The client drops from its list every server that failed its first connection (a core
      // still starting then), and reconnects only to the ones left: a connection not back soon
      // is closed, and the next one starts from the whole list again.
      let stale: NodeJS.Timeout | undefined;
      const watch = (async () => {
        for await (const s of nc.status()) {
          if (s.type === 'disconnect') {
            this.#set('unreachable', { server: s.server });
            clearTimeout(stale);
            stale = setTimeout(() => void nc.close().catch(() => {}), 2 * (o.retryMs ?? 500));
          } else if (s.type === 'reconnect') {
            clearTimeout(stale);
            this.#set('connected');
            for (const fn of this.#listeners) fn(nc);
          }
        }
      })();
      await nc.closed();
      clearTimeout(stale);
      await watch.catch(() => {});
      this.#nc = undefined;
      if (!this.#closed) this.#set('unreachable');
    }
  }

  #pause(ms: number): Promise<void> {
    return new Promise((done) => {
      this.#wake = done;
      this.#retry = setTimeout(done, ms);
    });
  }

  /** Closes the connection and stops retrying; idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return this.#loop;
    this.#closed = true;
    clearTimeout(this.#retry);
    this.#wake?.();
    const nc = this.#nc;
    if (nc) await nc.close().catch(() => {});
    await this.#loop;
    this.#state = 'closed';
  }
}
