/**
 * SDP offer/answer (RFC 3264) for the audio the server handles: PCMU, PCMA and
 * telephone-event (RFC 4733), with sdp-transform doing the text.
 */
import * as sdpTransform from 'sdp-transform';
import type { Codec } from './endpoint.js';

export type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

/** The audio stream of a session description, as the server needs it. */
export interface AudioDescription {
  /** Connection address (c=); '0.0.0.0' means on hold (RFC 2543 style). */
  address: string;
  port: number;
  rtcpPort: number | undefined;
  rtcpMux: boolean;
  /** Offered codecs we know, in the peer's order of preference, with their payload types. */
  codecs: { codec: Codec; pt: number }[];
  /** telephone-event payload type, if offered. */
  telephoneEventPt: number | undefined;
  direction: Direction;
  ptime: number | undefined;
  /** Every m= line of the description in order (RFC 3264 6: an answer has as many). */
  streams: MediaLine[];
  /** Which of `streams` is this audio stream. */
  index: number;
}

/** One m= line, as much of it as an answer that rejects the stream repeats. */
export interface MediaLine {
  type: string;
  port: number;
  protocol: string;
  formats: string;
}

export class SdpError extends Error {
  /** The SIP status to answer with: 400 for bad SDP, 488 for nothing in common. */
  readonly status: number;
  constructor(message: string, status: number) {
    super(message);
    this.name = 'SdpError';
    this.status = status;
  }
}

const STATIC: Record<number, Codec> = { 0: 'PCMU', 8: 'PCMA' };

/** Reads the first audio stream of an SDP body; throws SdpError (400) when there is none. */
export function parseAudio(body: Buffer | string): AudioDescription {
  let s: sdpTransform.SessionDescription;
  try {
    s = sdpTransform.parse(typeof body === 'string' ? body : body.toString('utf8'));
  } catch (e) {
    throw new SdpError(`unparsable SDP: ${(e as Error).message}`, 400);
  }
  const media = s.media ?? [];
  // the first audio stream that is not itself rejected (port 0) carries the call
  let index = media.findIndex((x) => x.type === 'audio' && x.port !== 0);
  if (index < 0) index = media.findIndex((x) => x.type === 'audio');
  const m = media[index];
  if (!m) throw new SdpError('no audio stream in SDP', 488);
  const address = m.connection?.ip ?? s.connection?.ip;
  if (!address) throw new SdpError('no connection address in SDP', 400);
  const codecs: { codec: Codec; pt: number }[] = [];
  let telephoneEventPt: number | undefined;
  const pts = String(m.payloads ?? '').trim().split(/\s+/).filter(Boolean).map(Number);
  for (const pt of pts) {
    const rtp = m.rtp?.find((r) => r.payload === pt);
    const name = rtp?.codec.toUpperCase();
    if (name === 'TELEPHONE-EVENT' && (rtp?.rate ?? 8000) === 8000) telephoneEventPt ??= pt;
    else if (name === 'PCMU' || name === 'PCMA') codecs.push({ codec: name, pt });
    else if (!rtp && STATIC[pt]) codecs.push({ codec: STATIC[pt], pt });
  }
  const dir = (m.direction ?? s.direction ?? 'sendrecv') as Direction;
  return {
    address,
    port: m.port,
    rtcpPort: m.rtcp?.port,
    rtcpMux: m.rtcpMux !== undefined,
    codecs,
    telephoneEventPt,
    direction: address === '0.0.0.0' && dir === 'sendrecv' ? 'sendonly' : dir,
    ptime: m.ptime,
    streams: media.map((x) => ({ type: x.type, port: x.port, protocol: x.protocol, formats: String(x.payloads ?? '').trim() || '0' })),
    index,
  };
}

/** What we agree to for a remote offer: the first of its codecs we support (488 if none). */
export function negotiate(offer: AudioDescription, supported: readonly Codec[] = ['PCMU', 'PCMA']): { codec: Codec; pt: number; telephoneEventPt: number | undefined } {
  const pick = offer.codecs.find((c) => supported.includes(c.codec));
  if (!pick) throw new SdpError(`no common codec (offered ${offer.codecs.map((c) => c.codec).join(', ') || 'none we know'})`, 488);
  return { codec: pick.codec, pt: pick.pt, telephoneEventPt: offer.telephoneEventPt };
}

/** The direction we answer with, seen from our side (RFC 3264 section 6.1). */
export function answerDirection(offered: Direction): Direction {
  switch (offered) {
    case 'sendonly': return 'recvonly';
    case 'recvonly': return 'sendonly';
    default: return offered;
  }
}

export interface SdpBuild {
  address: string;
  port: number;
  /** Codecs in our order of preference. */
  codecs: { codec: Codec; pt: number }[];
  telephoneEventPt?: number;
  direction?: Direction;
  /** o= session id and version: keep the id, bump the version on every change (RFC 3264 8). */
  sessionId: number;
  version: number;
  rtcpMux?: boolean;
  ptime?: number;
  /**
   * Answering an offer: its streams, and which one is the audio we take. Every other stream is
   * answered rejected (port 0, RFC 3264 6), in its place.
   */
  answering?: { streams: MediaLine[]; index: number };
}

/** Writes an SDP with one audio stream (and, in an answer, the offer's other streams rejected). */
export function buildAudio(b: SdpBuild): string {
  const pts = b.codecs.map((c) => c.pt);
  const audio = [
    `m=audio ${b.port} RTP/AVP ${[...pts, ...(b.telephoneEventPt !== undefined ? [b.telephoneEventPt] : [])].join(' ')}`,
    ...b.codecs.map((c) => `a=rtpmap:${c.pt} ${c.codec}/8000`),
  ];
  if (b.telephoneEventPt !== undefined) audio.push(`a=rtpmap:${b.telephoneEventPt} telephone-event/8000`, `a=fmtp:${b.telephoneEventPt} 0-16`);
  if (b.rtcpMux) audio.push('a=rtcp-mux');
  audio.push(`a=ptime:${b.ptime ?? 20}`, `a=${b.direction ?? 'sendrecv'}`);
  const streams = b.answering
    ? b.answering.streams.flatMap((m, i) => (i === b.answering!.index ? audio : [`m=${m.type} 0 ${m.protocol} ${m.formats}`]))
    : audio;
  const lines = ['v=0', `o=pbx-core ${b.sessionId} ${b.version} IN IP4 ${b.address}`, 's=pbx-core', `c=IN IP4 ${b.address}`, 't=0 0', ...streams];
  return `${lines.join('\r\n')}\r\n`;
}
