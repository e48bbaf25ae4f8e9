/**
 * The node's security limits built from its configuration, in one place, so the composition
 * root (src/server.ts) wires each with one line: authentication limits, connection limits with
 * the descriptor budget, calls per user, session timers, and the store's disk alarm.
 * SECURITY.md describes each limit and its default.
 */
import type { Config } from '../config/index.js';
import type { Logger } from '../logger.js';
import type { Alarms } from '../alarms.js';
import type { Store } from '../store.js';
import type { SipStackOptions } from '../../sip/stack.js';
import type { SessionTimerPolicy } from '../../sip/dialog/session-timer.js';
import { CallLimits } from './call-limits.js';
import { connectionBudget, openFileLimit } from './fd-budget.js';
import { Lockout } from './lockout.js';

export { Authenticator, sourceKey, type AuthResult } from './authenticator.js';
export { CallLimits } from './call-limits.js';
export { Lockout } from './lockout.js';

export interface SecurityParts {
  /** Failed logins of one user at one address. */
  lockout: Lockout;
  /** Failed logins from one address (any users). */
  sourceLimit: Lockout;
  /** Failed logins of one user (any addresses). */
  userLimit: Lockout;
  /** SipStackOptions.connections and onConnectionLimit. */
  stack: Pick<SipStackOptions, 'connections' | 'onConnectionLimit'>;
  callLimits: CallLimits;
  /** RFC 4028 policy; undefined when calls.sessionExpiresSeconds is 0. */
  sessionTimer: SessionTimerPolicy | undefined;
  rtpTimeoutMs: number;
}

export function securityParts(c: Config, log: Logger, alarms: Alarms): SecurityParts {
  const sec = c.security;
  const mediaPorts = c.media.portMax - c.media.portMin + 1;
  const conn = connectionBudget(sec.connections.max, mediaPorts, openFileLimit());
  if (conn.lowered) {
    log.warn(`security.connections.max lowered to ${conn.max}: the open-file limit is ${conn.limit} and the media ports need ${mediaPorts}`, { configured: sec.connections.max });
  }
  return {
    lockout: new Lockout({ maxFailures: sec.lockout.maxFailures, windowMs: sec.lockout.windowSeconds * 1000, lockoutMs: sec.lockout.lockoutSeconds * 1000 }),
    sourceLimit: new Lockout({ maxFailures: sec.sourceLimit.maxFailures, windowMs: sec.sourceLimit.windowSeconds * 1000, lockoutMs: sec.sourceLimit.blockSeconds * 1000 }),
    userLimit: new Lockout({ maxFailures: sec.userLimit.maxFailures, windowMs: sec.userLimit.windowSeconds * 1000, lockoutMs: sec.userLimit.protectSeconds * 1000 }),
    stack: {
      connections: {
        max: conn.max, perAddress: sec.connections.perAddress,
        messageTimeoutMs: sec.connections.messageTimeoutSeconds * 1000, idleTimeoutMs: sec.connections.idleTimeoutSeconds * 1000,
      },
      onConnectionLimit: (err) => {
        const total = err.code === 'limit';
        alarms.raise(total ? 'sip.connections-full' : 'sip.connections-per-address', {
          key: total ? '' : err.target?.address ?? '',
          severity: total ? 'major' : 'warning', ttlMs: 60_000, message: err.message,
        });
      },
    },
    callLimits: new CallLimits({ ...callLimitsOf(c), logger: log, alarms }),
    ...callTimersOf(c),
  };
}

/** Calls at once per user: calls.maxCallsPerUser, and each user whose rights give a maxCalls of their own. */
export function callLimitsOf(c: Config): { defaultMax: number; perUser: Map<string, number> } {
  const rights = new Map(c.dialPlan.userRights.map((r) => [r.name, r.maxCalls]));
  return {
    defaultMax: c.calls.maxCallsPerUser,
    perUser: new Map(c.users.flatMap((u) => {
      const max = u.rights === undefined ? undefined : rights.get(u.rights);
      return max === undefined ? [] : [[u.extension, max] as const];
    })),
  };
}

/** What a new call's dialog and media are watched with: RFC 4028 session timers, RTP inactivity. */
export function callTimersOf(c: Config): Pick<SecurityParts, 'sessionTimer' | 'rtpTimeoutMs'> {
  return {
    sessionTimer: c.calls.sessionExpiresSeconds > 0 ? { sessionExpires: c.calls.sessionExpiresSeconds, minSE: 90 } : undefined,
    rtpTimeoutMs: c.media.rtpTimeoutSeconds * 1000,
  };
}

/** One alarm for the store, whichever feature's write hit the full disk; cleared by the first write that succeeds. */
export function alarmOnStore(store: Store, alarms: Alarms): void {
  store.on('failed', (err) => alarms.raise('store.write-failed', {
    severity: 'critical',
    message: `store ${store.path}: writes fail (${(err as { code?: string }).code ?? err.message}); serving from memory until space returns`,
    details: { path: store.path, error: err.message },
  }));
  store.on('recovered', () => alarms.clear('store.write-failed'));
}
