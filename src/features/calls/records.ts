/**
 * Call records as the B2BUA writes them, and the busy-hour call attempts (BHCA) it counts. A
 * record that cannot be written is logged; it never fails the call.
 */
import type { Clock } from '../../core/clock.js';
import type { CallDisposition, CallRecord, LegRecord } from '../../core/call-record.js';
import type { Logger } from '../../core/logger.js';
import type { SipRequest } from '../../sip/message/message.js';
import type { Leg } from './leg.js';
import type { AnchoredSide } from './media.js';
import type { CallInfo } from './ring/strategy.js';
import type { RouteContext } from './routing.js';

const HOUR_MS = 3600_000;

export class CallRecords {
  readonly #clock: Clock;
  readonly #sink: ((r: CallRecord) => void) | undefined;
  readonly #log: Logger;
  #attempts: number[] = [];

  constructor(clock: Clock, sink: ((r: CallRecord) => void) | undefined, log: Logger) {
    this.#clock = clock;
    this.#sink = sink;
    this.#log = log;
  }

  attempt(): void {
    this.#attempts.push(this.#clock.now());
  }

  get attemptsLastHour(): number {
    const from = this.#clock.now() - HOUR_MS;
    let i = 0;
    while (i < this.#attempts.length && this.#attempts[i] < from) i++;
    if (i) this.#attempts = this.#attempts.slice(i);
    return this.#attempts.length;
  }

  write(record: CallRecord): void {
    try {
      this.#sink?.(record);
    } catch (e) {
      this.#log.error(`call record not written: ${(e as Error).message}`, { call: record.id });
    }
  }
}

/** The record of a call refused before it rang anywhere (busy, do not disturb). */
export function recordRefused(req: SipRequest, ctx: RouteContext, id: string, disposition: 'busy', cause: string, clock: Clock): CallRecord {
  const now = new Date(clock.now());
  const from = ctx.from;
  return {
    id, start: now, answer: undefined, end: now,
    callerNumber: from.number, callerName: from.name, calledNumber: ctx.dialled, connectedNumber: undefined,
    direction: from.trunk ? 'incoming' : 'internal',
    legs: [{ role: 'caller', sipCallId: req.callId, party: from.number, codec: undefined, quality: undefined }],
    durationSec: 0, ringSec: 0, disposition, cause,
  };
}

/** What a finished call's record is made from. */
export interface CallFacts {
  info: CallInfo;
  start: Date;
  answer: Date | undefined;
  end: Date;
  caller: { leg: Leg; side: AnchoredSide | undefined };
  callee: { leg: Leg; side: AnchoredSide | undefined } | undefined;
  connected: string | undefined;
  disposition: CallDisposition;
  cause: string;
}

export function callRecord(f: CallFacts): CallRecord {
  const leg = (role: LegRecord['role'], p: { leg: Leg; side: AnchoredSide | undefined }): LegRecord => ({
    role, sipCallId: p.leg.callId, party: p.leg.party, codec: p.side?.codec, quality: p.side ? quality(p.side) : undefined,
  });
  const legs = [leg('caller', f.caller)];
  if (f.callee) legs.push(leg('callee', f.callee));
  return {
    id: f.info.id, start: f.start, answer: f.answer, end: f.end,
    callerNumber: f.info.callerNumber, callerName: f.info.callerName, calledNumber: f.info.calledNumber,
    connectedNumber: f.connected, direction: f.info.direction, legs,
    durationSec: f.answer ? Math.round((f.end.getTime() - f.answer.getTime()) / 1000) : 0,
    ringSec: Math.round(((f.answer ?? f.end).getTime() - f.start.getTime()) / 1000),
    disposition: f.disposition, cause: f.cause,
  };
}

function quality(side: AnchoredSide): LegRecord['quality'] {
  const q = side.endpoint.quality;
  return { packetsLost: q.totalLost, fractionLost: q.fractionLost, jitterMs: q.jitterMs, rttMs: q.rttMs ?? undefined };
}
