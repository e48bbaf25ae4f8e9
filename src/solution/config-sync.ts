/**
 * The configuration on the bus: a KV bucket written by the primary only, one entry per object
 * of the document and a manifest (`commit`) written last, after every entry it lists is stored.
 * The secondary's server keeps a mirror of the bucket in its own JetStream domain, so the
 * document stays readable from the secondary when the primary is gone. Every node follows the
 * bucket (from the primary's domain, else the secondary's mirror) and hands each complete
 * document to its applier.
 */
import type { NatsConnection, QueuedIterator } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Kvm, type KV, type KvWatchEntry } from '@nats-io/kv';
import type { Logger } from '../core/logger.js';
import type { Raw } from '../core/config/fields.js';
import type { Bus } from './bus.js';
import { assembleDocument, digest, splitDocument, type EntryCache, type Manifest } from './entries.js';
import type { SolutionDocument } from './document.js';

export const CONFIG_BUCKET = 'pbx-config';
export const COMMIT_KEY = 'commit';

function manifestOf(text: string | undefined): Manifest | undefined {
  if (text === undefined) return undefined;
  try {
    const m = JSON.parse(text) as Manifest;
    return Number.isInteger(m.revision) && Array.isArray(m.order) && typeof m.digests === 'object' ? m : undefined;
  } catch {
    return undefined;
  }
}

/** The bucket in this server's own domain, created on first use (the primary writes it). */
export async function openOwnBucket(nc: NatsConnection): Promise<KV> {
  return new Kvm(nc).create(CONFIG_BUCKET, { history: 1 });
}

/**
 * Publishes `doc` as revision (last published, or `atLeast`) + 1, writing only the entries
 * that changed and deleting those gone; returns the manifest now on the bus (the current one,
 * unchanged, when the content is the same).
 */
export async function publishDocument(nc: NatsConnection, doc: SolutionDocument, o: { publisher: string; atLeast: number }): Promise<{ manifest: Manifest; changed: number }> {
  const kv = await openOwnBucket(nc);
  const got = await kv.get(COMMIT_KEY);
  const current = got && got.operation === 'PUT' ? manifestOf(got.string()) : undefined;
  if (current && current.hash === doc.hash) return { manifest: current, changed: 0 };
  const { entries, hash } = splitDocument(doc.raw as Raw);
  const digests: Record<string, string> = {};
  for (const [k, v] of entries) digests[k] = digest(v);
  const changed = [...entries].filter(([k]) => current?.digests[k] !== digests[k]);
  await Promise.all(changed.map(([k, v]) => kv.put(k, v)));
  const gone = Object.keys(current?.digests ?? {}).filter((k) => !(k in digests));
  await Promise.all(gone.map((k) => kv.delete(k)));
  const manifest: Manifest = {
    revision: Math.max(current?.revision ?? 0, o.atLeast) + 1,
    hash,
    order: [...entries.keys()],
    digests,
    publisher: o.publisher,
    publishedAt: new Date().toISOString(),
  };
  // written last: a follower that sees it already holds every entry it lists
  await kv.put(COMMIT_KEY, JSON.stringify(manifest));
  return { manifest, changed: changed.length + gone.length };
}

/** The secondary's mirror of the primary's bucket, in the secondary's own domain. */
export async function ensureMirror(nc: NatsConnection, primaryDomain: string): Promise<void> {
  await new Kvm(nc).create(CONFIG_BUCKET, { mirror: { name: CONFIG_BUCKET, domain: primaryDomain } });
}

export interface ConfigFollowerOptions {
  bus: Bus;
  /** JetStream domains to read the bucket from, in order of preference (primary, then secondary). */
  domains: string[];
  logger: Logger;
  /** A complete document of the bus, with its manifest and the entries it was assembled from. */
  onDocument: (manifest: Manifest, raw: Raw, entries: ReadonlyMap<string, string>) => void;
  /** Pause before trying the domains again when none answers (ms). */
  retryMs?: number;
}

/** Follows the configuration bucket: every complete document it sees goes to onDocument. */
export class ConfigFollower {
  readonly #o: ConfigFollowerOptions;
  #generation = 0;
  #watch: QueuedIterator<KvWatchEntry> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #source: string | undefined;
  #closed = false;

  constructor(o: ConfigFollowerOptions) {
    if (!Array.isArray(o?.domains) || o.domains.length === 0) throw new TypeError('domains: must name at least one JetStream domain');
    this.#o = o;
  }

  /** The domain whose bucket is followed now. */
  get source(): string | undefined {
    return this.#source;
  }

  start(): void {
    this.#o.bus.onConnected((nc) => this.#restart(nc));
  }

  #restart(nc: NatsConnection): void {
    if (this.#closed) return;
    const gen = ++this.#generation;
    this.#watch?.stop();
    this.#watch = undefined;
    clearTimeout(this.#timer);
    void this.#follow(nc, gen);
  }

  async #follow(nc: NatsConnection, gen: number): Promise<void> {
    const held = new Map<string, string>();
    const digests = new Map<string, string>();
    // entries parsed once: an object unchanged between revisions is the same value in both
    const parsed: EntryCache = new Map();
    for (const domain of this.#o.domains) {
      if (gen !== this.#generation) return;
      let watch: QueuedIterator<KvWatchEntry>;
      try {
        const kv = await new Kvm(jetstream(nc, { domain, timeout: 2000 })).open(CONFIG_BUCKET);
        watch = await kv.watch({ key: '>' });
      } catch (e) {
        this.#o.logger.debug(`bus: configuration not readable from ${domain}: ${(e as Error).message}`);
        continue;
      }
      if (gen !== this.#generation) {
        watch.stop();
        return;
      }
      this.#watch = watch;
      this.#source = domain;
      this.#o.logger.info('bus: following the configuration', { from: domain });
      try {
        for await (const e of watch) {
          if (e.operation === 'PUT') {
            const text = e.string();
            held.set(e.key, text);
            digests.set(e.key, digest(text));
          } else {
            held.delete(e.key);
            digests.delete(e.key);
            parsed.delete(e.key);
          }
          if (e.key !== COMMIT_KEY || e.operation !== 'PUT') continue;
          const manifest = manifestOf(e.string());
          const raw = manifest && assembleDocument(manifest, held, digests, parsed);
          if (manifest && raw) this.#o.onDocument(manifest, raw, held);
        }
      } catch (err) {
        this.#o.logger.warn(`bus: configuration watch ended: ${(err as Error).message}`);
      }
      this.#source = undefined;
      break;
    }
    // nothing readable (the bucket is not there yet, or no core answers), or the watch ended
    if (gen === this.#generation && !this.#closed && !nc.isClosed()) {
      this.#timer = setTimeout(() => {
        if (gen === this.#generation) void this.#follow(nc, gen);
      }, this.#o.retryMs ?? 1000);
    }
  }

  close(): void {
    this.#closed = true;
    this.#generation++;
    clearTimeout(this.#timer);
    this.#watch?.stop();
    this.#watch = undefined;
  }
}
