/**
 * The check every public entry of the CDR feature runs on a record (store write, SMDR publish):
 * a TypeError naming the first wrong field, so a bug in the producer is found where it is made,
 * not as a broken row or CSV line later. Only types and ranges are checked, not how the fields
 * relate (answer before end, ...): a wall-clock step must never cost a call its record.
 */
import type { CallDirection, CallDisposition, CallRecord, LegRecord } from '../../core/call-record.js';

export const CALL_DIRECTIONS: readonly CallDirection[] = ['internal', 'incoming', 'outgoing'];
export const CALL_DISPOSITIONS: readonly CallDisposition[] = ['answered', 'busy', 'no-answer', 'cancelled', 'rejected', 'failed'];

function fail(field: string, what: string): never {
  throw new TypeError(`${field}: must be ${what}`);
}

function str(v: unknown, field: string, nonEmpty = false): void {
  if (typeof v !== 'string' || (nonEmpty && v === '')) fail(field, nonEmpty ? 'a non-empty string' : 'a string');
}

function date(v: unknown, field: string): void {
  if (!(v instanceof Date) || Number.isNaN(v.getTime())) fail(field, 'a valid Date');
}

function num(v: unknown, field: string, min = 0, max = Infinity): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) fail(field, `a number ${min}..${max}`);
}

function oneOf(v: unknown, field: string, values: readonly unknown[]): void {
  if (!values.includes(v)) fail(field, `one of ${values.map(String).join(', ')}`);
}

function checkLeg(l: unknown, at: string): asserts l is LegRecord {
  if (typeof l !== 'object' || l === null) fail(at, 'a leg record');
  const leg = l as Record<string, unknown>;
  oneOf(leg.role, `${at}.role`, ['caller', 'callee']);
  str(leg.sipCallId, `${at}.sipCallId`, true);
  str(leg.party, `${at}.party`);
  oneOf(leg.codec, `${at}.codec`, ['PCMU', 'PCMA', undefined]);
  if (leg.quality === undefined) return;
  if (typeof leg.quality !== 'object' || leg.quality === null) fail(`${at}.quality`, 'RTCP figures or undefined');
  const q = leg.quality as Record<string, unknown>;
  // RTCP's cumulative lost count is signed (duplicates can outnumber losses).
  if (!Number.isInteger(q.packetsLost)) fail(`${at}.quality.packetsLost`, 'an integer');
  num(q.fractionLost, `${at}.quality.fractionLost`, 0, 1);
  num(q.jitterMs, `${at}.quality.jitterMs`);
  if (q.rttMs !== undefined) num(q.rttMs, `${at}.quality.rttMs`);
}

/** Throws a TypeError naming the field (`record.legs[1].codec: ...`) unless `r` is a well-formed CallRecord. */
export function assertCallRecord(r: unknown): asserts r is CallRecord {
  if (typeof r !== 'object' || r === null) fail('record', 'a call record');
  const c = r as Record<string, unknown>;
  str(c.id, 'record.id', true);
  date(c.start, 'record.start');
  if (c.answer !== undefined) date(c.answer, 'record.answer');
  date(c.end, 'record.end');
  str(c.callerNumber, 'record.callerNumber');
  str(c.callerName, 'record.callerName');
  str(c.calledNumber, 'record.calledNumber');
  if (c.connectedNumber !== undefined) str(c.connectedNumber, 'record.connectedNumber');
  oneOf(c.direction, 'record.direction', CALL_DIRECTIONS);
  if (!Array.isArray(c.legs)) fail('record.legs', 'an array of leg records');
  c.legs.forEach((l, i) => checkLeg(l, `record.legs[${i}]`));
  num(c.durationSec, 'record.durationSec');
  num(c.ringSec, 'record.ringSec');
  oneOf(c.disposition, 'record.disposition', CALL_DISPOSITIONS);
  str(c.cause, 'record.cause');
}

/**
 * A record that passes assertCallRecord made from whatever the producer gave, and what had to
 * be changed (`record.legs[0].sipCallId: ...`). A bill is never dropped for a bad field: the field
 * gets a visible stand-in ('' for unknown text, '(none)' for a missing Call-ID, 0 for numbers).
 */
export function repairCallRecord(r: unknown): { record: CallRecord; problems: string[] } {
  const problems: string[] = [];
  const c = (typeof r === 'object' && r !== null ? r : {}) as Record<string, unknown>;
  const text = (v: unknown, field: string, fallback: string, nonEmpty = false): string => {
    if (typeof v === 'string' && (!nonEmpty || v !== '')) return v;
    problems.push(`${field}: was ${JSON.stringify(v) ?? 'undefined'}`);
    return fallback;
  };
  const when = (v: unknown, field: string, fallback: Date): Date => {
    if (v instanceof Date && !Number.isNaN(v.getTime())) return v;
    problems.push(`${field}: was not a valid Date`);
    return fallback;
  };
  const count = (v: unknown, field: string): number => {
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
    problems.push(`${field}: was ${JSON.stringify(v) ?? 'undefined'}`);
    return 0;
  };
  const end = when(c.end, 'record.end', new Date());
  const legs = Array.isArray(c.legs) ? c.legs : (problems.push('record.legs: was not an array'), []);
  const record: CallRecord = {
    id: text(c.id, 'record.id', `repaired-${end.getTime().toString(36)}`, true),
    start: when(c.start, 'record.start', end),
    answer: c.answer === undefined ? undefined : when(c.answer, 'record.answer', end),
    end,
    callerNumber: text(c.callerNumber, 'record.callerNumber', ''),
    callerName: text(c.callerName, 'record.callerName', ''),
    calledNumber: text(c.calledNumber, 'record.calledNumber', ''),
    connectedNumber: c.connectedNumber === undefined ? undefined : text(c.connectedNumber, 'record.connectedNumber', ''),
    direction: CALL_DIRECTIONS.includes(c.direction as CallDirection) ? c.direction as CallDirection
      : (problems.push(`record.direction: was ${JSON.stringify(c.direction)}`), 'internal'),
    legs: legs.map((l: unknown, i: number): LegRecord => {
      const leg = (typeof l === 'object' && l !== null ? l : {}) as Record<string, unknown>;
      const at = `record.legs[${i}]`;
      let quality = leg.quality as LegRecord['quality'];
      try {
        checkLeg({ role: 'caller', sipCallId: 'x', party: '', codec: undefined, quality }, at);
      } catch {
        problems.push(`${at}.quality: dropped`);
        quality = undefined;
      }
      return {
        role: leg.role === 'callee' ? 'callee' : leg.role === 'caller' ? 'caller' : (problems.push(`${at}.role: was ${JSON.stringify(leg.role)}`), 'caller'),
        sipCallId: text(leg.sipCallId, `${at}.sipCallId`, '(none)', true),
        party: text(leg.party, `${at}.party`, ''),
        codec: leg.codec === 'PCMU' || leg.codec === 'PCMA' ? leg.codec : leg.codec === undefined ? undefined : (problems.push(`${at}.codec: dropped`), undefined),
        quality,
      };
    }),
    durationSec: count(c.durationSec, 'record.durationSec'),
    ringSec: count(c.ringSec, 'record.ringSec'),
    disposition: CALL_DISPOSITIONS.includes(c.disposition as CallDisposition) ? c.disposition as CallDisposition
      : (problems.push(`record.disposition: was ${JSON.stringify(c.disposition)}`), 'failed'),
    cause: text(c.cause, 'record.cause', ''),
  };
  return { record, problems };
}
