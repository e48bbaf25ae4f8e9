/**
 * The configuration a node runs on, across live changes: the document it started on (what a
 * restart-only change is measured against), the one in force with its text and revision, and
 * what waits for a restart. apply() is the body of Server.reconfigure().
 */
import { stringify } from 'yaml';
import type { Config } from './core/config/index.js';
import { digestOf, type ConfigRevisions } from './core/config/revisions.js';
import type { Logger } from './core/logger.js';
import { getProfile } from './core/profiles.js';
import type { Store } from './core/store.js';
import { applyLive, planChanges, type LiveState, type ReconfigureResult } from './reconfigure.js';

export interface ReconfigureOptions {
  /** The document's text, kept with the revision (default: the configuration written out as YAML). */
  text?: string;
  /** Who made the change, for the revision history (an admin account, 'bus'). Default 'api'. */
  actor?: string;
  /** The revision to give it (the solution bus's); must be above the one in force. Default: the next. */
  revision?: number;
}

/** What apply() works with: the node's store and revisions, and what the features were built on. */
export interface ApplyContext {
  store: Store;
  revisions: ConfigRevisions;
  live: LiveState;
  log: Logger;
}

export class ConfigState {
  readonly started: Config;
  #config: Config;
  #source: { text: string; path: string | undefined };
  #revision = 0;
  #pending: string[] = [];

  constructor(config: Config, source: { text: string; path?: string } | undefined) {
    this.started = config;
    this.#config = config;
    this.#source = { text: source?.text ?? stringify(config), path: source?.path };
  }

  get config(): Config {
    return this.#config;
  }

  get source(): { readonly text: string; readonly path: string | undefined } {
    return this.#source;
  }

  get revision(): number {
    return this.#revision;
  }

  get pending(): readonly string[] {
    return this.#pending;
  }

  /** The document the node started on is a new revision unless it is the one kept last. */
  recordStart(revs: ConfigRevisions): void {
    const latest = revs.latest();
    this.#revision = latest && latest.digest === digestOf(this.#source.text) ? latest.revision : revs.record(this.#source.text, 'start').revision;
  }

  async apply(next: Config, options: ReconfigureOptions, ctx: ApplyContext): Promise<ReconfigureResult> {
    if (!next || typeof next !== 'object' || !Array.isArray(next.users) || typeof next.sip !== 'object') {
      throw new TypeError('next: a validated configuration expected (loadConfig, parseConfig)');
    }
    if (!options || typeof options !== 'object') throw new TypeError('options: object expected');
    if (options.revision !== undefined && !Number.isSafeInteger(options.revision)) throw new TypeError('options.revision: must be an integer');
    if (options.text !== undefined && typeof options.text !== 'string') throw new TypeError('options.text: must be a string');
    if (options.actor !== undefined && (typeof options.actor !== 'string' || options.actor === '')) throw new TypeError('options.actor: must be a non-empty string');
    if (options.revision !== undefined && options.revision <= this.#revision) {
      return { status: 'stale', revision: this.#revision, applied: [], pending: [...this.#pending] };
    }
    const plan = planChanges(this.started, this.#config, next);
    const text = options.text ?? stringify(next);
    const samePending = plan.pending.length === this.#pending.length && plan.pending.every((x) => this.#pending.includes(x));
    if (plan.applied.length === 0 && samePending && digestOf(text) === digestOf(this.#source.text)) {
      return { status: 'unchanged', revision: this.#revision, applied: [], pending: [...this.#pending] };
    }
    const maxDefault = getProfile(this.started.node.profile).sipTrunkChannels;
    // one transaction: the revision is kept only if everything applied
    const rev = ctx.store.transaction(() => {
      const r = ctx.revisions.record(text, options.actor ?? 'api', options.revision);
      applyLive(ctx.live, next, plan.applied, maxDefault);
      return r;
    })();
    this.#config = next;
    this.#source = { text, path: this.#source.path };
    this.#revision = rev.revision;
    this.#pending = plan.pending;
    ctx.log.info('configuration applied', { revision: rev.revision, actor: rev.actor, applied: plan.applied, pending: plan.pending });
    return { status: 'applied', revision: rev.revision, applied: plan.applied, pending: plan.pending };
  }
}
