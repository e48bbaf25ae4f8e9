/** Human-readable traces and destinations (explain, logs). */
import type { CallerIdOut, Destination, TraceLine } from './types.js';

export function formatTrace(trace: TraceLine[]): string {
  if (!Array.isArray(trace)) throw new TypeError('trace: must be an array of trace lines');
  return trace.map((l) => `${l.step}: ${l.text}`).join('\n');
}

export function describeCallerId(c: CallerIdOut): string {
  if (c.withhold) return 'caller ID withheld';
  if (c.pass) return c.set !== undefined ? `caller ID passed on (${c.set})` : 'caller ID passed on';
  if (c.set !== undefined) return `caller ID ${c.set}`;
  return 'caller ID as usual';
}

export function describeDestination(d: Destination): string {
  switch (d.kind) {
    case 'extension':
      return `extension ${d.extension}`;
    case 'lineGroup':
    case 'ars': {
      const to = d.kind === 'ars' ? `ARS form ${d.form}` : `line group ${d.lineGroup}`;
      const barred = d.barring.allowed ? '' : ` - barred: ${d.barring.reason}`;
      return `${d.number} via ${to}, ${describeCallerId(d.callerId)}, class ${d.barring.class}${barred}`;
    }
    case 'busy':
      return `busy (${d.reason})`;
    case 'feature':
      return d.number === '' ? `feature ${d.feature}` : `feature ${d.feature} ${d.number}`;
    case 'incomplete':
      return 'incomplete (484 Address Incomplete)';
    case 'notFound':
      return 'not found (404 Not Found)';
  }
}
