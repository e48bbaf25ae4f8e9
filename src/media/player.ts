/** A prompt or tone sequence played to an endpoint or into a conference. */
import { MediaObject, type EngineContext } from './base.js';
import { MediaError } from './errors.js';
import { renderTones, type ToneSegment } from './tones.js';
import { parseWav } from './wav.js';

/** What to play: a WAV file's bytes (mu-law, A-law or 16-bit PCM, 8 kHz mono), raw samples, or tones. */
export type PlayerSource =
  | { wav: Uint8Array }
  | { pcm: Int16Array }
  | { tones: readonly ToneSegment[] };

export interface PlayOptions {
  /** Repeat until closed (default false). */
  loop?: boolean;
}

export interface PlayerEvents {
  /** Playback finished by itself (completed = true) or was stopped/replaced (false). */
  end: [{ completed: boolean }];
}

/** Turns a PlayerSource into 8 kHz 16-bit samples, validating it. */
export function renderSource(source: PlayerSource): Int16Array {
  if (!source || typeof source !== 'object') throw new TypeError('source: object expected');
  if ('wav' in source) {
    if (!(source.wav instanceof Uint8Array)) throw new TypeError('source.wav: Uint8Array expected');
    const w = parseWav(source.wav);
    if (w.sampleRate !== 8000 || w.channels !== 1)
      throw new MediaError('EFORMAT', `source.wav: 8000 Hz mono expected, got ${w.sampleRate} Hz x${w.channels}`);
    return w.samples;
  }
  if ('pcm' in source) {
    if (!(source.pcm instanceof Int16Array)) throw new TypeError('source.pcm: Int16Array expected');
    return source.pcm;
  }
  if ('tones' in source) return renderTones(source.tones);
  throw new TypeError('source: one of wav, pcm, tones expected');
}

export class Player extends MediaObject<PlayerEvents> {
  /** @internal created by Endpoint.play() or Conference.play(). */
  constructor(ctx: EngineContext, kind: 0 | 1, target: number, samples: Int16Array, opts: PlayOptions) {
    super(ctx, ctx.native.createPlayer(kind, target, samples, opts.loop === true));
  }

  protected override closeNative(): void {
    this.ctx.native.closePlayer(this.id);
    this.emit('end', { completed: false });
  }

  protected override onNative(type: string, a: number): void {
    if (type !== 'end' || this.closed) return;
    this.emit('end', { completed: a === 1 });
    this.ended();
  }
}
