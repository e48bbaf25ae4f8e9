/**
 * Checks that relate several fields. They run on the raw document, beside the schema rather
 * than after it, so that one broken field never hides a problem elsewhere: each check takes
 * what it needs from the raw value (sections parsed on their own to get their defaults) and
 * skips silently what the schema already reports.
 */
import { existsSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { resolve } from 'node:path';
import type { z } from 'zod';
import { SOLUTION_LIMITS } from '../profiles.js';
import { checkDialPlan } from './dialplan-checks.js';
import { checkHuntGroups } from './huntgroup-checks.js';
import { checkAdmin } from './admin-checks.js';
import { SOLUTION_CHECKS } from './solution-checks.js';
import { field, isDemoPassword, isLoopback, isRecord, list, type CrossCheck, type Raw } from './fields.js';
import { CdrSchema, ListenSchema, MediaSchema, RegistrarSchema, SipSchema, TimersSchema } from './schema.js';


/** The section parsed on its own (defaults filled in), or undefined if the schema rejects it. */
function section<S extends z.ZodType>(schema: S, v: unknown): z.output<S> | undefined {
  const r = schema.safeParse(v ?? {});
  return r.success ? r.data : undefined;
}

export { isDemoPassword, isLoopback } from './fields.js';

export type { CrossCheck } from './fields.js';

export const CROSS_CHECKS: readonly CrossCheck[] = [
  { name: 'users', reads: ['users', 'dialPlan'], run: checkUsers },
  { name: 'listen', reads: ['sip'], run: checkListen },
  { name: 'sections', reads: ['media', 'registrar', 'sip'], run: checkSections },
  { name: 'smdr', reads: ['cdr', 'sip'], run: checkSmdr },
  { name: 'demoPasswords', reads: ['sip', 'users'], run: checkDemoPasswords },
  { name: 'calls', reads: ['calls'], run: checkCalls },
  { name: 'dialPlan', reads: ['dialPlan', 'users', 'trunks'], run: checkDialPlan },
  { name: 'huntGroups', reads: ['huntGroups', 'users', 'dialPlan'], run: checkHuntGroups },
  { name: 'admin', reads: ['admin', 'sip', 'cdr'], run: (doc) => checkAdmin(doc, isLoopback) },
  ...SOLUTION_CHECKS,
];

/**
 * Every problem across fields; `changed`: only the checks that read one of these top-level keys
 * (the document is known to pass the others).
 */
export function crossChecks(doc: unknown, changed?: ReadonlySet<string>): string[] {
  if (!isRecord(doc)) return [];
  return checksFor(changed).flatMap((c) => c.run(doc));
}

/** The checks that read one of the `changed` top-level keys (all of them without `changed`). */
export function checksFor(changed?: ReadonlySet<string>): CrossCheck[] {
  return CROSS_CHECKS.filter((c) => !changed || c.reads.some((k) => changed.has(k)));
}

function checkCalls(doc: Raw): string[] {
  const moh = field(doc.calls, 'musicOnHold');
  if (typeof moh === 'string' && !existsSync(resolve(moh))) return [`calls.musicOnHold: file not found: ${resolve(moh)}`];
  return [];
}

function checkUsers(doc: Raw): string[] {
  const problems: string[] = [];
  const users = list(doc.users);
  const seen = new Map<string, number>();
  users.forEach((u, i) => {
    const ext = field(u, 'extension');
    if (typeof ext !== 'string') return;
    const first = seen.get(ext);
    if (first === undefined) seen.set(ext, i);
    else problems.push(`users[${i}].extension: duplicate of users[${first}]`);
  });
  users.forEach((u, i) => {
    const fwd = field(u, 'forward');
    for (const k of ['all', 'busy', 'noAnswer']) {
      const to = field(fwd, k);
      // a number outside is routed (and barred) by the dial plan at call time; without short codes nothing could route it
      const routable = list(field(doc.dialPlan, 'shortCodes')).length > 0 || list(field(u, 'shortCodes')).length > 0 || field(u, 'rights') !== undefined;
      if (typeof to === 'string' && !seen.has(to) && !routable) problems.push(`users[${i}].forward.${k}: ${to} is not an extension, and the dial plan has no short codes to route it`);
    }
  });
  // Users are solution-wide (a secondary takes over a primary's users): the node profile's
  // user capacity is enforced on registration by the registrar, not here.
  if (users.length > SOLUTION_LIMITS.users) {
    problems.push(`users: ${users.length} users exceed the solution limit of ${SOLUTION_LIMITS.users}`);
  }
  return problems;
}

function checkListen(doc: Raw): string[] {
  const problems: string[] = [];
  // UDP sockets and stream sockets (tcp, tls, ws, wss) live in separate port spaces.
  const taken = new Map<string, { index: number; transport: string }>();
  list(field(doc.sip, 'listen')).forEach((raw, i) => {
    const l = section(ListenSchema, raw);
    if (!l) return;
    const at = `sip.listen[${i}]`;
    const key = `${l.transport === 'udp' ? 'udp' : 'stream'} ${l.address} ${l.port}`;
    const other = taken.get(key);
    if (other === undefined) taken.set(key, { index: i, transport: l.transport });
    else if (other.transport === l.transport) problems.push(`${at}: duplicate of sip.listen[${other.index}]`);
    else problems.push(`${at}.port: ${l.address} port ${l.port} is already taken by sip.listen[${other.index}] (${other.transport})`);
    const secure = l.transport === 'tls' || l.transport === 'wss';
    for (const f of ['certificate', 'privateKey'] as const) {
      const file = l[f];
      if (!secure) {
        if (file !== undefined) problems.push(`${at}.${f}: only used with tls and wss`);
      } else if (file === undefined) {
        problems.push(`${at}.${f}: required for ${l.transport}`);
      } else if (!existsSync(resolve(file))) {
        problems.push(`${at}.${f}: file not found: ${resolve(file)}`);
      }
    }
  });
  return problems;
}

function checkSections(doc: Raw): string[] {
  const problems: string[] = [];
  const media = section(MediaSchema, doc.media);
  if (media) {
    if (media.portMin % 2 !== 0) problems.push(`media.portMin: must be even (RTP takes even ports, RTCP the odd one above)`);
    if (media.portMax <= media.portMin) problems.push(`media.portMax: must be greater than media.portMin (${media.portMin})`);
    else if (media.portMax % 2 === 0) problems.push(`media.portMax: must be odd, so the last RTP port's RTCP port is in the range`);
  }
  const reg = section(RegistrarSchema, doc.registrar);
  if (reg) {
    if (reg.minExpires > reg.maxExpires) {
      problems.push(`registrar.minExpires: must not exceed registrar.maxExpires (${reg.maxExpires})`);
    } else if (reg.defaultExpires < reg.minExpires || reg.defaultExpires > reg.maxExpires) {
      problems.push(
        `registrar.defaultExpires: must be between registrar.minExpires (${reg.minExpires}) and registrar.maxExpires (${reg.maxExpires})`,
      );
    }
  }
  const timers = section(TimersSchema, field(doc.sip, 'timers'));
  if (timers && timers.t2 < timers.t1) problems.push(`sip.timers.t2: must be at least sip.timers.t1 (${timers.t1})`);
  return problems;
}

/** Whether binding both addresses on one TCP port fails: same address, or a wildcard covering the other. */
function sameSocket(a: string, b: string): boolean {
  if (a === b || a === '::' || b === '::') return true; // :: is dual-stack on Linux by default
  return (a === '0.0.0.0' && isIPv4(b)) || (b === '0.0.0.0' && isIPv4(a));
}

/** The SMDR port must not be a TCP port that SIP already listens on (tcp, tls, ws and wss are all TCP). */
function checkSmdr(doc: Raw): string[] {
  const smdr = section(CdrSchema, doc.cdr)?.smdr;
  if (!smdr?.enabled) return [];
  const problems: string[] = [];
  const rawListen = field(doc.sip, 'listen');
  // An absent listen list means the schema's default sockets, which can collide too.
  const entries = rawListen === undefined ? (section(SipSchema, {})?.listen ?? []) : list(rawListen);
  entries.forEach((raw, i) => {
    const l = section(ListenSchema, raw);
    if (!l || l.transport === 'udp' || l.port !== smdr.port) return;
    if (sameSocket(l.address, smdr.address)) {
      problems.push(`cdr.smdr.port: ${smdr.address} port ${smdr.port} is already taken by sip.listen[${i}] (${l.transport})`);
    }
  });
  return problems;
}

function checkDemoPasswords(doc: Raw): string[] {
  const rawListen = field(doc.sip, 'listen');
  // An absent listen list means the schema's default, which is loopback only.
  const exposed = list(rawListen).findIndex((l) => {
    const a = field(l, 'address');
    return typeof a === 'string' && !isLoopback(a);
  });
  if (exposed < 0) return [];
  const address = field(list(rawListen)[exposed], 'address') as string;
  const problems: string[] = [];
  list(doc.users).forEach((u, i) => {
    if (isDemoPassword(field(u, 'extension'), field(u, 'password'))) {
      problems.push(
        `users[${i}].password: demo passwords are only allowed when every sip.listen address is loopback ` +
          `(sip.listen[${exposed}].address is ${address})`,
      );
    }
  });
  return problems;
}
