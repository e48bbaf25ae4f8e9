/**
 * What the admin API's route modules share, and how a request is authenticated: a session token
 * (bearer header, or the console's cookie plus its CSRF token on changes), or for /metrics an
 * account's name and password (HTTP Basic, as Prometheus sends them). Every route names the
 * access it needs in its config; a route that names none is for administrators.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../core/logger.js';
import type { PbxNode } from '../node.js';
import { allows, normalizeName, type Accounts, type Role } from './accounts.js';
import type { AuditTrail } from './audit.js';
import type { ConfigChanges } from './config-changes.js';
import type { LoginGuard } from './login-guard.js';
import type { AdminCounters } from './metrics.js';
import type { Session, Sessions } from './sessions.js';

/** public: anyone; session: any logged-in account, even one that must change its password first. */
export type Access = 'public' | 'session' | Role;

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
    /** Also accept an account's name and password (HTTP Basic) instead of a session. */
    basic?: boolean;
  }
  interface FastifyRequest {
    session: Session | undefined;
  }
}

export interface AdminContext {
  node: PbxNode;
  log: Logger;
  accounts: Accounts;
  sessions: Sessions;
  guard: LoginGuard;
  audit: AuditTrail;
  changes: ConfigChanges;
  counters: AdminCounters;
  /** Cookies get Secure when the API is served over HTTPS. */
  secure: boolean;
}

export const COOKIE = 'pbx_session';

/** Thrown by handlers for a refusal with a status (the error handler turns it into JSON). */
export class HttpError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;
  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.headers = headers;
  }
}

function cookie(req: FastifyRequest, name: string): string | undefined {
  const header = req.headers.cookie;
  if (typeof header !== 'string') return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export function sessionCookie(ctx: AdminContext, token: string | undefined): string {
  const flags = `Path=/; HttpOnly; SameSite=Strict${ctx.secure ? '; Secure' : ''}`;
  return token === undefined ? `${COOKIE}=; ${flags}; Max-Age=0` : `${COOKIE}=${token}; ${flags}`;
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Authenticates a request for a route that needs `access`; throws HttpError 401/403. */
export async function authenticate(ctx: AdminContext, req: FastifyRequest, access: Access, basic: boolean): Promise<void> {
  req.session = undefined;
  if (access === 'public') return;
  const auth = req.headers.authorization;
  let session: Session | undefined;
  if (typeof auth === 'string' && /^bearer /i.test(auth)) {
    session = ctx.sessions.touch(auth.slice(7).trim());
  } else if (typeof auth === 'string' && /^basic /i.test(auth) && basic) {
    await basicLogin(ctx, req, auth.slice(6).trim(), access);
    return;
  } else {
    const token = cookie(req, COOKIE);
    session = token === undefined ? undefined : ctx.sessions.touch(token);
    // a browser's change must come from our own page: it alone knows the session's CSRF token
    if (session && !SAFE.has(req.method) && req.headers['x-csrf-token'] !== session.csrf) {
      throw new HttpError(403, 'missing or wrong x-csrf-token header (changes from the console carry it)');
    }
  }
  if (!session) throw new HttpError(401, 'log in first (POST /api/login)', { 'www-authenticate': basic ? 'Basic realm="pbx"' : 'Bearer' });
  req.session = session;
  if (access === 'session') return;
  if (session.mustChangePassword) throw new HttpError(403, 'this account still has its default password: choose a new one first (POST /api/account/password)');
  if (!allows(session.role, access)) throw new HttpError(403, `needs the ${access} role (${session.account} is ${session.role})`);
}

/** HTTP Basic for scrapers: the same lockout and account checks as a login, no session made. */
async function basicLogin(ctx: AdminContext, req: FastifyRequest, b64: string, access: Access): Promise<void> {
  const text = Buffer.from(b64, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  const name = normalizeName(colon < 0 ? '' : text.slice(0, colon)) ?? '';
  const password = colon < 0 ? '' : text.slice(colon + 1);
  const admission = ctx.guard.admit(name, req.ip);
  if (!admission.ok) {
    throw new HttpError(429, admission.reason === 'locked' ? 'locked out after repeated failed logins' : 'another login is being checked; try again', {
      'retry-after': String(admission.reason === 'locked' ? Math.ceil(admission.retryAfterMs / 1000) : 1),
    });
  }
  const ok = name !== '' && (await ctx.accounts.verify(name, password));
  const { lockedNow } = admission.release(ok);
  if (!ok) {
    failedLogin(ctx, name, req.ip, lockedNow, 'basic');
    throw new HttpError(401, 'wrong account name or password', { 'www-authenticate': 'Basic realm="pbx"' });
  }
  const account = ctx.accounts.get(name)!;
  if (account.defaultPassword) throw new HttpError(403, 'this account still has its default password: choose a new one first');
  if (access !== 'session' && access !== 'public' && !allows(account.role, access)) throw new HttpError(403, `needs the ${access} role`);
}

/** The account `name` names, or '(unknown account)'. */
export function knownAccount(ctx: AdminContext, name: string): string {
  return ctx.accounts.get(name)?.name ?? '(unknown account)';
}

/** Counts, audits and raises the alarms of a failed login (a lockout it started among them). */
export function failedLogin(ctx: AdminContext, name: string, address: string, lockedNow: string[], via: 'login' | 'basic'): void {
  ctx.counters.loginFailures++;
  ctx.counters.lockouts += lockedNow.length;
  const entries = [{ action: 'login-failed', target: '' }, ...lockedNow.map((what) => ({ action: 'lockout', target: what }))];
  // a name that is no account is not written down: people type their password there by mistake
  const who = knownAccount(ctx, name);
  for (const e of entries) {
    try {
      ctx.audit.record({ actor: who, address, action: e.action, target: e.target, outcome: 'refused', detail: { via } });
    } catch (err) {
      ctx.log.error(`admin: audit entry not written: ${(err as Error).message}`);
    }
  }
  for (const what of lockedNow) {
    ctx.log.warn(`security: admin logins locked out for ${what} after repeated failures`, { event: 'admin-lockout', address });
    ctx.node.alarms.raise('admin-lockout', { key: what, severity: 'major', message: `admin logins for ${what} locked out after repeated wrong passwords` });
  }
}

/** Audits an event; a store that cannot take it is logged, never the caller's failure. */
export function audit(ctx: AdminContext, req: FastifyRequest, action: string, target: string, detail: Record<string, unknown> = {}, outcome: 'ok' | 'refused' | 'failed' = 'ok'): void {
  try {
    ctx.audit.record({ actor: actor(req), address: req.ip, action, target, outcome, detail });
  } catch (err) {
    ctx.log.error(`admin: audit entry not written: ${(err as Error).message}`, { action, target });
  }
}

/** The acting account of an authenticated request ('system' when none). */
export function actor(req: FastifyRequest): string {
  return req.session?.account ?? 'system';
}

export type Handler = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
