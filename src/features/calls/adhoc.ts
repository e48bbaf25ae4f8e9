/**
 * Ad-hoc conferences made from calls. A user merges their answered calls into one conference
 * with the *47 feature code, or the RFC 4579 way: an INVITE to the conference factory URI, then
 * REFERs to the focus naming the other calls with Replaces. The other party of each call moves
 * into the room with its SIP leg and media as they are; the user's own legs of those calls end.
 */
import type { Logger } from '../../core/logger.js';
import type { TransportProtocol } from '../../sip/transport/types.js';
import type { Leg } from './leg.js';
import type { AnchoredMedia } from './media.js';
import type { LocalCall } from './local.js';
import type { Party } from './session.js';
import { notify, parseReferTo } from './transfer.js';
import { refusal, type AdHocRoom, type AdHocRooms, type Decision } from './types.js';

/** The user part of the conference factory URI (RFC 4579): sip:conference@<domain>. */
export const CONFERENCE_FACTORY = 'conference';

export type { AdHocRoom, AdHocRooms } from './types.js';

/** A call as merging sees it (Call fits). */
export interface MergedCall {
  readonly over: boolean;
  readonly media: AnchoredMedia | undefined;
  readonly parties: readonly Party[];
}

/** What merging needs of the B2BUA (Calls). */
export interface AdHocHost {
  readonly log: Logger;
  /** The user's answered calls with anchored media. */
  answeredCallsOf(user: string): MergedCall[];
  legOf(call: LocalCall): Leg | undefined;
  /** The call and leg of a dialog we hold, by our dialog key. */
  findLeg(key: string): { call: MergedCall; leg: Leg } | undefined;
  /** The party opposite `userLeg` leaves `call` as a LocalCall; the call ends. */
  takePeer(call: MergedCall, userLeg: Leg, why: string): LocalCall | undefined;
  local(protocol: TransportProtocol): { address: string; port: number };
}

export class AdHocConferences {
  readonly #host: AdHocHost;
  readonly #rooms: AdHocRooms;
  /** Parties of ad-hoc conferences, and their room. */
  readonly #in = new Map<LocalCall, AdHocRoom>();

  constructor(host: AdHocHost, rooms: AdHocRooms) {
    this.#host = host;
    this.#rooms = rooms;
  }

  /**
   * *47: the user's answered calls (held or not) and this new call become one conference; this
   * call is the user's seat. A user already in an ad-hoc conference adds the calls to that one,
   * and this call replaces the old seat.
   */
  merge(user: string, name: string): Decision {
    const h = this.#host;
    const calls = h.answeredCallsOf(user);
    if (!calls.length) return refusal(403, `Forbidden (${user} has no answered call to conference)`);
    const seat = [...this.#in].find(([lc, room]) => lc.info.caller === user && lc.info.dialled === '*47' && !lc.ended && !room.closed);
    const room = seat?.[1] ?? this.#rooms.createAdHoc();
    return { kind: 'local', info: { caller: user, callerName: name, dialled: '*47', target: room.id }, service: {
      accept: (me) => {
        me.answer();
        if (!this.#join(me, room)) return;
        for (const call of calls) this.#moveIn(call, call.parties.find((p) => p.leg.party === user)!.leg, room);
        seat?.[0].hangup();
        h.log.info(`${user} merged ${calls.length} call(s) into ad-hoc conference ${room.id}`, { call: me.info.id });
      },
    } };
  }

  /**
   * RFC 4579: the factory INVITE makes a conference and is answered by its focus (Contact
   * ;isfocus); each REFER to the focus with Replaces naming the user's dialog of another call
   * moves that call's other party in (202, then a sipfrag NOTIFY).
   */
  focus(user: string, name: string, protocol: TransportProtocol): Decision {
    const h = this.#host;
    const room = this.#rooms.createAdHoc();
    const l = h.local(protocol);
    return { kind: 'local', info: { caller: user, callerName: name, dialled: CONFERENCE_FACTORY, target: room.id }, service: {
      accept: (me) => {
        me.answer({ contact: `<sip:${room.id}@${l.address}:${l.port};transport=${protocol}>;isfocus` });
        if (!this.#join(me, room)) return;
        const leg = h.legOf(me)!;
        leg.on('refer', (refer, rtx) => {
          const r = parseReferTo(refer);
          // a Refer-To without Replaces asks the focus to dial out: not offered
          if (!r || r.replaces === undefined) return leg.answerRequest(refer, rtx, r ? 501 : 400);
          const found = r.replaces ? h.findLeg(r.replaces) : undefined;
          if (!found || found.call.over || !found.call.media || found.leg.party !== user) return leg.answerRequest(refer, rtx, 481);
          leg.answerRequest(refer, rtx, 202);
          const moved = this.#moveIn(found.call, found.leg, room);
          notify(leg, moved ? 'SIP/2.0 200 OK' : 'SIP/2.0 503 Service Unavailable', true);
        });
      },
    } };
  }

  /** A party of the room from now on; false (and hung up) when the room is full. */
  #join(lc: LocalCall, room: AdHocRoom): boolean {
    if (!room.add(lc)) {
      lc.hangup();
      return false;
    }
    this.#in.set(lc, room);
    lc.onEnd(() => this.#in.delete(lc));
    return true;
  }

  #moveIn(call: MergedCall, userLeg: Leg, room: AdHocRoom): boolean {
    const party = this.#host.takePeer(call, userLeg, `merged into conference ${room.id}`);
    return party !== undefined && this.#join(party, room);
  }
}
