/**
 * RTP inactivity: a party that sends no media for a while is gone (a phone that lost power, a
 * client that opened calls and never speaks), and its call must not hold a channel for ever.
 * The engine measures the silence on its media thread and reports it once ('timeout'); this
 * turns that report into a decision, looking again later while silence is expected (a call not
 * answered yet, a party holding the call).
 */
import type { Endpoint } from './endpoint.js';

export interface RtpWatch {
  /** No RTP for this long ends the party's call (ms); 0: not watched. */
  timeoutMs: number;
  /** True while silence is expected (not answered, on hold): the watch starts over instead. */
  expected: () => boolean;
  /** The party sent nothing for `silentMs` while it should have. */
  onSilent: (silentMs: number) => void;
}

/**
 * Watches `endpoint` until it closes; returns a function that stops watching. A 'timeout' from a
 * shorter timeout someone else set on the endpoint (voicemail's end-of-message silence) is not
 * ours and is left alone.
 */
export function watchRtp(endpoint: Endpoint, w: RtpWatch): () => void {
  if (!Number.isInteger(w.timeoutMs) || w.timeoutMs < 0) throw new TypeError('timeoutMs: integer >= 0');
  if (typeof w.expected !== 'function') throw new TypeError('expected: function');
  if (typeof w.onSilent !== 'function') throw new TypeError('onSilent: function');
  if (w.timeoutMs === 0 || endpoint.closed) return () => undefined;
  const onTimeout = (e: { silentMs: number }) => {
    if (e.silentMs + 100 < w.timeoutMs || endpoint.closed) return;
    // the engine reports a silence once: arm it again to look at this party later
    if (w.expected()) endpoint.update({ timeoutMs: w.timeoutMs });
    else w.onSilent(e.silentMs);
  };
  endpoint.update({ timeoutMs: w.timeoutMs });
  endpoint.on('timeout', onTimeout);
  return () => endpoint.off('timeout', onTimeout);
}
