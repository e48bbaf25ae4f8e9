/**
 * File descriptors: SIP connections and media sockets draw on one per-process limit. Every
 * anchored call needs its RTP and RTCP sockets, so connections (which anyone can open) get only
 * what is left after the media ports and a margin for the store, logs and listeners.
 */
import { readFileSync } from 'node:fs';

/** Descriptors kept for everything that is neither a connection nor a media socket. */
export const FD_MARGIN = 256;

/** The process's soft limit on open files (Linux /proc/self/limits), or undefined where it cannot be read. */
export function openFileLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    if (soft === undefined || soft === 'unlimited') return undefined;
    const n = Number(soft);
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/**
 * How many inbound connections may be held: the configured maximum, lowered so the media
 * ports (one descriptor each) and the margin always stay available. `limit` (openFileLimit())
 * undefined: the configured maximum as it is.
 */
export function connectionBudget(configured: number, mediaPorts: number, limit: number | undefined): { max: number; lowered: boolean; limit: number | undefined } {
  if (limit === undefined) return { max: configured, lowered: false, limit };
  const room = Math.max(0, limit - mediaPorts - FD_MARGIN);
  return room < configured ? { max: room, lowered: true, limit } : { max: configured, lowered: false, limit };
}
