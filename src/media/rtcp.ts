/**
 * RTCP reports the engine hands up (as raw buffers) turned into per-leg call-quality figures with
 * rtp.js. Packets are rare (one per leg every few seconds), so JavaScript is the right place.
 */
import { CompoundPacket, ReceiverReportPacket, SenderReportPacket, isRtcp } from 'rtp.js/packets';
import type { ReceptionReport } from 'rtp.js/packets';

export interface RtcpBlock {
  ssrc: number;
  fractionLost: number; // 0..1, since the previous report
  totalLost: number;
  highestSeq: number;
  jitterMs: number; // interarrival jitter at 8 kHz
  lsr: number;
  dlsr: number;
}

export interface RtcpReport {
  kind: 'sr' | 'rr' | 'other';
  ssrc: number;
  /** Sender info (SR only). */
  packetCount?: number;
  octetCount?: number;
  blocks: RtcpBlock[];
  /** Round trip from LSR/DLSR of the first block, in ms, when the peer echoed one of our SRs. */
  rttMs?: number;
}

/** Loss, jitter and round trip of one leg, as the far end reports our stream. */
export interface LegQuality {
  reports: number;
  fractionLost: number;
  totalLost: number;
  jitterMs: number;
  rttMs: number | null;
}

/** NTP "middle 32 bits" of a wall-clock time (the LSR unit: 1/65536 s). */
export function ntpMiddle(ms = Date.now()): number {
  const secs = ms / 1000 + 2208988800;
  return Math.floor(secs * 65536) >>> 0;
}

function block(r: ReceptionReport): RtcpBlock {
  return {
    ssrc: r.getSsrc(),
    fractionLost: r.getFractionLost() / 256,
    totalLost: r.getTotalLost(),
    highestSeq: r.getHighestSeqNumber(),
    jitterMs: r.getJitter() / 8,
    lsr: r.getLastSRTimestamp(),
    dlsr: r.getDelaySinceLastSR(),
  };
}

/** Parses a (compound) RTCP packet; returns the first SR or RR found. */
export function parseRtcp(buf: Uint8Array, nowMs = performance.timeOrigin + performance.now()): RtcpReport {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (!isRtcp(view)) return { kind: 'other', ssrc: 0, blocks: [] };
  const compound = new CompoundPacket(view);
  for (const p of compound.getPackets()) {
    if (p instanceof SenderReportPacket || p instanceof ReceiverReportPacket) {
      const blocks = p.getReports().map(block);
      const report: RtcpReport = { kind: p instanceof SenderReportPacket ? 'sr' : 'rr', ssrc: p.getSsrc(), blocks };
      if (p instanceof SenderReportPacket) {
        report.packetCount = p.getPacketCount();
        report.octetCount = p.getOctetCount();
      }
      const b = blocks[0];
      // Signed: on a fast link, clock granularity can make the difference slightly negative.
      if (b && b.lsr !== 0) report.rttMs = Math.max(0, (((ntpMiddle(nowMs) - b.lsr - b.dlsr) | 0) * 1000) / 65536);
      return report;
    }
  }
  return { kind: 'other', ssrc: 0, blocks: [] };
}

/** Keeps the latest figures of one leg. */
export class QualityTracker {
  #q: LegQuality = { reports: 0, fractionLost: 0, totalLost: 0, jitterMs: 0, rttMs: null };
  update(r: RtcpReport): void {
    const b = r.blocks[0];
    if (!b) return;
    this.#q = {
      reports: this.#q.reports + 1,
      fractionLost: b.fractionLost,
      totalLost: b.totalLost,
      jitterMs: b.jitterMs,
      rttMs: r.rttMs !== undefined && r.rttMs < 60_000 ? r.rttMs : this.#q.rttMs,
    };
  }
  get value(): LegQuality {
    return { ...this.#q };
  }
}
