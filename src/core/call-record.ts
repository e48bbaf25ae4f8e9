/**
 * One call record per call, part of the call model: the B2BUA (features/calls) produces it
 * when the call ends; features/cdr keeps it, streams it as SMDR and checks it
 * (features/cdr/validate.ts) at those public boundaries. Plain data.
 */
export type CallDirection = 'internal' | 'incoming' | 'outgoing';
export type CallDisposition = 'answered' | 'busy' | 'no-answer' | 'cancelled' | 'rejected' | 'failed';
export interface LegQualityFigures { packetsLost: number; fractionLost: number; jitterMs: number; rttMs: number | undefined }
export interface LegRecord {
  role: 'caller' | 'callee';
  /** SIP Call-ID of this leg's dialog. */
  sipCallId: string;
  /** Extension, trunk name, or remote URI. */
  party: string;
  codec: 'PCMU' | 'PCMA' | undefined;
  /** RTCP figures when the leg had anchored media. */
  quality: LegQualityFigures | undefined;
}
export interface CallRecord {
  /** Our call id (unique per node). */
  id: string;
  start: Date;           // INVITE received
  answer: Date | undefined;
  end: Date;
  callerNumber: string; callerName: string;
  calledNumber: string;  // as dialled
  connectedNumber: string | undefined; // who answered (extension), if any
  direction: CallDirection;
  legs: LegRecord[];
  /** Seconds from answer to end (0 when unanswered), and from start to answer or end. */
  durationSec: number; ringSec: number;
  disposition: CallDisposition;
  /** SIP status that ended an unanswered call (486, 487, 480...), or the BYE side for answered calls. */
  cause: string;
}
