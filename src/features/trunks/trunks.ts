/**
 * The trunks of this node: builds one Trunk per configured trunk, starts and stops them, tells
 * which trunk an incoming request comes from and which can take an outgoing call. The node's
 * profile caps the SIP trunk channels of all its trunks together (each trunk's maxChannels can
 * add up to more: a carrier's contract is not the node's capacity).
 */
import { EventEmitter } from 'node:events';
import type { TrunkConfig } from '../../core/config/index.js';
import type { Logger } from '../../core/logger.js';
import { SipResolver } from '../../sip/dns/resolver.js';
import type { SipRequest } from '../../sip/message/message.js';
import type { SipStack } from '../../sip/stack.js';
import { Trunk, type TrunkState, type TrunkStatus } from './trunk.js';

export interface TrunksOptions {
  stack: SipStack;
  logger: Logger;
  /** Validated trunk configurations, in the order identify() and pick() try them. */
  trunks: readonly TrunkConfig[];
  /** RFC 3263 resolver to share; default one of our own (closed with us). */
  resolver?: SipResolver;
  /** User part of our Contact in REGISTER (default: each trunk's username). */
  contactUser?: string;
  /** SIP trunk channels of the node, all trunks together (the profile's); default: no node cap. */
  nodeChannels?: number;
}

/** Peer host names are resolved again this often, so a carrier moving its addresses is followed. */
export const PEER_REFRESH_MS = 5 * 60_000;

export class Trunks extends EventEmitter<{ 'channel-free': [Trunk]; state: [Trunk, TrunkState] }> {
  readonly #trunks = new Map<string, Trunk>();
  readonly #log: Logger;
  readonly #resolver: SipResolver;
  readonly #ownResolver: boolean;
  #refresh: NodeJS.Timeout | undefined;
  /** Channels taken on all trunks together, against the node's cap. */
  #inUse = 0;
  readonly #nodeChannels: number;
  #started = false;
  #closed: Promise<void> | undefined;

  constructor(opts: TrunksOptions) {
    super();
    if (opts === null || typeof opts !== 'object') throw new TypeError('opts: must be an object');
    if (opts.stack === null || typeof opts.stack !== 'object') throw new TypeError('stack: must be a SipStack');
    if (opts.logger === null || typeof opts.logger !== 'object') throw new TypeError('logger: must be a Logger');
    if (!Array.isArray(opts.trunks)) throw new TypeError('trunks: must be a list of trunk configurations');
    if (opts.contactUser !== undefined && (typeof opts.contactUser !== 'string' || opts.contactUser === '')) {
      throw new TypeError('contactUser: must be a non-empty string');
    }
    if (opts.nodeChannels !== undefined && (!Number.isInteger(opts.nodeChannels) || opts.nodeChannels < 0)) {
      throw new TypeError('nodeChannels: must be an integer >= 0');
    }
    this.#nodeChannels = opts.nodeChannels ?? Infinity;
    this.#log = opts.logger;
    this.#ownResolver = opts.resolver === undefined;
    this.#resolver = opts.resolver ?? new SipResolver();
    const ctx = {
      stack: opts.stack,
      logger: opts.logger,
      resolver: this.#resolver,
      contactUser: opts.contactUser,
      onState: (t: Trunk, s: TrunkState) => this.emit('state', t, s),
      onChannelFree: (t: Trunk) => {
        this.#inUse--;
        this.emit('channel-free', t);
      },
      nodeChannels: () => this.#nodeFree(),
      onChannelTaken: () => void this.#inUse++,
    };
    opts.trunks.forEach((cfg, i) => {
      if (cfg === null || typeof cfg !== 'object' || typeof cfg.name !== 'string') throw new TypeError(`trunks[${i}]: must be a trunk configuration`);
      if (this.#trunks.has(cfg.name)) throw new TypeError(`trunks[${i}].name: '${cfg.name}' is used twice`);
      if (cfg.type === 'registration' && cfg.username === undefined) {
        throw new TypeError(`trunks[${i}].username: a registration trunk needs one`);
      }
      this.#trunks.set(cfg.name, new Trunk(cfg, ctx));
    });
  }

  /** Resolves peers, then starts registrations and keepalives. Never throws for a dead carrier. */
  async start(): Promise<void> {
    if (this.#started || this.#closed) return;
    this.#started = true;
    await this.#refreshPeers();
    if (this.#closed) return;
    for (const t of this.#trunks.values()) t.start();
    this.#refresh = setInterval(() => void this.#refreshPeers(), PEER_REFRESH_MS);
    this.#refresh.unref();
  }

  /** Unregisters (best effort, bounded wait) and stops every timer. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      clearInterval(this.#refresh);
      await Promise.all([...this.#trunks.values()].map((t) => t.close()));
      if (this.#ownResolver) this.#resolver.close();
    })();
    return this.#closed;
  }

  /** The trunk a request comes from (source among its peers, From host allowed), first in config order. */
  identify(req: SipRequest, source: { address: string; port: number; protocol: string }): Trunk | undefined {
    let fromHost: string | undefined;
    try {
      fromHost = req.from.uri.host;
    } catch {
      fromHost = undefined; // a From we cannot parse only fails trunks that filter on fromHosts
    }
    for (const t of this.#trunks.values()) if (t.accepts(source.address, fromHost)) return t;
    return undefined;
  }

  inGroup(lineGroup: number): Trunk[] {
    return [...this.#trunks.values()].filter((t) => t.lineGroup === lineGroup);
  }

  available(lineGroup: number): boolean {
    return this.pick(lineGroup) !== undefined;
  }

  /** The first trunk of the group that is in service with a free channel (it is not acquired). */
  pick(lineGroup: number): Trunk | undefined {
    for (const t of this.#trunks.values()) {
      if (t.lineGroup === lineGroup && t.inService && t.hasFreeChannel) return t;
    }
    return undefined;
  }

  /** Trunk channels in use on the node and its cap (the profile's SIP trunk channels). */
  get channels(): { used: number; limit: number } {
    return { used: this.#inUse, limit: this.#nodeChannels };
  }

  /** Whether the node's cap leaves a trunk channel free, and the refusal's reason when not. */
  #nodeFree(): { free: boolean; reason: string } {
    if (this.#inUse < this.#nodeChannels) return { free: true, reason: '' };
    return { free: false, reason: `all ${this.#nodeChannels} SIP trunk channels of this node in use` };
  }

  get(name: string): Trunk | undefined {
    return this.#trunks.get(name);
  }

  status(): TrunkStatus[] {
    return [...this.#trunks.values()].map((t) => t.status());
  }

  async #refreshPeers(): Promise<void> {
    await Promise.all([...this.#trunks.values()].map(async (t) => {
      try {
        await t.refreshPeers();
      } catch (err) {
        this.#log.warn('trunk peer addresses not resolved', { trunk: t.name, err: (err as Error).message });
      }
    }));
  }
}
