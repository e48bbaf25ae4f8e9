/**
 * Ad-hoc conferences made from calls. A user merges their answered calls into one conference
 * with the *47 feature code, or the RFC 4579 way: an INVITE to the conference factory URI, then
 * REFERs to the focus naming the other calls with Replaces. The other party of each call moves
 * into the room with its SIP leg and media as they are; the user's own legs of those calls end.
 */
import type { Logger } from '../../core/logger.js';
import type { SipRequest } from '../../sip/message/message.js';
import type { InviteServerTransaction } from '../../sip/transaction/server.js';
import type { TransportProtocol } from '../../sip/transport/types.js';
import type { Call } from './call.js';
import type { Leg } from './leg.js';
import type { LocalCall, LocalCallInfo, LocalService } from './local.js';
import { notify, parseReferTo } from './transfer.js';

/** The user part of the conference factory URI (RFC 4579): sip:conference@<domain>. */
export const CONFERENCE_FACTORY = 'conference';

/** An ad-hoc conference room as the B2BUA fills it (src/features/conference fits). */
export interface AdHocRoom {
  readonly id: string;
  readonly closed: boolean;
  add(party: LocalCall): boolean;
}

export interface AdHocRooms {
  createAdHoc(): AdHocRoom;
}

/** What merging needs of the B2BUA (Calls). */
export interface AdHocHost {
  readonly log: Logger;
  /** The user's answered calls with anchored media. */
  answeredCallsOf(user: string): Call[];
  /** Answers the caller's INVITE with a service of ours (a LocalCall). */
  answerLocally(req: SipRequest, tx: InviteServerTransaction, info: Omit<LocalCallInfo, 'id'>, service: LocalService): LocalCall | undefined;
  legOf(call: LocalCall): Leg | undefined;
  /** The call and leg of a dialog we hold, by our dialog key. */
  findLeg(key: string): { call: Call; leg: Leg } | undefined;
  /** The party opposite `userLeg` leaves `call` as a LocalCall; the call ends. */
  takePeer(call: Call, userLeg: Leg, why: string): LocalCall | undefined;
  respond(req: SipRequest, tx: InviteServerTransaction, status: number, reason: string): void;
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
  merge(req: SipRequest, tx: InviteServerTransaction, user: string, name: string): LocalCall | undefined {
    const h = this.#host;
    const calls = h.answeredCallsOf(user);
    if (!calls.length) return void h.respond(req, tx, 403, `Forbidden (${user} has no answered call to conference)`);
    const seat = [...this.#in].find(([lc, room]) => lc.info.caller === user && lc.info.dialled === '*47' && !lc.ended && !room.closed);
    const room = seat?.[1] ?? this.#rooms.createAdHoc();
    return h.answerLocally(req, tx, { caller: user, callerName: name, dialled: '*47', target: room.id }, {
      accept: (me) => {
        me.answer();
        if (!this.#join(me, room)) return;
        for (const call of calls) this.#moveIn(call, call.parties.find((p) => p.leg.party === user)!.leg, room);
        seat?.[0].hangup();
        h.log.info(`${user} merged ${calls.length} call(s) into ad-hoc conference ${room.id}`, { callId: req.callId });
      },
    });
  }

  /**
   * RFC 4579: the factory INVITE makes a conference and is answered by its focus (Contact
   * ;isfocus); each REFER to the focus with Replaces naming the user's dialog of another call
   * moves that call's other party in (202, then a sipfrag NOTIFY).
   */
  focus(req: SipRequest, tx: InviteServerTransaction, user: string, name: string): LocalCall | undefined {
    const h = this.#host;
    const room = this.#rooms.createAdHoc();
    const l = h.local(tx.source.protocol);
    return h.answerLocally(req, tx, { caller: user, callerName: name, dialled: CONFERENCE_FACTORY, target: room.id }, {
      accept: (me) => {
        me.answer({ contact: `<sip:${room.id}@${l.address}:${l.port};transport=${tx.source.protocol}>;isfocus` });
        if (!this.#join(me, room)) return;
        const leg = h.legOf(me)!;
        leg.on('refer', (refer, rtx) => {
          const r = parseReferTo(refer);
          // a Refer-To without Replaces asks the focus to dial out: not offered
          if (!r || r.replaces === undefined) return leg.answerRequest(refer, rtx, r ? 501 : 400);
          const found = r.replaces ? h.findLeg(r.replaces) : undefined;
          if (!found || found.call.ended || !found.call.media || found.leg.party !== user) return leg.answerRequest(refer, rtx, 481);
          leg.answerRequest(refer, rtx, 202);
          const moved = this.#moveIn(found.call, found.leg, room);
          notify(leg, moved ? 'SIP/2.0 200 OK' : 'SIP/2.0 503 Service Unavailable', true);
        });
      },
    });
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

  #moveIn(call: Call, userLeg: Leg, room: AdHocRoom): boolean {
    const party = this.#host.takePeer(call, userLeg, `merged into conference ${room.id}`);
    return party !== undefined && this.#join(party, room);
  }
}
