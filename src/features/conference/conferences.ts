/**
 * Meet-me and ad-hoc conferences mixed in the media engine.
 *
 * Meet-me: a caller dials a conference ID (the dial plan hands the call over as a LocalCall).
 * Open IDs (config openRooms, default 8000..8099) join without a PIN; configured rooms may ask
 * for a PIN and a moderator PIN. A party beyond the room's limit gets 486, beyond the node's
 * conference channels 503 with Retry-After, both before the answer; a PIN caller whose room
 * filled while typing hears "this conference is full" and is hung up.
 *
 * Ad-hoc: createAdHoc() gives a room with an ID from 100 up that the B2BUA fills with the legs
 * it merges; while it exists its ID cannot be joined as a meet-me room.
 *
 * Controls (see room.ts): *6 mute/unmute yourself; *7 (moderator) mute/unmute all others.
 */
import type { ConferenceConfig, ConferenceRoomConfig } from '../../core/config/conference-schema.js';
import type { Logger } from '../../core/logger.js';
import type { MediaEngine } from '../../media/index.js';
import type { LocalCall, LocalService } from '../calls/index.js';
import { askPin } from './pin.js';
import { loadPrompts, type Prompts } from './prompts.js';
import { ChannelPool, Room, sayTo, type Party, type Refusal } from './room.js';

export type { Party } from './room.js';
export { Room } from './room.js';

export interface ConferencesOptions {
  engine: MediaEngine;
  logger: Logger;
  config: ConferenceConfig;
  /** Conference channels of the node, all conferences together (profile: 128); config.maxChannels overrides. */
  channels: number;
  /** Parties in one conference (profile: 64); config.maxParties overrides. */
  maxParties: number;
}

export interface AdHocOptions {
  /** When all but one party have left, hang up the last one (default true). */
  dropLastParty?: boolean;
}

/**
 * An ad-hoc conference: the B2BUA adds the legs it merges. add() returns false when the room or
 * the node is full, or the leg's endpoint is still in a bridge (close the bridge first); remove()
 * gives a leg back without ending its call; 'end' fires when the last party has gone.
 */
export type AdHocConference = Pick<Room, 'id' | 'add' | 'remove' | 'kick' | 'has' | 'size' | 'closed' | 'close' | 'refusal' | 'parties' | 'on' | 'once' | 'off'>;

/** First ad-hoc ID; below the meet-me numbers so the two never meet in a default dial plan. */
export const FIRST_AD_HOC_ID = 100;

const ID = /^[0-9]{1,15}$/;

export class Conferences implements LocalService {
  readonly #o: ConferencesOptions;
  readonly #log: Logger;
  readonly #prompts: Prompts;
  readonly #pool: ChannelPool;
  readonly #maxParties: number;
  #configured: Map<string, ConferenceRoomConfig>;
  /** The conference section in force (reconfigure() swaps it). */
  #config: ConferenceConfig;
  readonly #rooms = new Map<string, Room>();
  /** Answered callers still typing a PIN (hung up by close()). */
  readonly #entering = new Set<LocalCall>();
  #closed = false;

  /** Reads the prompts: throws (naming the file) when one is missing, so a node cannot start without them. */
  constructor(opts: ConferencesOptions) {
    if (!opts || typeof opts !== 'object') throw new TypeError('opts: object expected');
    if (!opts.engine) throw new TypeError('opts.engine: MediaEngine expected');
    if (!opts.config || typeof opts.config !== 'object') throw new TypeError('opts.config: conference configuration expected');
    if (!Number.isInteger(opts.channels) || opts.channels < 0) throw new TypeError('opts.channels: integer >= 0 expected');
    if (!Number.isInteger(opts.maxParties) || opts.maxParties < 2) throw new TypeError('opts.maxParties: integer >= 2 expected');
    this.#o = opts;
    this.#log = opts.logger.child({ feature: 'conference' });
    this.#prompts = loadPrompts(opts.config.promptsDir);
    this.#pool = new ChannelPool(opts.config.maxChannels ?? opts.channels);
    this.#maxParties = opts.config.maxParties ?? opts.maxParties;
    this.#configured = new Map(opts.config.rooms.map((r) => [r.id, r]));
    this.#config = opts.config;
  }

