/**
 * A conference room: parties whose endpoints are mixed in one engine conference (each hears the
 * sum of the others, never itself), with entry and exit tones, the "you are alone" prompt, the
 * DTMF controls, and the limits (parties in the room, channels of the node). Meet-me and ad-hoc
 * conferences are both rooms; what differs is how parties arrive (a dialled ID and a PIN, or the
 * B2BUA merging calls) and whether the last party is dropped.
 *
 * DTMF controls (a star, then a digit within 3 s):
 *   *6  mute / unmute yourself (you still hear everyone)
 *   *7  moderator only: mute every other participant; again: unmute them all
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../../core/logger.js';
import type { Conference, Endpoint, MediaEngine, Player } from '../../media/index.js';
import { ENTRY_TONE, EXIT_TONE, type PromptName, type Prompts } from './prompts.js';

const EXIT_TONE_MS = EXIT_TONE.reduce((ms, t) => ms + t.ms, 0);

/**
 * What a room needs from a party: its media endpoint, a way to end its call, and its events.
 * LocalCall (a caller the server answered) satisfies it; so can a B2BUA leg merged into an
 * ad-hoc conference.
 */
export interface Party {
  readonly endpoint: Endpoint;
  /** For logs and status (e.g. the caller's extension); default: the endpoint's port. */
  readonly label?: string;
  /** Ends the party's call. The room calls it only for parties it drops. */
  hangup(): void;
  on(event: 'hangup', listener: () => void): unknown;
  on(event: 'dtmf', listener: (digit: string) => void): unknown;
  off(event: 'hangup', listener: () => void): unknown;
  off(event: 'dtmf', listener: (digit: string) => void): unknown;
}

/** The node's conference channels, shared by every room: one per party in a room. */
export class ChannelPool {
  readonly total: number;
  #used = 0;

