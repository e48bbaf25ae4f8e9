/**
 * Locating SIP servers (RFC 3263 section 4) from a host name: SRV (RFC 2782 ordering) then
 * A/AAAA, with answers cached for their TTL. NAPTR is not consulted: without it RFC 3263 4.1
 * has the client try SRV for the transports it supports, which is what this does.
 */
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { TransportError, type Target, type TransportProtocol } from '../transport/types.js';

export interface SipUriLocation {
  host: string;
  port?: number;
  /** The uri's transport parameter (udp, tcp, tls, ws, wss; sctp is not supported). */
  transport?: string;
  /** sips: URI. */
  secure?: boolean;
}

export interface ResolveOptions {
  /** DNS servers as 'ip' or 'ip:port'; default the system's. */
  servers?: string[];
  /** Per-try timeout in ms (default 2000). */
  timeoutMs?: number;
  /** Tries per query (default 2). */
  tries?: number;
  /** node's resolver does not report SRV TTLs: SRV answers are kept this long (default 60 s). */
  srvTtlMs?: number;
  /** How long "no such record" is remembered (default 30 s). */
  negativeTtlMs?: number;
  /** Random source in [0, 1) for SRV weights (tests). */
  random?: () => number;
  /** Clock in ms (tests). */
  now?: () => number;
}

interface SrvRecord { name: string; port: number; priority: number; weight: number }
interface CacheEntry<T> { expires: number; value: Promise<T> }

const NOT_FOUND: ReadonlySet<string> = new Set(['ENODATA', 'ENOTFOUND', 'NOTFOUND', 'ENONAME']);

/** Resolver with its own cache; share one per process (or per set of servers). */
export class SipResolver {
  readonly #dns: Resolver;
  readonly #srvTtl: number;
  readonly #negTtl: number;
  readonly #random: () => number;
  readonly #now: () => number;
  readonly #cache = new Map<string, CacheEntry<unknown>>();

  constructor(opts: ResolveOptions = {}) {
    if (opts.servers !== undefined && (!Array.isArray(opts.servers) || opts.servers.some((s) => typeof s !== 'string'))) {
      throw new TypeError("servers: array of 'ip[:port]' strings");
    }
    this.#dns = new Resolver({ timeout: opts.timeoutMs ?? 2000, tries: opts.tries ?? 2 });
    if (opts.servers) this.#dns.setServers(opts.servers);
    this.#srvTtl = opts.srvTtlMs ?? 60_000;
    this.#negTtl = opts.negativeTtlMs ?? 30_000;
    this.#random = opts.random ?? Math.random;
    this.#now = opts.now ?? Date.now;
  }

