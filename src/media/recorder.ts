/** Records an endpoint's received audio or a conference's mix to a crash-safe WAV file. */
import { constants } from 'node:os';
import { MediaObject, type EngineContext } from './base.js';
import { MediaError, checkInt, checkNumber } from './errors.js';

export interface RecordOptions {
  /**
   * Emit 'silence' once the file ends in this much silence, ms (frames below silenceThreshold and
   * lost-packet fill both count); fires again after sound and another such run. Off when absent.
   */
  silenceMs?: number;
  /** RMS of a 20 ms frame (16-bit linear) below which the frame is silent (default 200). */
  silenceThreshold?: number;
  /** Stop taking audio when the file holds this much, ms, and emit 'full'. Unlimited when absent. */
  maxMs?: number;
}

export interface RecorderEvents {
  /** The file ends in at least silenceMs of silence (ms: the run so far). */
  silence: [{ ms: number }];
  /** maxMs reached: nothing more is recorded; the file holds `ms` of audio and its header is current. */
  full: [{ ms: number }];
  /** A write failed (ENOSPC, EIO...): nothing more is written; the file stays a valid WAV of what was. */
  error: [{ errno: number; message: string }];
  /** The file is complete and closed. */
  end: [{ path: string; samples: number }];
}

/** Throws a TypeError naming the field; absent options are fine. */
export function validateRecordOptions(opts: unknown): RecordOptions {
  if (opts === undefined) return {};
  if (opts === null || typeof opts !== 'object') throw new TypeError('opts: object expected');
  const o = opts as RecordOptions;
  if (o.silenceMs !== undefined) checkInt('opts.silenceMs', o.silenceMs, 20, 3_600_000);
  if (o.silenceThreshold !== undefined) checkNumber('opts.silenceThreshold', o.silenceThreshold, 0, 32767);
  if (o.maxMs !== undefined) checkInt('opts.maxMs', o.maxMs, 20, 3_600_000 * 24);
  return o;
}

const errnoNames = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/**
 * 16-bit PCM, 8 kHz mono. Data is written every 20 ms and the header sizes rewritten twice a
 * second, so a killed process leaves a valid file missing at most the last half second.
 */
export class Recorder extends MediaObject<RecorderEvents> {
  readonly path: string;
  readonly #done: Promise<void>;

  /** @internal created by Endpoint.record() or Conference.record(). */
  constructor(ctx: EngineContext, kind: 0 | 1, target: number, path: string, opts: RecordOptions = {}) {
    let id: number;
    try {
      id = ctx.native.createRecorder(kind, target, path, {
        silenceMs: opts.silenceMs,
        silenceThreshold: opts.silenceThreshold,
        maxMs: opts.maxMs,
      });
    } catch (e) {
      throw new MediaError('EIO', (e as Error).message, { cause: e });
    }
    super(ctx, id);
    this.path = path;
    this.#done = new Promise((resolve) => this.once('end', () => resolve()));
  }

  /** Resolves when the file is finalized (after close(), or when the recorded object went away). */
  get done(): Promise<void> {
    return this.#done;
  }

  protected override closeNative(): void {
    // Keep listening until the media thread reports the file closed.
    this.ctx.route(this.id, (type, a) => {
      if (type === 'end') {
        this.ctx.unroute(this.id);
        this.emit('end', { path: this.path, samples: a });
      }
    });
    this.ctx.native.closeRecorder(this.id);
  }

  protected override onNative(type: string, a: number): void {
    switch (type) {
      case 'silence':
        this.emit('silence', { ms: a });
        return;
      case 'full':
        this.emit('full', { ms: a });
        return;
      case 'error':
        // An EventEmitter throws on 'error' without a listener; a failed recording must not
        // take the process down, so it is only emitted to those who listen.
        if (this.listenerCount('error') > 0) this.emit('error', { errno: a, message: errnoNames.get(a) ?? `errno ${a}` });
        return;
      case 'end':
        this.emit('end', { path: this.path, samples: a });
        this.ended();
    }
  }
}
