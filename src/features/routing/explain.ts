/**
 * `pbx explain`: the router's whole decision for one number, as text. Offline there are no
 * trunks to ask, so every line group counts as available; the decision is otherwise exactly
 * the one a live call gets: the router built the same way (buildRouter), each route's trunks
 * named with the number as their numbering sends it, and a call that came in on a trunk going
 * out again only where the trunk-to-trunk policy lets it.
 */
import type { Router } from './router.js';
import { describeDestination, formatTrace } from './trace.js';
import type { Destination, TraceLine } from './types.js';

/** A trunk as explain shows it (a trunk's configuration, with its numbering). */
export interface ExplainTrunk {
  readonly name: string;
  readonly lineGroup: number;
  readonly allowTrunkToTrunk: boolean;
  /** User rights that route and bar calls coming in on this trunk (trunks[].rights). */
  readonly rights?: string;
  /** The number as this trunk sends it to its carrier. */
  sent(number: string): string;
}

/** What a node of a solution adds: where numbers and line groups served by other nodes are, and the link a call takes. */
export interface ExplainSolution {
  /** How a call to `number` leaves this node when another node serves it ("served by node pri, over link pri (up)"); undefined when served here. */
  served(number: string): string | undefined;
  /** The other nodes with trunks in `lineGroup` and the links to them; undefined when none has. */
  lineGroup(lineGroup: number): string | undefined;
}

interface Context {
  router: Router;
  solution: ExplainSolution | undefined;
  user: string | undefined;
  /** An incoming call's line: its rights route and bar what it reaches, as for the live call. */
  line?: { name: string; rights?: string };
  at: Date;
  trunks: readonly ExplainTrunk[];
  /** An incoming call's line group: only its trunk-to-trunk trunks may carry it out again. */
  incoming: number | undefined;
}

export interface Explanation {
  /** Trace lines, the last one `result: ...`. */
  text: string;
  /** A destination was found (and is allowed). */
  found: boolean;
}

/** Drops the partial result lines: the explanation ends with one overall result. */
function steps(trace: TraceLine[]): TraceLine[] {
  return trace.filter((l) => l.step !== 'result');
}

function finish(lines: TraceLine[], result: string, found: boolean): Explanation {
  return { text: formatTrace([...lines, { step: 'result', text: result }]), found };
}

function follow(c: Context, number: string, lines: TraceLine[]): Explanation {
  const { destination, trace } = c.router.dial(number, { user: c.user, line: c.line, at: c.at });
  lines.push(...steps(trace));
  return settle(c, destination, lines);
}

/** The trunks that carry a route of line group `g`, each with the number it sends. */
function carriers(c: Context, g: number, number: string): string {
  const out = c.trunks.filter((t) => t.lineGroup === g && (c.incoming === undefined || t.allowTrunkToTrunk));
  if (out.length) return out.map((t) => `trunk ${t.name} sends ${t.sent(number)}`).join('; ');
  // no trunk of our own in the group: a call goes to the nodes that have one (central trunks)
  return c.solution?.lineGroup(g) ?? 'no trunk';
}

function settle(c: Context, d: Destination, lines: TraceLine[]): Explanation {
  if (d.kind === 'busy' || d.kind === 'incomplete' || d.kind === 'notFound') return finish(lines, describeDestination(d), false);
  if (d.kind !== 'ars' && d.kind !== 'lineGroup') {
    const elsewhere = d.kind === 'extension' ? c.solution?.served(d.extension) : undefined;
    return finish(lines, elsewhere ? `${describeDestination(d)}, ${elsewhere}` : describeDestination(d), true);
  }
  if (!d.barring.allowed) return finish(lines, `barred: ${d.barring.reason}`, false);
  if (c.incoming !== undefined) {
    const inbound = c.trunks.filter((t) => t.lineGroup === c.incoming);
    if (inbound.length && !inbound.some((t) => t.allowTrunkToTrunk)) {
      lines.push({ step: 'trunk', text: `trunk-to-trunk calls are off for ${inbound.map((t) => `trunk ${t.name}`).join(', ')} (line group ${c.incoming})` });
      return finish(lines, `refused: 403 Forbidden (trunk-to-trunk calls are off for trunk ${inbound[0]!.name})`, false);
    }
  }
  if (d.kind === 'lineGroup') return finish(lines, `${describeDestination(d)}: ${carriers(c, d.lineGroup, d.number)}`, true);
  const s = c.router.selectRoutes(d.form, d.number, { user: c.user, line: c.line, at: c.at }, () => true);
  lines.push(...steps(s.trace));
  if (s.kind === 'busy') return finish(lines, `busy (${s.reason})`, false);
  if (s.kind === 'notFound') return finish(lines, `not found: no code of ARS form ${s.form} matches ${d.number}`, false);
  if (s.routes.length === 0) return finish(lines, `busy (ARS form ${s.form} has no route for ${d.number})`, false);
  const routes = s.routes.map((r) => `line group ${r.lineGroup} (${carriers(c, r.lineGroup, r.number)})`);
  return finish(lines, `${s.routes[0]!.number} via ARS form ${s.form} (class ${d.barring.class}): ${routes.join(', then ')}`, true);
}

export function explainOutgoing(router: Router, from: string, number: string, at: Date, trunks: readonly ExplainTrunk[] = [], solution?: ExplainSolution): Explanation {
  const lines: TraceLine[] = [{ step: 'dial', text: `${number} dialled by ${from} at ${at.toISOString()}` }];
  return follow({ router, solution, user: from, at, trunks, incoming: undefined }, number, lines);
}

export function explainIncoming(
  router: Router,
  call: { lineGroup: number; number: string; callerId: string | undefined; withheld: boolean; at: Date },
  trunks: readonly ExplainTrunk[] = [],
  solution?: ExplainSolution,
): Explanation {
  const decision = router.incoming(call);
  const lines = steps(decision.trace);
  if (decision.destination === undefined) return finish(lines, 'rejected: no incoming call route, extension or system short code takes the call', false);
  const fallback = decision.fallback === undefined ? '' : ` (fallback ${decision.fallback})`;
  // the live call is routed with its trunk's rights (the first trunk of the line group here)
  const trunk = trunks.find((t) => t.lineGroup === call.lineGroup);
  const line = trunk ? { name: trunk.name, rights: trunk.rights } : undefined;
  const by = trunk ? `trunk ${trunk.name}'s line${trunk.rights === undefined ? '' : ` (rights ${trunk.rights})`}` : 'the line';
  lines.push({ step: 'dial', text: `${decision.destination}${fallback} dialled by ${by}` });
  return follow({ router, solution, user: undefined, line, at: call.at, trunks, incoming: call.lineGroup }, decision.destination, lines);
}
