/**
 * One SIP trunk: where its requests go, whether it can take a call now (registration,
 * keepalive, free channels), which sources are its peers, and how numbers and callers are
 * written towards its carrier.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { TrunkConfig } from '../../core/config/index.js';
import type { Logger } from '../../core/logger.js';
import { DigestClient } from '../../sip/auth/digest.js';
import type { SipResolver } from '../../sip/dns/resolver.js';
import { SipStack } from '../../sip/stack.js';
import type { Target, TransportProtocol } from '../../sip/transport/types.js';
import { AddressBlock, addressBytes, inBlocks } from './cidr.js';
import { Keepalive } from './keepalive.js';
import { callerIdentity, incomingNumber, outgoingNumber, type Caller, type Identity } from './numbering.js';
import { Registration, type RegistrationState } from './registration.js';

export type TrunkState = 'in-service' | 'out-of-service';

export interface TrunkStatus {
  name: string;
  lineGroup: number;
  type: 'registration' | 'peer';
  state: TrunkState;
  registration: 'none' | 'registering' | 'registered' | 'failed';
  channels: number;
  maxChannels: number;
  lastError?: string;
}

/** What a trunk needs from the Trunks manager that owns it. */
export interface TrunkContext {
  stack: SipStack;
  logger: Logger;
  resolver: SipResolver;
  contactUser: string | undefined;
  onState(trunk: Trunk, state: TrunkState): void;
  onChannelFree(trunk: Trunk): void;
  /** Whether the node's cap on trunk channels (all trunks together) leaves one free, and why not. */
  nodeChannels(): { free: boolean; reason: string };
  onChannelTaken(trunk: Trunk): void;
}

/** "host", "host:port", "[v6]:port" or a bare IPv6 address. */
function parseHop(text: string): { host: string; port?: number } {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (v6) return v6[2] === undefined ? { host: v6[1] } : { host: v6[1], port: Number(v6[2]) };
  const colon = text.indexOf(':');
  if (colon < 0 || text.indexOf(':', colon + 1) >= 0) return { host: text };
  return { host: text.slice(0, colon), port: Number(text.slice(colon + 1)) };
}

export class Trunk {
  readonly config: TrunkConfig;
  readonly name: string;
  readonly lineGroup: number;
  /** For answering a carrier's 401/407 to our INVITE; undefined without a password. */
  readonly digest: DigestClient | undefined;
  /** The carrier's SIP domain: request URIs, From and To. */
  readonly domain: string;
  readonly #ctx: TrunkContext;
  readonly #log: Logger;
  readonly #registration: Registration | undefined;
  readonly #keepalive: Keepalive | undefined;
  /** Configured peers; when there are none, the addresses host/outboundProxy resolve to. */
  readonly #configuredPeers: AddressBlock[] | undefined;
  #resolvedPeers: AddressBlock[] = [];
  readonly #fromHosts: Set<string>;
  #channels = 0;
  #inService = false;
  #closed = false;