  constructor(total: number) {
    this.total = total;
  }
  get used(): number {
    return this.#used;
  }
  get free(): number {
    return this.total - this.#used;
  }
  take(): boolean {
    if (this.#used >= this.total) return false;
    this.#used++;
    return true;
  }
  give(): void {
    if (this.#used > 0) this.#used--;
  }
}

/** Why a party cannot join now: the room is at its party limit, the node out of channels, or the room ended. */
export type Refusal = 'full' | 'channels' | 'closed';

export interface RoomOptions {
  /** The conference ID (a meet-me room's number, or an ad-hoc ID from 100 up). */
  id: string;
  kind: 'meet-me' | 'ad-hoc';
  engine: MediaEngine;
  pool: ChannelPool;
  /** Parties at once in this room. */
  maxParties: number;
  prompts: Prompts;
  log: Logger;
  /** When all but one have left, hang up the last one too (ad-hoc conferences). */
  dropLastParty: boolean;
  /** Entry and exit tones into the mix. */
  tones: boolean;
  /** Tell a lone party they are alone (on joining, then every aloneRepeatMs; 0: once); false: never. */
  alonePrompt: boolean;
  aloneRepeatMs: number;
}

export interface JoinOptions {
  moderator?: boolean;
  /** Overrides party.label. */
  label?: string;
}

export interface RoomEvents {
  /** The room is over (its last party left, or it was closed); its ID is free again. */
  end: [];
}

interface Member {
  party: Party;
  label: string;
  moderator: boolean;
  muted: boolean;
  /** A star was pressed: the next digit is a command. */
  star: NodeJS.Timeout | undefined;
  onHangup: () => void;
  onDtmf: (digit: string) => void;
  onClose: () => void;
}

const COMMAND_MS = 3000;

export class Room extends EventEmitter<RoomEvents> {
  readonly id: string;
  readonly kind: 'meet-me' | 'ad-hoc';
  readonly #o: RoomOptions;
  readonly #conf: Conference;
  readonly #members = new Map<Party, Member>();
  #aloneTimer: NodeJS.Timeout | undefined;
  #alonePlayer: Player | undefined;
  #othersMuted = false;
  #closed = false;

  /** @internal created by Conferences. */
  constructor(o: RoomOptions) {
    super();
    this.#o = o;
    this.id = o.id;
    this.kind = o.kind;
    this.#conf = o.engine.createConference();
  }

  get size(): number {
    return this.#members.size;
  }
  get closed(): boolean {
    return this.#closed;
  }
  get maxParties(): number {
    return this.#o.maxParties;
  }
  /** The engine conference (for tests and recording the mix). */
  get conference(): Conference {
    return this.#conf;
  }

  parties(): { label: string; moderator: boolean; muted: boolean }[] {
    return [...this.#members.values()].map((m) => ({ label: m.label, moderator: m.moderator, muted: m.muted }));
  }

  has(party: Party): boolean {
    return this.#members.has(party);
  }

  /** Why one more party could not join now, or undefined when it could. */
  refusal(): Refusal | undefined {
    if (this.#closed) return 'closed';
    if (this.#members.size >= this.#o.maxParties) return 'full';
    if (this.#o.pool.free <= 0) return 'channels';
    return undefined;
  }

  /** Mixes the party in; false when the room is full, the node has no channel left, or the party's media is gone. */
  add(party: Party, opts: JoinOptions = {}): boolean {
    if (!party || typeof party !== 'object' || !party.endpoint) throw new TypeError('party: object with an endpoint expected');
    if (this.#members.has(party)) return true;
    if (this.refusal() !== undefined || party.endpoint.closed) return false;
    if (!this.#o.pool.take()) return false;
    try {
      this.#conf.add(party.endpoint);
    } catch (e) {
      // e.g. the endpoint is still in a bridge: the caller must take it out first
      this.#o.pool.give();
      this.#o.log.warn(`conference ${this.id}: could not add a party: ${(e as Error).message}`);
      return false;
    }
    const m: Member = {
      party,
      label: opts.label ?? party.label ?? String(party.endpoint.port),
      moderator: opts.moderator === true,
      muted: false,
      star: undefined,
      onHangup: () => this.#leave(party, 'hung up'),
      onDtmf: (d) => this.#onDtmf(m, d),
      // a party whose media ends without a hang-up event (a B2BUA leg torn down) leaves too
      onClose: () => this.#leave(party, 'media closed'),
    };
    this.#members.set(party, m);
    party.on('hangup', m.onHangup);
    party.on('dtmf', m.onDtmf);
    party.endpoint.on('close', m.onClose);
    // joining a room whose others are muted by the moderator: muted as well
    if (this.#othersMuted && !m.moderator) this.#setMuted(m, true);
    if (this.#o.tones && this.#members.size > 1) this.#conf.play({ tones: ENTRY_TONE });
    this.#o.log.info(`conference ${this.id}: ${m.label} joined${m.moderator ? ' as moderator' : ''} (${this.#members.size} parties)`);
    if (m.moderator) void this.say(party, 'moderator');
    this.#updateAlone();
    return true;
  }

  /** Mutes or unmutes the party labelled `label` (an operator's command); false when none is. */
  setMutedByLabel(label: string, muted: boolean): boolean {
    const m = [...this.#members.values()].find((x) => x.label === label);
    if (!m) return false;
    this.#setMuted(m, muted);
    this.#o.log.info(`conference ${this.id}: ${label} ${muted ? 'muted' : 'unmuted'} by an operator`);
    return true;
  }

  /** Drops the party labelled `label` (an operator's command) and hangs it up; false when none is. */
  kickByLabel(label: string): boolean {
    const m = [...this.#members.values()].find((x) => x.label === label);
    return m ? this.kick(m.party) : false;
  }

  /** Takes the party out without ending its call (an ad-hoc leg going back to a two-party call). */
  remove(party: Party): boolean {
    return this.#leave(party, 'removed', false);
  }

  /** Takes the party out and hangs it up. */
  kick(party: Party): boolean {
    return this.#leave(party, 'dropped', true);
  }

  /** Plays a prompt to one party (the mix is held for that party meanwhile); resolves when it ends. */
  say(party: Party, name: PromptName): Promise<boolean> {
    return sayTo(party.endpoint, this.#o.prompts[name]);
  }

  /** Hangs up every party and ends the room. Idempotent. */
  close(): void {
    if (this.#closed) return;
    for (const p of [...this.#members.keys()]) this.#leave(p, 'conference closed', true, false);
    this.#end();
  }

  #leave(party: Party, why: string, hangup = false, follow = true): boolean {
    const m = this.#members.get(party);
    if (!m) return false;
    this.#members.delete(party);
    party.off('hangup', m.onHangup);
    party.off('dtmf', m.onDtmf);
    party.endpoint.off('close', m.onClose);
    clearTimeout(m.star);
    if (!this.#conf.closed) this.#conf.remove(party.endpoint);
    this.#o.pool.give();
    this.#o.log.info(`conference ${this.id}: ${m.label} left (${why}; ${this.#members.size} parties)`);
    if (hangup) party.hangup();
    if (!follow || this.#closed) return true;
    if (this.#members.size === 0) {
      this.#end();
    } else if (this.#o.dropLastParty && this.#members.size === 1) {
      // an ad-hoc conference of one is no conference: end the last call as well
      this.#leave([...this.#members.keys()][0]!, 'last party', true);
    } else {
      if (this.#o.tones) this.#conf.play({ tones: EXIT_TONE });
      // a prompt to the one left would drown the exit tone: it follows the tone
      this.#updateAlone(this.#o.tones ? EXIT_TONE_MS + 200 : 0);
    }
    return true;
  }

  #end(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#aloneTimer);
    this.#conf.close();
    this.#o.log.info(`conference ${this.id} ended`);
    this.emit('end');
  }

  /** A lone party hears that it is alone, again every aloneRepeatMs; a second party stops that. */
  #updateAlone(delayMs = 0): void {
    clearTimeout(this.#aloneTimer);
    this.#aloneTimer = undefined;
    if (this.#members.size !== 1 || !this.#o.alonePrompt) {
      this.#alonePlayer?.close();
      this.#alonePlayer = undefined;
      return;
    }
    const party = [...this.#members.keys()][0]!;
    const tell = () => {
      if (party.endpoint.closed || !this.#members.has(party)) return;
      this.#alonePlayer = party.endpoint.play({ pcm: this.#o.prompts.alone });
      if (this.#o.aloneRepeatMs > 0) this.#aloneTimer = setTimeout(tell, this.#o.aloneRepeatMs).unref();
    };
    if (delayMs > 0) this.#aloneTimer = setTimeout(tell, delayMs).unref();
    else tell();
  }

  #onDtmf(m: Member, digit: string): void {
    if (digit === '*') {
      clearTimeout(m.star);
      m.star = setTimeout(() => (m.star = undefined), COMMAND_MS).unref();
      return;
    }
    if (m.star === undefined) return;
    clearTimeout(m.star);
    m.star = undefined;
    if (digit === '6') {
      this.#setMuted(m, !m.muted);
      void this.say(m.party, m.muted ? 'muted' : 'unmuted');
    } else if (digit === '7' && m.moderator) {
      this.#othersMuted = !this.#othersMuted;
      for (const o of this.#members.values()) if (o !== m && !o.moderator) this.#setMuted(o, this.#othersMuted);
      this.#o.log.info(`conference ${this.id}: moderator ${m.label} ${this.#othersMuted ? 'muted' : 'unmuted'} the others`);
      void this.say(m.party, this.#othersMuted ? 'all-muted' : 'all-unmuted');
    }
  }

  #setMuted(m: Member, muted: boolean): void {
    m.muted = muted;
    if (!this.#conf.closed && !m.party.endpoint.closed) this.#conf.setMuted(m.party.endpoint, muted);
  }
}

/** Plays samples to an endpoint; resolves true when they played to the end, false when cut short. */
export function sayTo(endpoint: Endpoint, samples: Int16Array): Promise<boolean> {
  if (endpoint.closed) return Promise.resolve(false);
  const player = endpoint.play({ pcm: samples });
  return new Promise((resolve) => player.once('end', (e) => resolve(e.completed)));
}
