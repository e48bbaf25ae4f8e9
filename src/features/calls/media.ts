/**
 * The media side of a call: anchored (an engine endpoint per leg, bridged) or direct (SDP
 * passed end to end). The call talks to this interface only, so it reads the same either way.
 */
import type { Bridge, Endpoint, MediaEngine, Player, PlayerSource } from '../../media/index.js';
import { answerDirection, buildAudio, negotiate, parseAudio, SdpError, type AudioDescription, type Direction } from '../../media/sdp.js';
import type { Codec } from '../../media/endpoint.js';
import { watchRtp } from '../../media/inactivity.js';
import type { Body } from './leg.js';

const SDP = 'application/sdp';
const OUR_CODECS: { codec: Codec; pt: number }[] = [{ codec: 'PCMU', pt: 0 }, { codec: 'PCMA', pt: 8 }];
const TE_PT = 101;

export const sdpBody = (text: string): Body => ({ type: SDP, data: Buffer.from(text) });

/** One anchored leg: its endpoint and the SDP state we keep towards its party. */
export class AnchoredSide {
  readonly endpoint: Endpoint;
  readonly sessionId = Math.floor(Math.random() * 1e9);
  version = 0;
  /** What the party last told us (its offer or answer). */
  remote: AudioDescription | undefined;
  /** The codec and telephone-event type agreed with the party. */
  codec: Codec = 'PCMU';
  telephoneEventPt: number | undefined;
  /** Direction we last agreed with the party, from its point of view. */
  direction: Direction = 'sendrecv';
  #unwatch: (() => void) | undefined;

  constructor(engine: MediaEngine, opts: { timeoutMs?: number } = {}) {
    this.endpoint = engine.createEndpoint({ codec: 'PCMU', telephoneEventPt: TE_PT, timeoutMs: opts.timeoutMs ?? 0 });
  }

  /** Accepts the party's offer and returns our answer (throws SdpError with 488/400). */
  acceptOffer(body: Buffer): Body {
    const offer = parseAudio(body);
    const n = negotiate(offer);
    this.remote = offer;
    this.codec = n.codec;
    this.telephoneEventPt = n.telephoneEventPt;
    this.direction = offer.direction;
    this.#apply();
    return sdpBody(buildAudio({
      address: this.endpoint.address, port: this.endpoint.port,
      codecs: [{ codec: n.codec, pt: n.pt }], telephoneEventPt: n.telephoneEventPt,
      direction: answerDirection(offer.direction), sessionId: this.sessionId, version: ++this.version,
      answering: { streams: offer.streams, index: offer.index },
    }));
  }

  /** Our offer to the party: both codecs, `preferred` first, and telephone-event. */
  offer(preferred: Codec = 'PCMU', direction: Direction = 'sendrecv'): Body {
    const codecs = OUR_CODECS.slice().sort((a, b) => (a.codec === preferred ? -1 : b.codec === preferred ? 1 : 0));
    return sdpBody(buildAudio({
      address: this.endpoint.address, port: this.endpoint.port, codecs, telephoneEventPt: TE_PT,
      direction, sessionId: this.sessionId, version: ++this.version,
    }));
  }

  /** The party's answer to our offer (throws SdpError). */
  acceptAnswer(body: Buffer): void {
    const ans = parseAudio(body);
    const first = ans.codecs[0];
    if (!first) throw new SdpError('answer has no codec we offered', 488);
    this.remote = ans;
    this.codec = first.codec;
    this.telephoneEventPt = ans.telephoneEventPt;
    this.direction = ans.direction;
    this.#apply();
  }

  #apply(): void {
    const r = this.remote!;
    this.endpoint.update({ codec: this.codec, telephoneEventPt: this.telephoneEventPt ?? TE_PT });
    if (r.address !== '0.0.0.0' && r.port > 0) this.endpoint.setRemote({ address: r.address, port: r.port, rtcpPort: r.rtcpPort });
  }

  /**
   * Watches the party's RTP for its owner (a call, a local call): `onSilent` when it sends
   * nothing for `timeoutMs` (0: never) while `party()` says it should be talking and it is not
   * in a hold (whoever holds, a party may send nothing). A side that moves to another owner (a
   * transfer, a conference, voicemail) is watched by that owner from then on.
   */
  watch(timeoutMs: number, party: () => boolean, onSilent: (silentMs: number) => void): void {
    this.#unwatch?.();
    this.#unwatch = watchRtp(this.endpoint, { timeoutMs, expected: () => !party() || this.direction !== 'sendrecv', onSilent });
  }

  /** True when the party sends nothing to us (it holds the call). */
  get holding(): boolean {
    return this.direction === 'sendonly' || this.direction === 'inactive';
  }
}

