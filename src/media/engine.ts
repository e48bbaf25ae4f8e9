/** MediaEngine: the typed face of the native engine; owns endpoints, bridges and conferences. */
import { Children, type EngineContext, type NativeHandler } from './base.js';
import { Bridge } from './bridge.js';
import { Conference, validateConferenceOptions, type ConferenceOptions } from './conference.js';
import { Endpoint, validateEndpointOptions, type EndpointOptions } from './endpoint.js';
import { IPV4, MediaError, checkInt, checkString } from './errors.js';
import { native, type NativeEngine, type NativeEngineStats } from './native.js';

export interface MediaEngineOptions {
  /** IPv4 address the RTP sockets bind to (and that goes into our SDP unless `advertise` is given). */
  address: string;
  /** IPv4 address for our SDP when it differs from the bound one (NAT, 0.0.0.0). */
  advertise?: string;
  /** First port of the RTP range (inclusive). */
  portMin: number;
  /** Last port of the range (inclusive); each endpoint takes an even port and the next. */
  portMax: number;
  /** Interval of RTCP reports per endpoint, ms (default 5000). */
  rtcpIntervalMs?: number;
  /**
   * Run the media thread SCHED_FIFO at this priority (1..99; needs root or CAP_SYS_NICE), so the
   * 20 ms clock keeps time on a busy host. 0 = ordinary scheduling (default). Not granted: ignored,
   * see stats().realtime.
   */
  realtimePriority?: number;
}

export interface EngineStats extends NativeEngineStats {
  /** Frame-clock lateness percentiles, ms (histogram resolution 0.1 ms). */
  lateP50Ms: number;
  lateP99Ms: number;
  lateMaxMs: number;
}

function percentile(hist: number[], q: number): number {
  const total = hist.reduce((a, b) => a + b, 0);
  if (total === 0) return 0;
  let acc = 0;
  for (let i = 0; i < hist.length; i++) {
    acc += hist[i]!;
    if (acc >= q * total) return (i + 1) / 10;
  }
  return hist.length / 10;
}

export class MediaEngine {
  readonly address: string;
  readonly #native: NativeEngine;
  readonly #routes = new Map<number, NativeHandler>();
  readonly #endpoints = new Children<Endpoint>();
  readonly #bridges = new Children<Bridge>();
  readonly #conferences = new Children<Conference>();
  readonly #ctx: EngineContext;
  #localIds = 0x80000000; // ids of JS-only objects (bridges) never collide with native ids
  #closed = false;

  constructor(options: MediaEngineOptions) {
    if (!options || typeof options !== 'object') throw new TypeError('options: object expected');
    checkString('options.address', options.address, IPV4);
    if (options.advertise !== undefined) checkString('options.advertise', options.advertise, IPV4);
    checkInt('options.portMin', options.portMin, 1024, 65534);
    checkInt('options.portMax', options.portMax, options.portMin + 1, 65535);
    if (options.rtcpIntervalMs !== undefined) checkInt('options.rtcpIntervalMs', options.rtcpIntervalMs, 100, 60_000);
    if (options.realtimePriority !== undefined) checkInt('options.realtimePriority', options.realtimePriority, 0, 99);
    this.address = options.advertise ?? options.address;
    const routes = this.#routes;
    const Engine = native().Engine;
    try {
      this.#native = new Engine(
        {
          address: options.address,
          portMin: options.portMin,
          portMax: options.portMax,
          rtcpIntervalMs: options.rtcpIntervalMs,
          realtimePriority: options.realtimePriority,
        },
        (type, id, a, b, data) => routes.get(id)?.(type, a, b, data),
      );
    } catch (e) {
      throw new MediaError('EADDRNOTAVAIL', (e as Error).message, { cause: e });
    }
    const nat = this.#native;
    this.#ctx = {
      native: nat,
      route: (id, h) => routes.set(id, h),
      unroute: (id) => routes.delete(id),
    };
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Linux thread id of the media thread (for /proc/self/task/<tid>/stat). */
  get mediaThreadId(): number {
    // the thread reports its id once it runs: wait for it (at most ~1 s) rather than answer 0
    for (let i = 0; i < 1000; i++) {
      const tid = this.#native.stats().mediaTid;
      if (tid) return tid;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
    return 0;
  }

  get endpoints(): Endpoint[] {
    return this.#endpoints.values();
  }

  #open(): void {
    if (this.#closed) throw new MediaError('ECLOSED', 'media engine is closed');
  }

  createEndpoint(options: EndpointOptions = {}): Endpoint {
    this.#open();
    validateEndpointOptions(options);
    const ep = this.#endpoints.add(new Endpoint(this.#ctx, this.address, options));
    ep.whenClosed(() => this.#endpoints.delete(ep));
    return ep;
  }

  /** Relays a and b to each other; closing either endpoint closes the bridge. */
  createBridge(a: Endpoint, b: Endpoint): Bridge {
    this.#open();
    if (!(a instanceof Endpoint)) throw new TypeError('a: Endpoint expected');
    if (!(b instanceof Endpoint)) throw new TypeError('b: Endpoint expected');
    if (a === b) throw new TypeError('b: must differ from a');
    if (a.closed || b.closed) throw new MediaError('ECLOSED', 'cannot bridge a closed endpoint');
    const br = this.#bridges.add(new Bridge(this.#ctx, ++this.#localIds, a, b));
    br.whenClosed(() => this.#bridges.delete(br));
    return br;
  }

  createConference(options: ConferenceOptions = {}): Conference {
    this.#open();
    validateConferenceOptions(options);
    const c = this.#conferences.add(new Conference(this.#ctx, options));
    c.whenClosed(() => this.#conferences.delete(c));
    return c;
  }

  stats(): EngineStats {
    const s = this.#native.stats();
    return {
      ...s,
      lateP50Ms: percentile(s.lateHist100us, 0.5),
      lateP99Ms: percentile(s.lateHist100us, 0.99),
      lateMaxMs: s.lateMaxNs / 1e6,
    };
  }

  resetStats(): void {
    this.#native.resetStats();
  }

  /** Closes everything and stops the media thread; leaves no socket, file or thread behind. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#bridges.closeAll();
    this.#conferences.closeAll();
    this.#endpoints.closeAll();
    this.#native.close();
    // The media thread has finished every pending command (files closed); tell whoever still
    // waits for an 'end' (recorders closing) that it is done.
    for (const h of [...this.#routes.values()]) h('end', 0, 0);
    this.#routes.clear();
  }
}
