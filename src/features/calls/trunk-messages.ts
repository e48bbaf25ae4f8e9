/**
 * The SIP side of trunk calls that is pure message work: the INVITE we send a carrier, and who
 * an INVITE from a carrier is from and for.
 */
import type { SipRequest } from '../../sip/message/message.js';
import { parseAddress } from '../../sip/message/address.js';
import type { SipStack } from '../../sip/stack.js';
import { buildInvite } from '../../sip/ua/requests.js';
import type { Body } from './leg.js';
import type { CallerIdOut, RouteTrunk } from './outbound.js';

export interface TrunkInviteOptions {
  trunk: RouteTrunk;
  /** The number for the carrier (the ARS output) and how the caller is presented. */
  number: string;
  callerId: CallerIdOut;
  caller: { number: string; name: string; withheld: boolean };
  /** Our Contact for the transport the carrier is reached on. */
  contact: string;
  /** Max-Forwards of the caller's INVITE, if any. */
  maxForwards: number | undefined;
  /** The offer; none for a delayed offer. */
  body?: Body | undefined;
}

/** The INVITE to a carrier (without Via): identity per the trunk's presentation rules. */
export function trunkInvite(stack: SipStack, o: TrunkInviteOptions): SipRequest {
  const t = o.trunk;
  const id = t.identity({ number: o.callerId.set ?? o.caller.number, name: o.caller.name, withheld: o.caller.withheld || o.callerId.withhold === true });
  const uri = t.requestUri(o.number);
  return buildInvite(stack, { uri, from: id.from, to: `<${uri}>`, contact: o.contact, maxForwards: o.maxForwards, headers: id.headers, body: o.body });
}

export interface IncomingParty {
  /** The number called (the DID), in the local dialling form. */
  number: string;
  /** The caller's number in the local dialling form; undefined when withheld or unavailable. */
  callerId: string | undefined;
  withheld: boolean;
  name: string;
}

/**
 * Who calls and which number, from a carrier's INVITE. The caller comes from
 * P-Asserted-Identity when the carrier sends it, else From; Privacy: id or an anonymous user
 * means withheld. The number called is the Request-URI's user, unless that is our own account
 * (a registration trunk's calls arrive at the registered contact): then the To user.
 */
export function incomingParty(req: SipRequest, trunk: { incomingNumber(n: string): string; readonly config: { readonly username?: string } }): IncomingParty {
  let called = req.uri.isSip ? req.uri.userDecoded ?? '' : '';
  if (trunk.config.username !== undefined && called === trunk.config.username && req.to.uri.isSip) called = req.to.uri.userDecoded ?? called;
  let callerUri = req.from.uri;
  const pai = req.get('p-asserted-identity');
  if (pai) {
    try {
      callerUri = parseAddress(pai).uri;
    } catch { /* keep From */ }
  }
  const privacy = (req.get('privacy') ?? '').toLowerCase();
  const user = callerUri.isSip ? callerUri.userDecoded ?? '' : '';
  const withheld = privacy.split(';').some((p) => p.trim() === 'id') || user === '' || user.toLowerCase() === 'anonymous';
  const callerId = withheld || !/^\+?[0-9*#]+$/.test(user) ? undefined : trunk.incomingNumber(user);
  return { number: trunk.incomingNumber(called), callerId, withheld, name: req.from.displayName ?? '' };
}
