/**
 * Incoming call routes: a call from a trunk is matched on its line group, then the number it was
 * sent to, then the caller's number; the most specific route wins. Incoming numbers are matched
 * from the right by default because carriers differ in how much of the number they send
 * (with or without country code, national prefix), but the last digits are always there.
 */
import type { IncomingCallRouteConfig } from '../../core/config/dialplan-schema.js';
import type { IncomingCall, IncomingDecision, TraceLine } from './types.js';

interface CompiledRoute {
  readonly index: number;
  readonly cfg: IncomingCallRouteConfig;
  /** The digits pattern without a leading "-". */
  readonly digits: string;
  readonly leftToRight: boolean;
}

export type CompiledIncoming = ReadonlyMap<number, readonly CompiledRoute[]>;

export function compileIncoming(routes: readonly IncomingCallRouteConfig[], hasProfile: (name: string) => boolean): CompiledIncoming {
  const byGroup = new Map<number, CompiledRoute[]>();
  routes.forEach((cfg, index) => {
    cfg.destinations.forEach((row, j) => {
      if (!hasProfile(row.timeProfile)) {
        throw new TypeError(`dialPlan.incomingCallRoutes[${index}].destinations[${j}].timeProfile: unknown time profile ${JSON.stringify(row.timeProfile)}`);
      }
    });
    const leftToRight = cfg.incomingNumber.startsWith('-');
    const route = { index, cfg, digits: leftToRight ? cfg.incomingNumber.slice(1) : cfg.incomingNumber, leftToRight };
    const list = byGroup.get(cfg.lineGroup);
    if (list) list.push(route);
    else byGroup.set(cfg.lineGroup, [route]);
  });
  return byGroup;
}

function charMatches(p: number, c: number): boolean {
  return p === 88 /* X */ ? c >= 48 && c <= 57 : p === c;
}

/** How specific the route's number is for this call (1 + its length), 0 for blank, -1 for no match. */
function numberScore(r: CompiledRoute, n: string): number {
  const p = r.digits;
  if (p === '') return r.leftToRight ? (n === '' ? 1 : -1) : 0;
  if (r.leftToRight) {
    if (p.length !== n.length) return -1;
    for (let i = 0; i < p.length; i++) if (!charMatches(p.charCodeAt(i), n.charCodeAt(i))) return -1;
  } else {
    if (p.length > n.length) return -1;
    const off = n.length - p.length;
    for (let i = 0; i < p.length; i++) if (!charMatches(p.charCodeAt(i), n.charCodeAt(off + i))) return -1;
  }
  return 1 + p.length;
}

/**
 * How specific the route's caller ID is for this call, -1 for no match. A withheld caller's
 * number (if the trunk sent one anyway) is not used for routing: the caller asked for privacy.
 */
function callerScore(pattern: string, call: IncomingCall): number {
  if (pattern === '') return 0;
  if (pattern === '!') return call.withheld ? 1 : -1;
  if (pattern === '?') return call.callerId === undefined ? 1 : -1;
  if (call.withheld || call.callerId === undefined || !call.callerId.startsWith(pattern)) return -1;
  return 1 + pattern.length;
}

export interface IncomingHelpers {
  profileActive(name: string): boolean;
  /** Whether an extension or an internal system short code (never an outside line) takes this number. */
  systemTakes(number: string): boolean;
  /** Where calls no route or internal number takes go (dialPlan.incomingDefault); undefined: refused. */
  defaultDestination?: string;
}

export function decideIncoming(routes: CompiledIncoming, call: IncomingCall, at: Date, h: IncomingHelpers): IncomingDecision {
  const trace: TraceLine[] = [];
  const who = call.withheld ? 'withheld caller' : call.callerId === undefined ? 'caller with no number' : `caller ${call.callerId}`;
  trace.push({ step: 'incoming', text: `call to ${call.number === '' ? '(no number)' : call.number} on line group ${call.lineGroup} from ${who} at ${at.toISOString()}` });
  let best: CompiledRoute | undefined;
  let bestNumber = -1;
  let bestCaller = -1;
  for (const r of routes.get(call.lineGroup) ?? []) {
    const ns = numberScore(r, call.number);
    if (ns < 0) continue;
    const cs = callerScore(r.cfg.callerId, call);
    if (cs < 0) continue;
    // Routes are in config order, so a tie keeps the earlier one.
    if (ns > bestNumber || (ns === bestNumber && cs > bestCaller)) {
      best = r;
      bestNumber = ns;
      bestCaller = cs;
    }
  }
  if (best === undefined) {
    if (h.systemTakes(call.number)) {
      trace.push({ step: 'incoming', text: `no incoming call route matches: ${call.number} is taken by an extension or an internal system short code` });
      trace.push({ step: 'result', text: `destination ${call.number}` });
      return { destination: call.number, fallback: undefined, route: undefined, trace };
    }
    if (h.defaultDestination !== undefined) {
      trace.push({ step: 'incoming', text: 'no incoming call route matches and no extension or internal system short code takes the number (outside lines only by a route)' });
      trace.push({ step: 'result', text: `default destination (dialPlan.incomingDefault): ${h.defaultDestination}` });
      return { destination: h.defaultDestination, fallback: undefined, route: undefined, trace };
    }
    trace.push({ step: 'incoming', text: 'no incoming call route matches, and no extension or internal system short code takes the number (outside lines only by a route)' });
    trace.push({ step: 'result', text: 'rejected (404 Not Found)' });
    return { destination: undefined, trace };
  }
  const cfg = best.cfg;
  const numberText = cfg.incomingNumber === '' ? 'any number' : `number ${cfg.incomingNumber}`;
  const callerText = cfg.callerId === '' ? 'any caller' : `caller ID ${cfg.callerId}`;
  trace.push({ step: 'incoming', text: `route dialPlan.incomingCallRoutes[${best.index}] (line group ${cfg.lineGroup}, ${numberText}, ${callerText})` });
  let destination = cfg.destination;
  let fallback = cfg.fallback;
  let row = 'default destination';
  for (const d of cfg.destinations) {
    if (h.profileActive(d.timeProfile)) {
      trace.push({ step: 'time', text: `time profile ${d.timeProfile} is active` });
      destination = d.destination;
      fallback = d.fallback;
      row = `destination of time profile ${d.timeProfile}`;
      break;
    }
    trace.push({ step: 'time', text: `time profile ${d.timeProfile} is not active` });
  }
  trace.push({ step: 'result', text: `${row}: ${destination}${fallback === undefined ? '' : `, fallback ${fallback}`}` });
  return { destination, fallback, route: best.index, trace };
}