  /** Made by Trunks; `config` is a validated TrunkConfig. */
  constructor(config: TrunkConfig, ctx: TrunkContext) {
    this.config = config;
    this.name = config.name;
    this.lineGroup = config.lineGroup;
    this.domain = config.domain ?? parseHop(config.host).host;
    this.#ctx = ctx;
    this.#log = ctx.logger.child({ trunk: config.name });
    const authUser = config.authUsername ?? config.username;
    this.digest = config.password !== undefined && authUser !== undefined ? new DigestClient(authUser, config.password) : undefined;
    this.#configuredPeers = config.peers?.map((p) => new AddressBlock(p));
    this.#fromHosts = new Set(config.fromHosts.map((h) => h.toLowerCase()));
    const user = ctx.contactUser ?? config.username ?? 'pbx';
    const target = () => this.target();
    const onChange = () => this.#update();
    if (config.type === 'registration') {
      this.#registration = new Registration({
        stack: ctx.stack, config, domain: this.domain, contactUser: user, digest: this.digest, logger: this.#log, target, onChange,
      });
    }
    if (config.keepaliveSeconds > 0) {
      this.#keepalive = new Keepalive({ stack: ctx.stack, config, domain: this.domain, fromUser: user, target, onChange });
    }
    this.#inService = this.#compute();
  }

  /** Registration trunks: registered and the keepalive answered; peer trunks: the keepalive answered. */
  get inService(): boolean {
    return this.#inService;
  }

  get channels(): number {
    return this.#channels;
  }

  get hasFreeChannel(): boolean {
    return this.#channels < this.config.maxChannels && this.#ctx.nodeChannels().free;
  }

  /** Why the trunk has no free channel now: its own limit or the node's (the refusal's reason). */
  busyReason(): string {
    if (this.#channels >= this.config.maxChannels) return `all ${this.config.maxChannels} channels of trunk ${this.name} in use`;
    return this.#ctx.nodeChannels().reason || `trunk ${this.name} is out of service`;
  }

  /** Takes a channel for a call; false when the trunk is full or out of service, or the node's trunk channels are all in use. */
  acquire(direction: 'out' | 'in' = 'out'): boolean {
    // a call coming in proves the carrier is there, whatever the keepalive last saw
    if (this.#closed || (direction === 'out' && !this.#inService) || this.#channels >= this.config.maxChannels) return false;
    const node = this.#ctx.nodeChannels();
    if (!node.free) {
      this.#log.warn('trunk call refused: node trunk channel limit reached', { direction, reason: node.reason });
      return false;
    }
    this.#channels++;
    this.#ctx.onChannelTaken(this);
    return true;
  }

  /** Frees a channel taken by acquire(); callers waiting for a route hear 'channel-free'. */
  release(): void {
    if (this.#channels === 0) {
      this.#log.warn('trunk channel released that was not taken');
      return;
    }
    this.#channels--;
    this.#ctx.onChannelFree(this);
  }

  /** Where this trunk's requests go: the outbound proxy, else the host (RFC 3263). */
  async target(): Promise<Target> {
    const hop = this.config.outboundProxy !== undefined
      ? parseHop(this.config.outboundProxy)
      : { host: parseHop(this.config.host).host, port: this.config.port };
    const protocol: TransportProtocol = this.config.transport;
    let reason: string;
    try {
      const targets = await this.#ctx.resolver.resolveTargets({ host: hop.host, port: hop.port, transport: protocol });
      if (targets.length > 0) return targets[0];
      reason = 'no targets';
    } catch (err) {
      reason = (err as Error).message;
    }
    if (isIP(hop.host) === 0) {
      // The DNS-only resolver does not read /etc/hosts (localhost, names set up by the operator).
      try {
        const a = await lookup(hop.host);
        return { protocol, address: a.address, port: hop.port ?? (protocol === 'tls' ? 5061 : 5060) };
      } catch {
        // report the resolver's reason below
      }
    }
    throw new Error(`trunk ${this.name}: cannot resolve ${hop.host}: ${reason}`);
  }

  /** Request-URI for a call to `number` (numbering applied). */
  requestUri(number: string): string {
    return `sip:${this.outgoingNumber(number)}@${this.domain}`;
  }

  outgoingNumber(number: string): string {
    return outgoingNumber(this.config.numbering, number);
  }

  incomingNumber(number: string): string {
    return incomingNumber(this.config.numbering, number);
  }

  /** From (with a fresh tag) and identity headers for a call to the carrier. */
  identity(caller: Caller): Identity {
    return callerIdentity(this.config, this.domain, caller, SipStack.tag());
  }

  /** True when a request from `address` with From host `fromHost` belongs to this trunk. */
  accepts(address: string, fromHost: string | undefined): boolean {
    if (!inBlocks(this.#configuredPeers ?? this.#resolvedPeers, address)) return false;
    if (this.#fromHosts.size === 0) return true;
    if (fromHost === undefined) return false;
    const h = fromHost.toLowerCase();
    return this.#fromHosts.has(h.startsWith('[') ? h.slice(1, -1) : h);
  }

  /** Re-resolves the host and outbound proxy into peer addresses (when none are configured). */
  async refreshPeers(): Promise<void> {
    if (this.#configuredPeers !== undefined) return;
    const names = [parseHop(this.config.host)];
    if (this.config.outboundProxy !== undefined) names.push(parseHop(this.config.outboundProxy));
    const found = new Set<string>();
    await Promise.all(names.map(async ({ host, port }) => {
      if (isIP(host) !== 0) {
        found.add(host);
        return;
      }
      const [srv, hosts] = await Promise.allSettled([
        this.#ctx.resolver.resolveTargets({ host, port: port ?? this.config.port, transport: this.config.transport }),
        lookup(host, { all: true }),
      ]);
      if (srv.status === 'fulfilled') for (const t of srv.value) found.add(t.address);
      if (hosts.status === 'fulfilled') for (const a of hosts.value) found.add(a.address);
    }));
    const blocks = [...found].filter((a) => addressBytes(a) !== undefined).map((a) => new AddressBlock(a));
    // A DNS outage must not turn away a carrier we knew: keep the last answer then.
    if (blocks.length === 0 && this.#resolvedPeers.length > 0) {
      this.#log.warn('trunk peer addresses could not be refreshed; keeping the previous ones');
      return;
    }
    if (blocks.length === 0) this.#log.warn('trunk host does not resolve: no peer addresses yet', { host: this.config.host });
    this.#resolvedPeers = blocks;
  }

  /** Starts registration and keepalive (neither throws: a dead carrier just stays out of service). */
  start(): void {
    if (this.#closed) return;
    this.#registration?.start();
    this.#keepalive?.start();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#keepalive?.close();
    await this.#registration?.close();
  }

  status(): TrunkStatus {
    const lastError = this.#registration?.lastError ?? this.#keepalive?.lastError;
    const s: TrunkStatus = {
      name: this.name,
      lineGroup: this.lineGroup,
      type: this.config.type,
      state: this.#inService ? 'in-service' : 'out-of-service',
      registration: this.#registration?.state ?? 'none',
      channels: this.#channels,
      maxChannels: this.config.maxChannels,
    };
    if (lastError !== undefined) s.lastError = lastError;
    return s;
  }

  get registrationState(): RegistrationState {
    return this.#registration?.state ?? 'none';
  }

  #compute(): boolean {
    const alive = this.#keepalive === undefined || this.#keepalive.alive;
    return this.#registration === undefined ? alive : alive && this.#registration.state === 'registered';
  }

  #update(): void {
    const now = this.#compute();
    if (now === this.#inService || this.#closed) return;
    this.#inService = now;
    const state: TrunkState = now ? 'in-service' : 'out-of-service';
    const reason = this.status().lastError;
    if (now) this.#log.info('trunk in service');
    else this.#log.warn('trunk out of service', reason !== undefined ? { reason } : undefined);
    this.#ctx.onState(this, state);
  }
}
