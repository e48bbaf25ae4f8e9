/** Records an endpoint's received audio or a conference's mix to a crash-safe WAV file. */
import { MediaObject, type EngineContext } from './base.js';
import { MediaError } from './errors.js';

export interface RecorderEvents {
  /** The file is complete and closed. */
  end: [{ path: string; samples: number }];
}

/**
 * 16-bit PCM, 8 kHz mono. Data is written every 20 ms and the header sizes rewritten twice a
 * second, so a killed process leaves a valid file missing at most the last half second.
 */
export class Recorder extends MediaObject<RecorderEvents> {
  readonly path: string;
  readonly #done: Promise<void>;

  /** @internal created by Endpoint.record() or Conference.record(). */
  constructor(ctx: EngineContext, kind: 0 | 1, target: number, path: string) {
    let id: number;
    try {
      id = ctx.native.createRecorder(kind, target, path);
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
    if (type !== 'end') return;
    this.emit('end', { path: this.path, samples: a });
    this.ended();
  }
}
