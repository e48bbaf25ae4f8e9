/** Two endpoints relayed to each other (with PCMU <-> PCMA transcoding when their codecs differ). */
import { MediaObject, type EngineContext } from './base.js';
import type { Endpoint } from './endpoint.js';

export class Bridge extends MediaObject<{ close: [] }> {
  readonly a: Endpoint;
  readonly b: Endpoint;

  /** @internal use MediaEngine.createBridge(). */
  constructor(ctx: EngineContext, id: number, a: Endpoint, b: Endpoint) {
    super(ctx, id);
    this.a = a;
    this.b = b;
    a.attach(this);
    try {
      b.attach(this);
    } catch (e) {
      a.attach(null);
      throw e;
    }
    ctx.native.bridge(a.id, b.id);
  }

  protected override closeNative(): void {
    this.a.attach(null);
    this.b.attach(null);
    if (!this.a.closed) this.ctx.native.unbridge(this.a.id);
    else if (!this.b.closed) this.ctx.native.unbridge(this.b.id);
  }
}
