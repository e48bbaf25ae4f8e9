/** N endpoints, each sent the mix of all others minus its own voice. */
import { Children, MediaObject, type EngineContext } from './base.js';
import { MediaError, checkInt, checkNumber } from './errors.js';
import type { Endpoint } from './endpoint.js';
import { Player, renderSource, type PlayOptions, type PlayerSource } from './player.js';
import { Recorder, validateRecordOptions, type RecordOptions } from './recorder.js';

export interface ConferenceOptions {
  /** Cap of each input's adaptive jitter buffer, ms (20..500, default 200). */
  jitterMaxMs?: number;
  /** RMS level (16-bit linear) above which a participant counts as talking (default 300). */
  talkerThreshold?: number;
}

export interface ParticipantOptions {
  /** Linear gain applied to this participant's voice (0..8, default 1). */
  gain?: number;
  /** Muted participants hear the others but are not heard (default false). */
  muted?: boolean;
}

export interface ConferenceEvents {
  /** Talker detection with hysteresis (on after 60 ms of voice, off after 500 ms of quiet). */
  talker: [{ endpoint: Endpoint; talking: boolean }];
}

export function validateConferenceOptions(o: ConferenceOptions): ConferenceOptions {
  if (o === null || typeof o !== 'object') throw new TypeError('options: object expected');
  if (o.jitterMaxMs !== undefined) checkInt('options.jitterMaxMs', o.jitterMaxMs, 20, 500);
  if (o.talkerThreshold !== undefined) checkInt('options.talkerThreshold', o.talkerThreshold, 1, 32767);
  return o;
}

export class Conference extends MediaObject<ConferenceEvents> {
  readonly #members = new Map<number, { ep: Endpoint; gain: number; muted: boolean }>();
  readonly #players = new Children<Player>();
  readonly #recorders = new Children<Recorder>();
  readonly #handles = new Map<number, { close(): void }>();

  /** @internal use MediaEngine.createConference(). */
  constructor(ctx: EngineContext, opts: ConferenceOptions) {
    super(ctx, ctx.native.createConference({ jitterMaxMs: opts.jitterMaxMs, talkerThreshold: opts.talkerThreshold }));
  }

  get participants(): Endpoint[] {
    return [...this.#members.values()].map((m) => m.ep);
  }

  add(ep: Endpoint, opts: ParticipantOptions = {}): void {
    this.assertOpen();
    if (ep.closed) throw new MediaError('ECLOSED', `endpoint ${ep.id} is closed`);
    const gain = opts.gain ?? 1;
    checkNumber('opts.gain', gain, 0, 8);
    if (opts.muted !== undefined && typeof opts.muted !== 'boolean') throw new TypeError('opts.muted: boolean expected');
    // The endpoint's attachment handle: closing it (e.g. the endpoint closes) removes it from here.
    const handle = { close: () => this.remove(ep) };
    ep.attach(handle);
    this.#members.set(ep.id, { ep, gain, muted: opts.muted ?? false });
    this.#handles.set(ep.id, handle);
    this.ctx.native.confAdd(this.id, ep.id, gain, opts.muted ?? false);
  }

  remove(ep: Endpoint): void {
    if (!this.#members.delete(ep.id)) return;
    this.#handles.delete(ep.id);
    ep.attach(null);
    if (!ep.closed) this.ctx.native.confRemove(ep.id);
  }

  setMuted(ep: Endpoint, muted: boolean): void {
    this.#set(ep, undefined, muted);
  }

  setGain(ep: Endpoint, gain: number): void {
    checkNumber('gain', gain, 0, 8);
    this.#set(ep, gain, undefined);
  }

  #set(ep: Endpoint, gain: number | undefined, muted: boolean | undefined): void {
    this.assertOpen();
    const m = this.#members.get(ep.id);
    if (!m) throw new MediaError('ENOTFOUND', `endpoint ${ep.id} is not in conference ${this.id}`);
    if (muted !== undefined) {
      if (typeof muted !== 'boolean') throw new TypeError('muted: boolean expected');
      m.muted = muted;
    }
    if (gain !== undefined) m.gain = gain;
    this.ctx.native.confSet(ep.id, m.gain, m.muted);
  }

  /** Plays into the mix: every participant hears it. */
  play(source: PlayerSource, opts: PlayOptions = {}): Player {
    this.assertOpen();
    const p = this.#players.add(new Player(this.ctx, 1, this.id, renderSource(source), opts));
    p.whenClosed(() => this.#players.delete(p));
    return p;
  }

  /** Records the full mix (all participants and players); options as for Endpoint.record(). */
  record(path: string, opts?: RecordOptions): Recorder {
    this.assertOpen();
    if (typeof path !== 'string' || !path) throw new TypeError('path: non-empty string expected');
    const o = validateRecordOptions(opts);
    for (const r of this.#recorders.values()) r.close();
    const r = this.#recorders.add(new Recorder(this.ctx, 1, this.id, path, o));
    r.whenClosed(() => this.#recorders.delete(r));
    return r;
  }

  protected override closeChildren(): void {
    for (const m of [...this.#members.values()]) this.remove(m.ep);
    this.#players.closeAll();
    this.#recorders.closeAll();
  }

  protected override closeNative(): void {
    this.ctx.native.closeConference(this.id);
  }

  protected override onNative(type: string, a: number, b: number): void {
    if (type !== 'talker') return;
    const m = this.#members.get(a);
    if (m) this.emit('talker', { endpoint: m.ep, talking: b === 1 });
  }
}
