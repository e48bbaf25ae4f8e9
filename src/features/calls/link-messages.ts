/**
 * What a call over a node link asks of the node it reaches: the number in the Request-URI, and
 * in one header the service (the links are our own trunks, so both ends agree on it): ring a user
 * as dialled (with their forwarding, do not disturb and mailbox, applied where the user is
 * served), ring only their phones (a hunt group's member, a forward on busy), leave or collect a
 * message, join a meet-me room, go out on a line group of that node, or run a user's hunt-group
 * feature there. The caller's own node has decided the rest (short codes, rights, barring).
 */
import { parseAddress } from '../../sip/message/address.js';
import type { SipRequest } from '../../sip/message/message.js';

export const LINK_HEADER = 'X-Pbx-Link';

/** The service a link call asks for; the number it is for travels in the Request-URI. */
export type LinkService =
  | { kind: 'call' | 'phones' | 'voicemail' | 'meetme' }
  /** The mailbox to listen to; '' (the Request-URI's `none`): the caller is asked for one. */
  | { kind: 'collect' }
  | { kind: 'line'; lineGroup: number }
  /** A hunt-group feature of the caller; number '': every group of theirs. */
  | { kind: 'feature'; feature: LinkFeature };

/** The hunt-group features a user of another node runs on the node the groups are on. */
export const LINK_FEATURES = ['huntGroupLogin', 'huntGroupLogout', 'nightServiceOn', 'nightServiceOff'] as const;
export type LinkFeature = (typeof LINK_FEATURES)[number];

/** How the call reached the solution: from a user's phone, or in on a trunk. */
export type LinkOrigin = 'user' | 'trunk';

export interface LinkRequest {
  service: LinkService;
  origin: LinkOrigin;
  /** Links the call crossed before this one (a call between expansions crosses two). */
  hops: number;
}

/** Links a call may cross; one more is a loop (forwarding between nodes, nodes that disagree). */
export const MAX_LINK_HOPS = 3;

/** The Request-URI user of an empty number (no digits can spell it). */
export const NO_NUMBER = 'none';

const KINDS = new Set(['call', 'phones', 'voicemail', 'collect', 'meetme', 'line', 'feature']);
const NUMBER = /^[0-9*#+]{1,32}$/;

/** The header's value: `kind=call;origin=user;hops=0`, with `lg=` or `feature=` for those kinds. */
export function encodeLinkRequest(r: LinkRequest): string {
  const s = r.service;
  const extra = s.kind === 'line' ? `;lg=${s.lineGroup}` : s.kind === 'feature' ? `;feature=${s.feature}` : '';
  return `kind=${s.kind}${extra};origin=${r.origin};hops=${r.hops}`;
}

/** The Request-URI user part for `number`. */
export function linkUser(number: string): string {
  return number === '' ? NO_NUMBER : number;
}

/**
 * The request and number of an INVITE over a link; undefined when it carries no request or a
 * malformed one (the link answers 400).
 */
export function parseLinkRequest(req: SipRequest): { request: LinkRequest; number: string } | undefined {
  const value = req.get(LINK_HEADER);
  if (value === undefined || !req.uri.isSip) return undefined;
  const p = new Map<string, string>();
  for (const part of value.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) return undefined;
    p.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  const kind = p.get('kind') ?? '';
  const origin = p.get('origin');
  const hops = Number(p.get('hops') ?? '');
  if (!KINDS.has(kind) || (origin !== 'user' && origin !== 'trunk') || !Number.isInteger(hops) || hops < 0) return undefined;
  const user = req.uri.userDecoded ?? '';
  const number = user === NO_NUMBER && (kind === 'collect' || kind === 'feature') ? '' : user;
  if (number !== '' && !NUMBER.test(number)) return undefined;
  if (number === '' && kind !== 'collect' && kind !== 'feature') return undefined;
  let service: LinkService;
  if (kind === 'line') {
    const lg = Number(p.get('lg'));
    if (!/^[0-9]{1,5}$/.test(p.get('lg') ?? '')) return undefined;
    service = { kind, lineGroup: lg };
  } else if (kind === 'feature') {
    const feature = p.get('feature') as LinkFeature;
    if (!LINK_FEATURES.includes(feature)) return undefined;
    service = { kind, feature };
  } else {
    service = { kind: kind as 'call' };
  }
  return { request: { service, origin, hops }, number };
}

/**
 * Who calls, as the node the call comes from presents them: the true number and name in
 * P-Asserted-Identity (the link is trusted), Privacy: id when they are withheld from the callee.
 */
export function linkCaller(req: SipRequest): { number: string; name: string; withheld: boolean } {
  let address;
  try {
    address = parseAddress(req.get('p-asserted-identity') ?? '');
  } catch {
    address = { uri: req.from.uri, displayName: req.from.displayName };
  }
  const number = address.uri.isSip ? address.uri.userDecoded ?? '' : '';
  const withheld = (req.get('privacy') ?? '').toLowerCase().split(';').some((p) => p.trim() === 'id');
  return { number: number || 'anonymous', name: address.displayName ?? '', withheld };
}