  async resolveTargets(uri: SipUriLocation): Promise<Target[]> {
    if (uri === null || typeof uri !== 'object' || typeof uri.host !== 'string' || uri.host === '') {
      throw new TypeError('uri.host: non-empty string');
    }
    if (uri.port !== undefined && !(Number.isInteger(uri.port) && uri.port > 0 && uri.port < 65536)) {
      throw new TypeError('uri.port: 1..65535');
    }
    const secure = uri.secure === true;
    const explicit = protocolOf(uri.transport, secure);
    let host = uri.host;
    if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
    if (host.endsWith('.')) host = host.slice(0, -1);
    if (isIP(host)) {
      const protocol = explicit ?? (secure ? 'tls' : 'udp');
      return [{ protocol, address: host, port: uri.port ?? defaultPort(protocol) }];
    }
    if (uri.port !== undefined) {
      return this.#addresses(host, explicit ?? (secure ? 'tls' : 'udp'), uri.port, true);
    }
    const srvProtocols: TransportProtocol[] = explicit !== undefined ? [explicit] : secure ? ['tls'] : ['udp', 'tcp'];
    const out: Target[] = [];
    for (const protocol of srvProtocols) {
      const service = srvPrefix(protocol);
      if (service === undefined) continue; // ws/wss have no SRV service name
      const records = await this.#srv(`${service}.${host}`);
      for (const r of orderSrv(records, this.#random)) {
        if (r.name === '' || r.name === '.') continue; // "service decidedly not available"
        for (const t of await this.#addresses(r.name, protocol, r.port, false)) out.push(t);
      }
      if (out.length > 0) break; // the first transport (udp, then tcp) with usable SRV records wins
    }
    if (out.length > 0) return out;
    const protocol = explicit ?? (secure ? 'tls' : 'udp');
    return this.#addresses(host, protocol, defaultPort(protocol), true);
  }

  clearCache(): void {
    this.#cache.clear();
  }

  /** Stops queries in flight (they reject with ECANCELLED). */
  close(): void {
    this.#dns.cancel();
    this.#cache.clear();
  }

  async #addresses(name: string, protocol: TransportProtocol, port: number, mustExist: boolean): Promise<Target[]> {
    const [v4, v6] = await Promise.allSettled([this.#lookup(name, 'A'), this.#lookup(name, 'AAAA')]);
    const out: Target[] = [];
    for (const r of [v4, v6]) {
      if (r.status === 'fulfilled') for (const address of r.value) out.push({ protocol, address, port });
    }
    if (out.length === 0 && mustExist) {
      const failed = [v4, v6].find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
      const code = (failed?.reason as NodeJS.ErrnoException | undefined)?.code ?? 'ENOTFOUND';
      throw new TransportError(code, `no address for ${name} (${code})`, { protocol, address: name, port });
    }
    return out;
  }

  #lookup(name: string, type: 'A' | 'AAAA'): Promise<string[]> {
    return this.#cached(`${type} ${name.toLowerCase()}`, async () => {
      try {
        const answers = type === 'A'
          ? await this.#dns.resolve4(name, { ttl: true })
          : await this.#dns.resolve6(name, { ttl: true });
        let ttl = Infinity;
        for (const a of answers) if (a.ttl < ttl) ttl = a.ttl;
        return { value: answers.map((a) => a.address), ttlMs: answers.length ? ttl * 1000 : this.#negTtl };
      } catch (err) {
        if (NOT_FOUND.has((err as NodeJS.ErrnoException).code ?? '')) return { value: [], ttlMs: this.#negTtl };
        throw err;
      }
    });
  }

  #srv(name: string): Promise<SrvRecord[]> {
    return this.#cached(`SRV ${name.toLowerCase()}`, async () => {
      try {
        const value = await this.#dns.resolveSrv(name);
        return { value, ttlMs: this.#srvTtl };
      } catch (err) {
        if (NOT_FOUND.has((err as NodeJS.ErrnoException).code ?? '')) return { value: [], ttlMs: this.#negTtl };
        // A broken SRV lookup must not hide a working A record: treat it as absent, briefly.
        return { value: [], ttlMs: Math.min(this.#negTtl, 5000) };
      }
    });
  }

  /** One entry per question; concurrent askers share the query in flight. Failures are not kept. */
  #cached<T>(key: string, query: () => Promise<{ value: T; ttlMs: number }>): Promise<T> {
    const now = this.#now();
    const hit = this.#cache.get(key);
    if (hit !== undefined && hit.expires > now) return hit.value as Promise<T>;
    const entry: CacheEntry<T> = { expires: Infinity, value: undefined as unknown as Promise<T> };
    entry.value = query().then(
      ({ value, ttlMs }) => {
        entry.expires = this.#now() + ttlMs;
        return value;
      },
      (err) => {
        if (this.#cache.get(key) === entry) this.#cache.delete(key);
        throw err;
      },
    );
    this.#cache.set(key, entry);
    return entry.value;
  }
}

function protocolOf(transport: string | undefined, secure: boolean): TransportProtocol | undefined {
  if (transport === undefined || transport === '') return undefined;
  switch (transport.toLowerCase()) {
    case 'udp': return secure ? 'tls' : 'udp';
    case 'tcp': return secure ? 'tls' : 'tcp';
    case 'tls': return 'tls';
    case 'ws': return secure ? 'wss' : 'ws';
    case 'wss': return 'wss';
    default: throw new TypeError(`uri.transport: unsupported transport ${transport}`);
  }
}

function srvPrefix(protocol: TransportProtocol): string | undefined {
  switch (protocol) {
    case 'udp': return '_sip._udp';
    case 'tcp': return '_sip._tcp';
    case 'tls': return '_sips._tcp';
    default: return undefined;
  }
}

function defaultPort(protocol: TransportProtocol): number {
  return protocol === 'tls' || protocol === 'wss' ? 5061 : 5060;
}

/**
 * RFC 2782 order: ascending priority; within a priority, repeatedly pick a record with
 * probability proportional to its weight (zero-weight records get a small chance, first).
 */
export function orderSrv<T extends { priority: number; weight: number }>(records: readonly T[], random: () => number = Math.random): T[] {
  const byPriority = [...records].sort((a, b) => a.priority - b.priority);
  const out: T[] = [];
  let i = 0;
  while (i < byPriority.length) {
    let j = i;
    while (j < byPriority.length && byPriority[j].priority === byPriority[i].priority) j++;
    // Zero weights first, as RFC 2782 asks, so they are chosen only when nothing else is.
    const group = byPriority.slice(i, j).sort((a, b) => (a.weight === 0 ? 0 : 1) - (b.weight === 0 ? 0 : 1));
    while (group.length > 0) {
      let total = 0;
      for (const r of group) total += r.weight;
      const pick = Math.floor(random() * (total + 1)); // uniform integer in [0, total]
      let sum = 0;
      let k = 0;
      for (; k < group.length - 1; k++) {
        sum += group[k].weight;
        if (sum >= pick) break;
      }
      out.push(group[k]);
      group.splice(k, 1);
    }
    i = j;
  }
  return out;
}

const shared = new Map<string, SipResolver>();

/**
 * RFC 3263 targets for a SIP URI's host part, in the order to try them. Resolvers (and their
 * caches) are shared per set of servers; tests pass `servers` to reach a local DNS server.
 */
export function resolveTargets(uri: SipUriLocation, opts: ResolveOptions = {}): Promise<Target[]> {
  const key = JSON.stringify([opts.servers ?? null, opts.timeoutMs, opts.tries, opts.srvTtlMs, opts.negativeTtlMs]);
  let r = shared.get(key);
  if (r === undefined || opts.random !== undefined || opts.now !== undefined) {
    r = new SipResolver(opts);
    if (opts.random === undefined && opts.now === undefined) shared.set(key, r);
  }
  return r.resolveTargets(uri);
}
