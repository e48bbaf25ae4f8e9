/**
 * Replication between the two cores over the bus: each core publishes its journal (voicemail
 * messages and their state, greetings, PINs, phone settings, hunt group state; see
 * src/core/journal.ts) to a stream in its own JetStream domain, the message audio and greetings
 * to an object store there, and replays the other core's stream through a durable consumer it
 * holds on that stream. One writer per stream; no quorum.
 *
 * Nothing is lost either way: an entry leaves the journal only once the stream has it (the
 * stream's acknowledgement), audio is stored before the entry that names it is published, the
 * consumer's position is kept by the peer's server, and each entry is applied idempotently
 * (entries are numbered per origin, messages named by uid), so a repeat changes nothing.
 */
import { readFileSync } from 'node:fs';
import type { NatsConnection } from '@nats-io/transport-node';
import { DeliverPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { Objm, type ObjectStore } from '@nats-io/obj';
import type { Journal, JournalEntry } from '../core/journal.js';
import type { Logger } from '../core/logger.js';
import type { Store } from '../core/store.js';
import { mailboxCopyOf, type MailboxCopy } from '../features/voicemail/store-types.js';
import type { HuntGroupSnapshot } from '../features/huntgroups/types.js';
import type { Bus } from './bus.js';

/** The stream of node `name`'s journal, its subject, and its object store (in its own domain). */
export const journalStream = (name: string) => `PBX_J_${name}`;
export const journalSubject = (name: string) => `pbx.j.${name}`;
export const audioBucket = (name: string) => `pbx-vm-${name}`;

const DAY_NS = 24 * 3600 * 1e9;
/** An entry whose audio cannot be read is read again for this long before it is skipped (ms). */
const MISSING_AUDIO_MS = 15_000;
/** A fetch not over this long after it asked (1 s) is given up and the peer read again (ms). */
const FETCH_GUARD_MS = 8000;
/** Entries of a core away for longer than this are gone from its peer's stream: restore it from a backup. */
const KEEP_DAYS = 90;

/** Where replayed entries go: the node's features (absent: that feature is off here). */
export interface ReplicaTargets {
  mailboxes?: {
    applyCopy(c: MailboxCopy, audio?: Uint8Array): boolean;
    messageFile(uid: string): string | undefined;
    greetingFile(mailbox: string): string | undefined;
  };
  settings?: { applyCopy(extension: string, changes: unknown): void };
  hunt?: { applyCopy(s: HuntGroupSnapshot): void };
}

export interface ReplicationOptions {
  bus: Bus;
  self: string;
  peer: string;
  journal: Journal;
  store: Store;
  targets: ReplicaTargets;
  logger: Logger;
  /** Pause after a failure before trying again (ms); default 1000. */
  retryMs?: number;
}

interface Wire {
  origin: string;
  seq: number;
  kind: string;
  data: unknown;
  at: number;
}

export class Replication {
  readonly #o: ReplicationOptions;
  #published: number;
  /** The peer's last entry applied here (its journal seq: entries at or below it are repeats). */
  #applied: number;
  /** Position in the peer's stream up to which it is applied (the stream's seq). */
  #position: number;
  #batch: ConsumerMessages | undefined;
  /** The entry whose audio could not be read, since when (ms). */
  #missing: { seq: number; since: number } | undefined;
  /** The peer's entries not yet applied, as its stream last said; undefined: not known yet. */
  #peerPending: number | undefined;
  #generation = 0;
  /** Wakes the publisher's pause (an entry was appended). */
  #wake: (() => void) | undefined;
  /** Pauses in progress, ended by close(). */
  readonly #pauses = new Map<NodeJS.Timeout, () => void>();
  readonly #loops = new Set<Promise<void>>();
  readonly #complained = new Set<string>();
  #closed = false;
  readonly #onAppended = () => this.#wake?.();

  constructor(o: ReplicationOptions) {
    if (o?.self === o?.peer || typeof o?.self !== 'string') throw new TypeError('peer: must be another node');
    this.#o = o;
    this.#published = Number(o.store.getMeta('replication.published') ?? 0);
    this.#applied = Number(o.store.getMeta(`replication.applied.${o.peer}`) ?? 0);
    this.#position = Number(o.store.getMeta(`replication.position.${o.peer}`) ?? 0);
  }

  start(): void {
    this.#o.journal.on('appended', this.#onAppended);
    this.#o.bus.onConnected((nc) => {
      if (this.#closed) return;
      const gen = ++this.#generation;
      for (const end of [...this.#pauses.values()]) end();
      this.#run(this.#publish(nc, gen));
      this.#run(this.#consume(nc, gen));
    });
  }

  /** Both ways settled: every entry of ours is on the bus, and every entry of the peer's it holds is applied here. */
  get caughtUp(): boolean {
    return this.#published >= this.#o.journal.last && this.#peerPending === 0;
  }

  status(): Record<string, unknown> {
    return {
      peer: this.#o.peer,
      published: this.#published,
      unpublished: Math.max(0, this.#o.journal.last - this.#published),
      applied: this.#applied,
      peerPending: this.#peerPending,
      caughtUp: this.caughtUp,
    };
  }

  #run(p: Promise<void>): void {
    const loop = p.catch((e: unknown) => this.#o.logger.error(`replication: ${(e as Error).message}`)).finally(() => this.#loops.delete(loop));
    this.#loops.add(loop);
  }

  #live(nc: NatsConnection, gen: number): boolean {
    return !this.#closed && gen === this.#generation && !nc.isClosed();
  }

  /** Waits `ms`; `wakeable`: an appended entry ends the wait early (the publisher's pauses). */
  #pause(ms: number, wakeable: boolean): Promise<void> {
    return new Promise((done) => {
      const end = () => {
        clearTimeout(t);
        this.#pauses.delete(t);
        if (this.#wake === end) this.#wake = undefined;
        done();
      };
      const t = setTimeout(end, ms);
      this.#pauses.set(t, end);
      if (wakeable) this.#wake = end;
    });
  }

  /** A failure logged once until it clears (the bus being away is not news every second). */
  #complain(what: string, e: unknown): void {
    if (this.#complained.has(what)) return;
    this.#complained.add(what);
    this.#o.logger.warn(`replication: ${what}: ${(e as Error).message}; retrying`);
  }

  async #publish(nc: NatsConnection, gen: number): Promise<void> {
    const { self, journal, store } = this.#o;
    let bucket: ObjectStore | undefined;
    while (this.#live(nc, gen)) {
      try {
        if (!bucket) {
          const jsm = await jetstreamManager(nc);
          await jsm.streams.add({
            name: journalStream(self), subjects: [journalSubject(self)], storage: StorageType.File, retention: RetentionPolicy.Limits,
            max_age: KEEP_DAYS * DAY_NS, duplicate_window: 120e9,
          }).catch(async (e: unknown) => {
            // there already (a restart): fine as it is
            if (!(await jsm.streams.info(journalStream(self)).catch(() => undefined))) throw e;
          });
          bucket = await new Objm(nc).create(audioBucket(self), { storage: StorageType.File });
        }
        const entries = journal.after(this.#published, 100);
        if (entries.length === 0) {
          this.#complained.delete('publishing');
          await this.#pause(1000, true);
          continue;
        }
        const js = jetstream(nc);
        for (const e of entries) {
          if (!this.#live(nc, gen)) return;
          await this.#upload(bucket, e);
          const wire: Wire = { origin: self, seq: e.seq, kind: e.kind, data: e.data, at: e.at };
          // the same entry published twice (an acknowledgement lost) is stored once
          await js.publish(journalSubject(self), JSON.stringify(wire), { msgID: `${self}-${e.seq}` });
          if (e.kind === 'vm.delete') await bucket.delete(`vm/${(e.data as { uid: string }).uid}`).catch(() => undefined);
          this.#published = e.seq;
          store.setMeta('replication.published', String(e.seq));
          this.#o.logger.debug('replication: published', { kind: e.kind, seq: e.seq });
        }
        journal.trim(this.#published);
        this.#complained.delete('publishing');
      } catch (e) {
        this.#complain('publishing', e);
        bucket = undefined;
        await this.#pause(this.#o.retryMs ?? 1000, true);
      }
    }
  }

  /** The audio an entry names goes first (a message gone since is published without it: its deletion follows). */
  async #upload(bucket: ObjectStore, e: JournalEntry): Promise<void> {
    const boxes = this.#o.targets.mailboxes;
    if (!boxes) return;
    let name: string | undefined;
    let file: string | undefined;
    if (e.kind === 'vm.message') {
      const uid = (e.data as { uid: string }).uid;
      name = `vm/${uid}`;
      file = boxes.messageFile(uid);
    } else if (e.kind === 'vm.greeting') {
      const mailbox = (e.data as { mailbox: string }).mailbox;
      name = `greeting/${mailbox}`;
      file = boxes.greetingFile(mailbox);
    }
    if (!name || !file) return;
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch {
      return;
    }
    await bucket.putBlob({ name }, bytes);
  }

  /**
   * Replays the peer's stream in order from the position kept here (an ordered consumer: no
   * state on the peer, never a gap or a reordering); a failure starts again from that position.
   */
  async #consume(nc: NatsConnection, gen: number): Promise<void> {
    const { peer, store, logger } = this.#o;
    while (this.#live(nc, gen)) {
      try {
        const jsm = await jetstreamManager(nc, { domain: peer, timeout: 2000 });
        const info = await jsm.streams.info(journalStream(peer));
        if (info.state.last_seq < this.#position) {
          // the peer's stream was made anew (its store rebuilt): read it from the start
          logger.warn('replication: the peer\'s stream is new, replaying it from the start', { peer, had: this.#position, last: info.state.last_seq });
          this.#position = 0;
          this.#applied = 0;
        }
        const js = jetstream(nc, { domain: peer, timeout: 5000 });
        const consumer = await js.consumers.get(journalStream(peer), {
          deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: this.#position + 1,
        });
        const objects = await new Objm(js).open(audioBucket(peer));
        if (this.#complained.delete('reading the peer')) logger.info('replication: reading the peer again', { peer });
        while (this.#live(nc, gen)) {
          const batch = await consumer.fetch({ max_messages: 100, expires: 1000 });
          this.#batch = batch;
          // a fetch whose answer is lost (the leaf link went away) would wait for ever
          let hung = false;
          const guard = setTimeout(() => {
            hung = true;
            batch.stop();
          }, FETCH_GUARD_MS);
          let n = 0;
          try {
            for await (const m of batch) {
              n++;
              await this.#apply(m, objects);
              this.#position = m.seq;
              store.setMeta(`replication.position.${peer}`, String(m.seq));
              this.#peerPending = m.info.pending;
            }
          } finally {
            clearTimeout(guard);
            this.#batch = undefined;
          }
          if (hung) throw new Error('a fetch from the peer did not end');
          if (n === 0) this.#peerPending = 0;
        }
      } catch (e) {
        // the peer is away (or its stream not there yet): its entries wait for us there
        this.#batch = undefined;
        this.#peerPending = undefined;
        if (!this.#live(nc, gen)) return;
        this.#complain('reading the peer', e);
        await this.#pause(this.#o.retryMs ?? 1000, false);
      }
    }
  }

  async #apply(m: JsMsg, objects: ObjectStore): Promise<void> {
    const { peer, store, targets, logger } = this.#o;
    let w: Wire;
    try {
      w = m.json<Wire>();
    } catch {
      logger.warn('replication: an entry that is not JSON, skipped', { peer, streamSeq: m.seq });
      return;
    }
    if (w.origin !== peer || !Number.isSafeInteger(w.seq) || w.seq <= this.#applied) return;
    try {
      if (w.kind.startsWith('vm.')) {
        if (targets.mailboxes) {
          const copy = mailboxCopyOf(w.kind, w.data);
          // fetching may fail (the bus): that throws past here, and the entry comes again
          const audio = copy.kind === 'vm.message' ? await objects.getBlob(`vm/${copy.uid}`)
            : copy.kind === 'vm.greeting' ? await objects.getBlob(`greeting/${copy.mailbox}`) : null;
          if (audio === null && (copy.kind === 'vm.message' || copy.kind === 'vm.greeting')) {
            // The audio is stored before its entry, so it is there unless the message was deleted
            // at its origin since (its deletion follows): read again for a while before skipping it.
            const first = this.#missing?.seq === w.seq ? this.#missing.since : Date.now();
            this.#missing = { seq: w.seq, since: first };
            if (Date.now() - first < MISSING_AUDIO_MS) throw new Error(`the audio of entry ${w.seq} (${copy.kind}) is not readable yet`);
            logger.warn('replication: audio gone from the peer, entry skipped', { peer, kind: copy.kind, seq: w.seq });
          } else {
            this.#applyLocally(() => targets.mailboxes!.applyCopy(copy, audio ?? undefined), w);
          }
        }
      } else if (w.kind === 'settings') {
        const d = w.data as { extension: string; changes: unknown };
        this.#applyLocally(() => targets.settings?.applyCopy(d.extension, d.changes), w);
      } else if (w.kind === 'hunt') {
        this.#applyLocally(() => targets.hunt?.applyCopy(w.data as HuntGroupSnapshot), w);
      } else {
        logger.warn('replication: an entry of an unknown kind, skipped', { peer, kind: w.kind, seq: w.seq });
      }
    } catch (e) {
      if (!(e instanceof TypeError)) throw e;
      logger.error(`replication: entry ${w.seq} of ${peer} (${w.kind}) refused: ${e.message}`);
    }
    this.#applied = w.seq;
    store.setMeta(`replication.applied.${peer}`, String(w.seq));
    logger.debug('replication: applied', { peer, kind: w.kind, seq: w.seq, streamSeq: m.seq });
  }

  /** A feature's error on one entry is logged and the entry skipped: one bad entry must not stop the rest. */
  #applyLocally(fn: () => unknown, w: Wire): void {
    try {
      fn();
    } catch (e) {
      if (e instanceof TypeError) throw e;
      this.#o.logger.error(`replication: entry ${w.seq} of ${w.origin} (${w.kind}) not applied: ${(e as Error).message}`);
    }
  }

  /** Stops publishing and reading; idempotent. What is not published stays in the journal. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#o.journal.off('appended', this.#onAppended);
    for (const end of [...this.#pauses.values()]) end();
    this.#batch?.stop();
    await Promise.all([...this.#loops]);
  }
}
