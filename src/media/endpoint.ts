/** One anchored media leg: a local RTP/RTCP port pair on the engine's address. */
import { Children, MediaObject, type EngineContext } from './base.js';
import { IPV4, MediaError, checkInt, checkString } from './errors.js';
import type { NativeEndpointStats } from './native.js';
import { Player, renderSource, type PlayOptions, type PlayerSource } from './player.js';
import { Recorder, validateRecordOptions, type RecordOptions } from './recorder.js';
import { QualityTracker, parseRtcp, type LegQuality, type RtcpReport } from './rtcp.js';

export type Codec = 'PCMU' | 'PCMA';
const PT: Record<Codec, number> = { PCMU: 0, PCMA: 8 };

export interface EndpointOptions {
  /** Codec sent to (and expected from) the far end (default PCMU). */
  codec?: Codec;
  /** Payload type of telephone-event (RFC 4733), 96..127 (default 101). */
  telephoneEventPt?: number;
  /** Emit 'timeout' when nothing arrives for this long; 0 disables (default 0). */
  timeoutMs?: number;
  /** Send RTCP on the RTP port (RFC 5761) instead of RTP+1 (default false). */
  rtcpMux?: boolean;
  /** Symmetric RTP: send to where packets really come from (default true). */
  latching?: boolean;
}

export interface RemoteAddress {
  /** IPv4 address from the SDP c= line. */
  address: string;
  /** RTP port from the SDP m= line. */
  port: number;
  /** RTCP port (a=rtcp), default port + 1. */
  rtcpPort?: number;
}

export interface DtmfEvent {
  digit: string;
  durationMs: number;
}

export interface EndpointEvents {
  dtmf: [DtmfEvent];
  timeout: [{ silentMs: number }];
  rtcp: [{ buffer: Buffer; report: RtcpReport; quality: LegQuality }];
}

export function validateEndpointOptions(o: EndpointOptions, field = 'options'): EndpointOptions {
  if (o === null || typeof o !== 'object') throw new TypeError(`${field}: object expected`);
  if (o.codec !== undefined && !(o.codec in PT)) throw new TypeError(`${field}.codec: 'PCMU' or 'PCMA' expected`);
  if (o.telephoneEventPt !== undefined) checkInt(`${field}.telephoneEventPt`, o.telephoneEventPt, 96, 127);
  if (o.timeoutMs !== undefined) checkInt(`${field}.timeoutMs`, o.timeoutMs, 0, 3_600_000);
  for (const k of ['rtcpMux', 'latching'] as const)
    if (o[k] !== undefined && typeof o[k] !== 'boolean') throw new TypeError(`${field}.${k}: boolean expected`);
  return o;
}

function nativeOptions(o: EndpointOptions) {
  return {
    pt: o.codec === undefined ? undefined : PT[o.codec],
    tePt: o.telephoneEventPt,
    timeoutMs: o.timeoutMs,
    rtcpMux: o.rtcpMux,
    latching: o.latching,
  };
}

export class Endpoint extends MediaObject<EndpointEvents> {
  readonly address: string;
  /** Local RTP port (even); RTCP is port + 1 unless rtcp-mux. */
  readonly port: number;
  #codec: Codec;
  #tePt: number;
  #attachment: { close(): void } | null = null;
  readonly #players = new Children<Player>();
  readonly #recorders = new Children<Recorder>();
  readonly #quality = new QualityTracker();

  /** @internal use MediaEngine.createEndpoint(). */
  constructor(ctx: EngineContext, address: string, opts: EndpointOptions) {
    let created: [number, number];
    try {
      created = ctx.native.createEndpoint({ ...nativeOptions(opts), pt: PT[opts.codec ?? 'PCMU'] });
    } catch (e) {
      throw new MediaError('ENOPORT', (e as Error).message, { cause: e });
    }
    super(ctx, created[0]);
    this.port = created[1];
    this.address = address;
    this.#codec = opts.codec ?? 'PCMU';
    this.#tePt = opts.telephoneEventPt ?? 101;
  }

