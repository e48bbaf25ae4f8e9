/**
 * Calls in progress as an operator sees them (the admin API's live calls): who, in what state,
 * since when, and per party the codec and the RTCP quality figures of its anchored media. Read
 * from what Call and LocalCall expose, so the call state machine needs nothing extra.
 */
import type { Endpoint } from '../../media/index.js';
import type { LegQuality } from '../../media/rtcp.js';
import type { Call } from './call.js';
import type { LocalCall } from './local.js';

export interface CallPartySnapshot {
  /** Extension, trunk name, or the caller's number. */
  number: string;
  /** The codec agreed with this party (anchored media); undefined for direct media. */
  codec: 'PCMU' | 'PCMA' | undefined;
  /** What the party's RTCP reports say of the stream we send it; undefined for direct media. */
  quality: LegQuality | undefined;
}

export interface CallSnapshot {
  id: string;
  /** ringing: not answered yet; connected: two parties talk; service: answered by the node itself (conference, voicemail). */
  state: 'ringing' | 'connected' | 'service';
  direction: 'internal' | 'incoming' | 'outgoing';
  caller: string;
  callerName: string;
  /** The number dialled. */
  called: string;
  startedAt: Date;
  /** The extensions ringing now (state ringing). */
  ringing: string[];
  parties: CallPartySnapshot[];
}

function party(number: string, endpoint: Endpoint | undefined): CallPartySnapshot {
  const open = endpoint !== undefined && !endpoint.closed;
  return { number, codec: open ? endpoint.codec : undefined, quality: open ? endpoint.quality : undefined };
}

export function describeCall(call: Call): CallSnapshot {
  const answered = call.parties.length > 0;
  return {
    id: call.info.id,
    state: answered ? 'connected' : 'ringing',
    direction: call.info.direction,
    caller: call.info.callerNumber,
    callerName: call.info.callerName,
    called: call.info.calledNumber,
    startedAt: call.start,
    ringing: call.ringingNumbers,
    parties: answered ? call.parties.map((p) => party(p.leg.party, p.side?.endpoint)) : [party(call.a.party, call.media?.a.endpoint)],
  };
}

export function describeLocal(call: LocalCall): CallSnapshot {
  return {
    id: call.info.id,
    state: 'service',
    direction: 'internal',
    caller: call.info.caller,
    callerName: call.info.callerName,
    called: call.info.dialled || call.info.target,
    startedAt: call.since,
    ringing: [],
    parties: [party(call.info.caller, call.endpoint)],
  };
}
