/**
 * `pbx explain`: the router's whole decision for one number, as text. Offline there are no
 * trunks to ask, so every line group counts as available; the decision is otherwise exactly
 * the one a live call gets.
 */
import type { Router } from './router.js';
import { describeDestination, formatTrace } from './trace.js';
import type { Destination, TraceLine } from './types.js';

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

function follow(router: Router, number: string, user: string | undefined, at: Date, lines: TraceLine[]): Explanation {
  const { destination, trace } = router.dial(number, { user, at });
  lines.push(...steps(trace));
  return settle(router, destination, user, at, lines);
}

function settle(router: Router, d: Destination, user: string | undefined, at: Date, lines: TraceLine[]): Explanation {
  if (d.kind === 'busy' || d.kind === 'incomplete' || d.kind === 'notFound') return finish(lines, describeDestination(d), false);
  if (d.kind !== 'ars' && d.kind !== 'lineGroup') return finish(lines, describeDestination(d), true);
  if (!d.barring.allowed) return finish(lines, `barred: ${d.barring.reason}`, false);
  if (d.kind === 'lineGroup') return finish(lines, describeDestination(d), true);
  const s = router.selectRoutes(d.form, d.number, { user, at }, () => true);
  lines.push(...steps(s.trace));
  if (s.kind === 'busy') return finish(lines, `busy (${s.reason})`, false);
  if (s.kind === 'notFound') return finish(lines, `not found: no code of ARS form ${s.form} matches ${d.number}`, false);
  const [first, ...rest] = s.routes;
  if (first === undefined) return finish(lines, `busy (ARS form ${s.form} has no route for ${d.number})`, false);
  const more = rest.length === 0 ? '' : `, then ${rest.map((r) => `line group ${r.lineGroup} (${r.number})`).join(', ')}`;
  return finish(lines, `${first.number} on line group ${first.lineGroup} via ARS form ${s.form} (class ${d.barring.class})${more}`, true);
}

export function explainOutgoing(router: Router, from: string, number: string, at: Date): Explanation {
  const lines: TraceLine[] = [{ step: 'dial', text: `${number} dialled by ${from} at ${at.toISOString()}` }];
  return follow(router, number, from, at, lines);
}

export function explainIncoming(
  router: Router,
  call: { lineGroup: number; number: string; callerId: string | undefined; withheld: boolean; at: Date },
): Explanation {
  const decision = router.incoming(call);
  const lines = steps(decision.trace);
  if (decision.destination === undefined) return finish(lines, 'rejected: no incoming call route, extension or system short code takes the call', false);
  const fallback = decision.fallback === undefined ? '' : ` (fallback ${decision.fallback})`;
  lines.push({ step: 'dial', text: `${decision.destination}${fallback} dialled by the system` });
  return follow(router, decision.destination, undefined, call.at, lines);
}