  /**
   * A configuration change: rooms (PINs, limits), open rooms, PIN attempts and timeout, tones and
   * the alone prompt apply to callers who arrive from now on; parties already in a room stay.
   * The channel and party limits and the prompts folder stay as they were at start: a change
   * to them waits for a restart.
   */
  reconfigure(config: ConferenceConfig): void {
    if (!config || typeof config !== 'object' || !Array.isArray(config.rooms)) throw new TypeError('config: conference configuration expected');
    this.#configured = new Map(config.rooms.map((r) => [r.id, r]));
    this.#config = config;
  }

  /** Mutes or unmutes a party (by its label: the caller's number) in a live room; false when there is no such party. */
  setMuted(room: string, party: string, muted: boolean): boolean {
    if (typeof muted !== 'boolean') throw new TypeError('muted: must be a boolean');
    return this.#rooms.get(room)?.setMutedByLabel(party, muted) ?? false;
  }

  /** Takes a party (by its label) out of a live room and hangs it up; false when there is no such party. */
  drop(room: string, party: string): boolean {
    return this.#rooms.get(room)?.kickByLabel(party) ?? false;
  }

  /** A meet-me caller: refuse it with a clear response, or answer it, ask the PIN if any, and join it. */
  accept(call: LocalCall): void {
    const id = call.info.target;
    if (this.#closed) return call.reject(503, 'Service Unavailable (conferencing is shutting down)');
    if (typeof id !== 'string' || !ID.test(id)) return call.reject(404, `Not Found (${String(id)} is not a conference ID)`);
    const room = this.#rooms.get(id);
    if (room?.kind === 'ad-hoc') return call.reject(403, `Forbidden (conference ${id} is an ad-hoc conference)`);
    const cfg = this.#roomConfig(id);
    if (!cfg) return call.reject(404, `Not Found (no conference ${id})`);
    const refused = this.#refusal(id, cfg);
    if (refused) return this.#refuse(call, id, cfg, refused);
    call.answer();
    if (cfg.pin === undefined && cfg.moderatorPin === undefined) return this.#join(call, id, cfg, false);
    this.#entering.add(call);
    askPin(call, {
      pin: cfg.pin,
      moderatorPin: cfg.moderatorPin,
      attempts: this.#config.pinAttempts,
      timeoutMs: this.#config.pinTimeoutSeconds * 1000,
      prompts: this.#prompts,
    }).then(
      (r) => {
        this.#entering.delete(call);
        if (r === 'participant' || r === 'moderator') return this.#join(call, id, cfg, r === 'moderator');
        if (r === 'failed') {
          this.#log.info(`conference ${id}: ${call.info.caller} gave no right PIN in ${this.#config.pinAttempts} tries`);
          call.hangup();
        }
      },
      (e: unknown) => {
        this.#entering.delete(call);
        this.#log.error(`conference ${id}: PIN entry failed: ${(e as Error).message}`);
        call.hangup();
      },
    );
  }

  /** A new ad-hoc conference with the lowest free ID from 100 up; its ID is taken until it ends. */
  createAdHoc(opts: AdHocOptions = {}): AdHocConference {
    if (!opts || typeof opts !== 'object') throw new TypeError('opts: object expected');
    if (opts.dropLastParty !== undefined && typeof opts.dropLastParty !== 'boolean') throw new TypeError('opts.dropLastParty: boolean expected');
    if (this.#closed) throw new Error('conferences are closed');
    let n = FIRST_AD_HOC_ID;
    // configured meet-me rooms are skipped as well: their callers must never find an ad-hoc room
    while (this.#rooms.has(String(n)) || this.#configured.has(String(n))) n++;
    return this.#open(String(n), 'ad-hoc', this.#maxParties, opts.dropLastParty ?? true);
  }

  /** The live room with this ID, if any. */
  room(id: string): Room | undefined {
    return this.#rooms.get(id);
  }

  status(): { conferences: number; parties: number; channelsInUse: number; channels: number; rooms: { id: string; kind: string; parties: number }[] } {
    const rooms = [...this.#rooms.values()].map((r) => ({ id: r.id, kind: r.kind, parties: r.size }));
    return {
      conferences: rooms.length,
      parties: rooms.reduce((a, r) => a + r.parties, 0),
      channelsInUse: this.#pool.used,
      channels: this.#pool.total,
      rooms,
    };
  }

  /** Hangs up every party and PIN caller and ends every room. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const c of [...this.#entering]) c.hangup();
    this.#entering.clear();
    for (const r of [...this.#rooms.values()]) r.close();
    this.#rooms.clear();
  }

  /** A configured room, or an open one (no PIN) when the ID is in openRooms. */
  #roomConfig(id: string): ConferenceRoomConfig | undefined {
    const configured = this.#configured.get(id);
    if (configured) return configured;
    const open = this.#config.openRooms;
    if (open && id.length === open.first.length && id >= open.first && id <= open.last) return { id };
    return undefined;
  }

  #limit(cfg: ConferenceRoomConfig): number {
    return Math.min(cfg.maxParties ?? this.#maxParties, this.#maxParties);
  }

  #refusal(id: string, cfg: ConferenceRoomConfig): Refusal | undefined {
    const room = this.#rooms.get(id);
    if (room) return room.refusal();
    if (this.#pool.free <= 0) return 'channels';
    return this.#limit(cfg) < 1 ? 'full' : undefined;
  }

  #refuse(call: LocalCall, id: string, cfg: ConferenceRoomConfig, why: Refusal): void {
    this.#log.warn(`conference ${id}: ${call.info.caller} refused (${why})`, { call: call.info.id });
    if (why === 'full') return call.reject(486, `Busy Here (conference ${id} is full: ${this.#limit(cfg)} parties)`);
    const reason = why === 'channels' ? `all ${this.#pool.total} conference channels of this node in use` : `conference ${id} is ending`;
    call.reject(503, `Service Unavailable (${reason})`, { 'retry-after': '30' });
  }

  #join(call: LocalCall, id: string, cfg: ConferenceRoomConfig, moderator: boolean): void {
    if (call.ended) return;
    let room = this.#rooms.get(id);
    if (room?.kind === 'ad-hoc') room = undefined; // taken by an ad-hoc conference meanwhile: refused below
    let refused: Refusal | undefined;
    if (room) refused = room.refusal();
    else if (this.#rooms.has(id)) refused = 'closed';
    else if (this.#pool.free <= 0) refused = 'channels';
    if (refused === undefined) {
      room ??= this.#open(id, 'meet-me', this.#limit(cfg), false);
      if (room.add(call, { moderator, label: call.info.caller })) return;
      if (room.size === 0) room.close();
    }
    // answered already (a PIN caller whose room filled while typing): say so, then hang up
    this.#log.warn(`conference ${id}: ${call.info.caller} could not join after answer (${refused ?? 'media'})`, { call: call.info.id });
    void sayTo(call.endpoint, this.#prompts.full).then(() => call.hangup());
  }

  #open(id: string, kind: 'meet-me' | 'ad-hoc', maxParties: number, dropLastParty: boolean): Room {
    const c = this.#config;
    const room = new Room({
      id,
      kind,
      engine: this.#o.engine,
      pool: this.#pool,
      maxParties,
      prompts: this.#prompts,
      log: this.#log,
      dropLastParty,
      tones: c.entryExitTones,
      alonePrompt: kind === 'meet-me',
      aloneRepeatMs: c.aloneRepeatSeconds * 1000,
    });
    this.#rooms.set(id, room);
    room.once('end', () => {
      if (this.#rooms.get(id) === room) this.#rooms.delete(id);
    });
    this.#log.info(`conference ${id} started (${kind}, up to ${maxParties} parties)`);
    return room;
  }
}