  get rtcpPort(): number {
    return this.port + 1;
  }
  get codec(): Codec {
    return this.#codec;
  }
  get telephoneEventPt(): number {
    return this.#tePt;
  }
  /** Latest loss/jitter/round-trip figures from the far end's RTCP reports. */
  get quality(): LegQuality {
    return this.#quality.value;
  }
  /** The bridge or conference this endpoint is in, if any. */
  get attachment(): { close(): void } | null {
    return this.#attachment;
  }

  /** Where to send media, from the remote SDP. Latching may later override it. */
  setRemote(remote: RemoteAddress): void {
    this.assertOpen();
    if (!remote || typeof remote !== 'object') throw new TypeError('remote: object expected');
    checkString('remote.address', remote.address, IPV4);
    checkInt('remote.port', remote.port, 1, 65535);
    if (remote.rtcpPort !== undefined) checkInt('remote.rtcpPort', remote.rtcpPort, 1, 65535);
    this.ctx.native.updateEndpoint(this.id, { remoteAddress: remote.address, remotePort: remote.port, remoteRtcpPort: remote.rtcpPort });
  }

  /** Changes codec, telephone-event PT, timeout, latching or rtcp-mux (e.g. after a re-INVITE). */
  update(opts: EndpointOptions): void {
    this.assertOpen();
    validateEndpointOptions(opts);
    this.ctx.native.updateEndpoint(this.id, nativeOptions(opts));
    if (opts.codec) this.#codec = opts.codec;
    if (opts.telephoneEventPt !== undefined) this.#tePt = opts.telephoneEventPt;
  }

  /** Sends RFC 4733 digits (0-9 * # A-D), each durationMs long (default 100). */
  sendDigits(digits: string, opts: { durationMs?: number } = {}): void {
    this.assertOpen();
    checkString('digits', digits, /^[0-9*#A-Da-d]+$/);
    const d = opts.durationMs ?? 100;
    checkInt('opts.durationMs', d, 40, 5000);
    this.ctx.native.sendDigits(this.id, digits, d);
  }

  /** Plays to the far end; while playing, bridged or conference audio to this leg is held. */
  play(source: PlayerSource, opts: PlayOptions = {}): Player {
    this.assertOpen();
    const samples = renderSource(source);
    for (const p of this.#players.values()) p.close(); // one prompt at a time
    const p = this.#players.add(new Player(this.ctx, 0, this.id, samples, opts));
    p.whenClosed(() => this.#players.delete(p));
    return p;
  }

  /** Records the audio received on this leg (silence / length limits: see RecordOptions). */
  record(path: string, opts?: RecordOptions): Recorder {
    this.assertOpen();
    checkString('path', path);
    const o = validateRecordOptions(opts);
    for (const r of this.#recorders.values()) r.close();
    const r = this.#recorders.add(new Recorder(this.ctx, 0, this.id, path, o));
    r.whenClosed(() => this.#recorders.delete(r));
    return r;
  }

  stats(): NativeEndpointStats {
    this.assertOpen();
    const s = this.ctx.native.endpointStats(this.id);
    if (!s) throw new MediaError('ENOTFOUND', `endpoint ${this.id} not in the engine`);
    return s;
  }

  /** @internal a bridge or conference claims the leg. */
  attach(owner: { close(): void } | null): void {
    if (owner && this.#attachment && this.#attachment !== owner)
      throw new MediaError('EBUSY', `endpoint ${this.id} is already in a bridge or conference`);
    this.#attachment = owner;
  }

  protected override closeChildren(): void {
    this.#attachment?.close();
    this.#players.closeAll();
    this.#recorders.closeAll();
  }

  protected override closeNative(): void {
    this.ctx.native.closeEndpoint(this.id);
  }

  protected override onNative(type: string, a: number, b: number, data?: Buffer): void {
    if (type === 'dtmf') this.emit('dtmf', { digit: String.fromCharCode(a), durationMs: b });
    else if (type === 'timeout') this.emit('timeout', { silentMs: a });
    else if (type === 'rtcp' && data) {
      let report: RtcpReport;
      try {
        report = parseRtcp(data);
      } catch {
        return; // malformed RTCP from the network is not our error
      }
      this.#quality.update(report);
      this.emit('rtcp', { buffer: data, report, quality: this.#quality.value });
    }
  }
}
