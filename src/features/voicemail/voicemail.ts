/**
 * Voicemail on a node: the mailboxes (one per user and per hunt group, from configuration), the
 * voicemail ports (the most callers recording or listening at once: the node profile's voicemail
 * channels unless configured), and the two services the B2BUA hands callers to: `deposit`
 * (leave a message in LocalCallInfo.target's mailbox) and `collect` (listen; target is the
 * caller's own mailbox, or '' to ask for one).
 *
 * Message waiting and email are outside: they follow the store's 'change' events and
 * onMessage, so this module knows nothing of SUBSCRIBE or SMTP.
 */
import type { VoicemailConfig } from '../../core/config/voicemail-schema.js';
import type { Journal } from '../../core/journal.js';
import type { Logger } from '../../core/logger.js';
import type { Store } from '../../core/store.js';
import type { LocalCall, LocalService } from '../calls/index.js';
import { collectMessages, type CollectContext } from './collect.js';
import { PinGuard } from './pin-guard.js';
import type { Alarms } from '../../core/alarms.js';
import { leaveMessage, type DepositContext } from './deposit.js';
import { loadVoicemailPrompts, type VoicemailPrompts } from './prompts.js';
import { MailboxStore, type MailboxDef, type MessageInfo } from './store.js';

export type { MailboxDef, MessageInfo } from './store.js';
export { MailboxStore } from './store.js';

export interface VoicemailOptions {
  db: Store;
  logger: Logger;
  config: VoicemailConfig;
  mailboxes: MailboxDef[];
  /** Voicemail ports of the node (profile: 100 DL360, 40 DL120, 0 IP500V2); config.channels overrides. */
  channels: number;
  /** A new message was kept (email forwarding). */
  onMessage?: (m: MessageInfo, mailbox: MailboxDef) => void;
  /** Where changes other nodes must replay are recorded (see MailboxStore). */
  journal?: Journal;
  /** PIN lockouts are raised here. */
  alarms?: Alarms;
}

export class Voicemail {
  readonly store: MailboxStore;
  readonly channels: number;
  readonly deposit: LocalService;
  readonly collect: LocalService;
  readonly #log: Logger;
  readonly #prompts: VoicemailPrompts;
  readonly #active = new Set<LocalCall>();
  readonly #ctx: DepositContext & CollectContext;
  readonly stats = { deposits: 0, collects: 0, refusedBusy: 0 };
  #closed = false;

  /** Reads the prompts and opens the store (recovering messages cut short by a crash); throws naming what is wrong. */
  constructor(opts: VoicemailOptions) {
    if (!opts || typeof opts !== 'object') throw new TypeError('opts: object expected');
    if (!opts.config || typeof opts.config !== 'object') throw new TypeError('opts.config: voicemail configuration expected');
    if (!Array.isArray(opts.mailboxes)) throw new TypeError('opts.mailboxes: array expected');
    if (!Number.isInteger(opts.channels) || opts.channels < 0) throw new TypeError('opts.channels: integer >= 0 expected');
    const c = opts.config;
    this.#log = opts.logger.child({ feature: 'voicemail' });
    this.channels = c.channels ?? opts.channels;
    this.#prompts = loadVoicemailPrompts(c.promptsDir);
    this.store = new MailboxStore({
      store: opts.db, dir: c.dir, mailboxes: opts.mailboxes, logger: this.#log,
      mailboxQuotaMinutes: c.mailboxQuotaMinutes, nodeQuotaMinutes: c.nodeQuotaMinutes,
      minFreeBytes: c.minFreeMegabytes * 1024 * 1024,
      maxMessageMs: c.maxMessageSeconds * 1000,
      journal: opts.journal,
    });
    const store = this.store;
    const lock = c.pin.lockout;
    const guard = new PinGuard({ maxFailures: lock.maxFailures, windowMs: lock.windowSeconds * 1000, lockoutMs: lock.lockoutSeconds * 1000, logger: this.#log, alarms: opts.alarms });
    this.#ctx = {
      store, prompts: this.#prompts, config: c, log: this.#log, guard,
      onMessage: (m) => {
        const box = store.mailbox(m.mailbox);
        if (box) opts.onMessage?.(m, box);
      },
    };
    this.deposit = { accept: (call) => this.#take(call, 'deposit') };
    this.collect = { accept: (call) => this.#take(call, 'collect') };
  }

  /** True when a caller can be taken now (a port is free). */
  get available(): boolean {
    return !this.#closed && this.#active.size < this.channels;
  }

  /** True when `mailbox` is a mailbox of this node. */
  has(mailbox: string): boolean {
    return this.store.mailbox(mailbox) !== undefined;
  }

  #take(call: LocalCall, what: 'deposit' | 'collect'): void {
    if (this.#closed) return call.reject(503, 'Service Unavailable (voicemail is shutting down)');
    if (this.#active.size >= this.channels) {
      this.stats.refusedBusy++;
      this.#log.warn(`voicemail: all ${this.channels} ports busy`, { call: call.info.id });
      return call.reject(486, `Busy Here (all ${this.channels} voicemail ports in use)`);
    }
    const target = call.info.target;
    this.#active.add(call);
    call.onEnd(() => this.#active.delete(call));
    const ctx = this.#ctx;
    const run = what === 'deposit'
      ? (this.stats.deposits++, leaveMessage(call, target, ctx))
      : (this.stats.collects++, collectMessages(call, target && this.has(target) ? target : undefined, ctx));
    run.catch((e: unknown) => {
      this.#log.error(`voicemail ${what} failed: ${(e as Error).message}`, { call: call.info.id });
      call.hangup();
    });
  }

  status(): { ports: number; inUse: number; messages: number; minutes: number; nodeQuotaMinutes: number } {
    return { ports: this.channels, inUse: this.#active.size, ...this.store.usage() };
  }

  /** Hangs up callers (a message being recorded is kept: the recorder closes its file). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const call of [...this.#active]) call.hangup();
    this.store.close();
  }
}
