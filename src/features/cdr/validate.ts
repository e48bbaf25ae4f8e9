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
