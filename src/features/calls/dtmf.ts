import type { Body } from './leg.js';

/** A digit carried by SIP INFO: application/dtmf-relay (Signal=5, Duration=160) or application/dtmf (5). */
export function parseDtmfInfo(type: string | undefined, body: Buffer): { digit: string; durationMs: number } | undefined {
  const text = body.toString('utf8');
  if (type === 'application/dtmf-relay') {
    const signal = /^\s*signal\s*=\s*([0-9*#A-Da-d])\s*$/im.exec(text)?.[1];
    if (!signal) return undefined;
    const duration = Number(/^\s*duration\s*=\s*([0-9]+)\s*$/im.exec(text)?.[1] ?? 160);
    return { digit: signal.toUpperCase(), durationMs: duration };
  }
  if (type === 'application/dtmf') {
    const d = text.trim();
    return /^[0-9*#A-Da-d]$/.test(d) ? { digit: d.toUpperCase(), durationMs: 160 } : undefined;
  }
  return undefined;
}

export function dtmfInfoBody(digit: string, durationMs: number): Body {
  return { type: 'application/dtmf-relay', data: Buffer.from(`Signal=${digit}\r\nDuration=${durationMs}\r\n`) };
}
