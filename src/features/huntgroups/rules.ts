/**
 * The timing rules of a call to a hunt group, as pure functions so the B2BUA's timers and the
 * tests read the same decisions. Times count from the call's arrival at the group.
 */
import type { HuntQueueConfig } from '../../core/config/huntgroup-schema.js';
import type { HuntGroupConfig, HuntTarget } from './types.js';

export interface OverflowState {
  /** Whether the call may queue; default the group's queue.enabled. */
  queueing?: boolean;
  /** Time since the call arrived at the group, ms. */
  elapsedMs: number;
  /** Passes completed over the available members (a pass with nobody available counts at once). */
  passesDone: number;
}

function checkGroup(cfg: unknown): HuntGroupConfig {
  if (typeof cfg !== 'object' || cfg === null || typeof (cfg as HuntGroupConfig).extension !== 'string') {
    throw new TypeError('cfg: must be a hunt group configuration');
  }
  return cfg as HuntGroupConfig;
}

function checkMs(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new TypeError(`${field}: must be a number of ms >= 0`);
  return v;
}

/**
 * Whether the call now moves to the overflow groups. Queueing off: after one pass, or earlier
 * when the overflow time expires. Queueing on: only when the overflow time expires, an overflow
 * time of 0 meaning after one pass. Without overflow groups: never.
 */
export function overflowDue(cfg: HuntGroupConfig, s: OverflowState): boolean {
  checkGroup(cfg);
  if (typeof s !== 'object' || s === null) throw new TypeError('s: must be an object');
  const elapsed = checkMs(s.elapsedMs, 's.elapsedMs');
  if (!Number.isInteger(s.passesDone) || s.passesDone < 0) throw new TypeError('s.passesDone: must be an integer >= 0');
  if (s.queueing !== undefined && typeof s.queueing !== 'boolean') throw new TypeError('s.queueing: must be a boolean');
  const o = cfg.overflow;
  if (o === undefined) return false;
  const queueing = s.queueing ?? cfg.queue.enabled;
  const timeUp = o.seconds > 0 && elapsed >= o.seconds * 1000;
  if (!queueing) return s.passesDone >= 1 || timeUp;
  return o.seconds === 0 ? s.passesDone >= 1 : timeUp;
}

/**
 * Whether the call now goes to the group's mailbox: voicemailAnswerSeconds have passed and the
 * mailbox is enabled. It overrides queueing and overflow (an overflowed call goes too).
 */
export function voicemailDue(cfg: HuntGroupConfig, elapsedMs: number): boolean {
  checkGroup(cfg);
  const elapsed = checkMs(elapsedMs, 'elapsedMs');
  const s = cfg.voicemailAnswerSeconds;
  return s !== null && cfg.voicemail.enabled && elapsed >= s * 1000;
}

/**
 * The next announcement for a queued caller who has heard `played` of them: which prompt, and
 * after how long (ms) counted from the arrival for the first, from the end of the previous
 * announcement for the others. Music plays in between. undefined: no more announcements.
 */
export function nextAnnouncement(queue: HuntQueueConfig, played: number): { prompt: 'first' | 'second'; afterMs: number } | undefined {
  if (typeof queue !== 'object' || queue === null) throw new TypeError('queue: must be a hunt group queue configuration');
  if (!Number.isInteger(played) || played < 0) throw new TypeError('played: must be an integer >= 0');
  if (played === 0) return { prompt: 'first', afterMs: queue.announcementSeconds * 1000 };
  const hasSecond = queue.secondAnnouncementSeconds !== null;
  if (played === 1 && hasSecond) return { prompt: 'second', afterMs: queue.secondAnnouncementSeconds! * 1000 };
  if (queue.repeatSeconds === null) return undefined;
  return { prompt: hasSecond ? 'second' : 'first', afterMs: queue.repeatSeconds * 1000 };
}

/** The group's mailbox when it is enabled, else busy: where a call goes that nothing else takes. */
export function mailboxOrBusy(cfg: HuntGroupConfig, reason: string): HuntTarget {
  checkGroup(cfg);
  return cfg.voicemail.enabled ? { kind: 'voicemail', mailbox: cfg.extension } : { kind: 'busy', reason };
}

/** Where calls go in night service or out of service: the configured fallback, else the mailbox, else busy. */
export function serviceFallback(cfg: HuntGroupConfig, state: 'night' | 'out'): HuntTarget {
  checkGroup(cfg);
  if (state !== 'night' && state !== 'out') throw new TypeError("state: must be 'night' or 'out'");
  const to = state === 'night' ? cfg.service.nightFallback : cfg.service.outOfServiceFallback;
  if (to !== undefined) return { kind: 'number', number: to };
  return mailboxOrBusy(cfg, `hunt group ${cfg.extension} is ${state === 'night' ? 'in night service' : 'out of service'}`);
}