/**
 * Two anchored sides, bridged; music on hold to whichever side is held, a tone (ringback while
 * a transfer target rings) to a side left alone. A transfer replaces one side.
 */
export class AnchoredMedia {
  /** The caller's side (its offer is answered before anything rings). */
  readonly a: AnchoredSide;
  #x: AnchoredSide;
  #y: AnchoredSide | undefined;
  readonly #engine: MediaEngine;
  #bridge: Bridge | undefined;
  readonly #moh: PlayerSource;
  #players = new Map<AnchoredSide, Player>();
  #waiting: AnchoredSide | undefined;
  readonly #closed = new Set<AnchoredSide>();
  readonly #detached = new Set<AnchoredSide>();

  constructor(engine: MediaEngine, moh: PlayerSource) {
    this.#engine = engine;
    this.#moh = moh;
    this.a = new AnchoredSide(engine);
    this.#x = this.a;
  }

  newSide(): AnchoredSide {
    return new AnchoredSide(this.#engine);
  }

  connect(b: AnchoredSide): void {
    this.#y = b;
    this.refresh();
  }

  /** A transfer: `gone` leaves, `keep` waits hearing `tone` until `replace` or `restore`. */
  hold(keep: AnchoredSide, tone: PlayerSource): void {
    this.#unbridge();
    this.#waiting = keep;
    this.#play(keep, tone);
  }

  /** The transfer target `neu` answered: it takes the place of `old`, whose endpoint closes. */
  replace(old: AnchoredSide, neu: AnchoredSide): void {
    if (this.#x === old) this.#x = neu;
    else if (this.#y === old) this.#y = neu;
    this.#waiting = undefined;
    this.#stop(old);
    old.endpoint.close();
    this.#closed.add(old);
    this.refresh();
  }

  /** Attended transfer: `side` leaves this call for another one; its endpoint stays open. */
  detach(side: AnchoredSide): void {
    this.#unbridge();
    this.#stop(side);
    this.#detached.add(side);
    if (this.#y === side) this.#y = undefined;
  }

  /** Attended transfer: `side` comes from another call and takes the place of `old`. */
  adopt(old: AnchoredSide, side: AnchoredSide): void {
    this.#detached.delete(side);
    this.replace(old, side);
  }

  /** The transfer failed: the two parties are bridged again. */
  restore(): void {
    this.#waiting = undefined;
    this.refresh();
  }

  /** Re-evaluates bridge and music on hold after either side's direction changed. */
  refresh(): void {
    const x = this.#x;
    const y = this.#y;
    if (!y || this.#waiting || this.#detached.has(x) || this.#detached.has(y)) return;
    if (x.holding || y.holding) {
      this.#unbridge();
      // the party that did not put the call on hold hears music
      for (const [holder, other] of [[x, y], [y, x]] as const) {
        if (holder.holding && !other.holding && !this.#players.has(other)) this.#play(other, this.#moh);
      }
      return;
    }
    for (const side of [...this.#players.keys()]) this.#stop(side);
    if (!this.#bridge || this.#bridge.closed) this.#bridge = this.#engine.createBridge(x.endpoint, y.endpoint);
  }

  #unbridge(): void {
    this.#bridge?.close();
    this.#bridge = undefined;
  }

  #play(side: AnchoredSide, source: PlayerSource): void {
    this.#stop(side);
    this.#players.set(side, side.endpoint.play(source, { loop: true }));
  }

  #stop(side: AnchoredSide): void {
    this.#players.get(side)?.close();
    this.#players.delete(side);
  }

  close(): void {
    for (const p of this.#players.values()) p.close();
    this.#players.clear();
    this.#bridge?.close();
    for (const side of [this.a, this.#x, this.#y]) {
      if (side && !this.#detached.has(side) && !side.endpoint.closed) side.endpoint.close();
    }
  }
}
