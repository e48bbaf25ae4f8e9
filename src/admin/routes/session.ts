/** Logging in and out, the current session, and changing one's own password. */
import type { FastifyInstance } from 'fastify';
import { normalizeName, PASSWORD_RULE } from '../accounts.js';
import { audit, failedLogin, HttpError, knownAccount, sessionCookie, type AdminContext } from '../context.js';

const SessionInfo = {
  type: 'object',
  properties: {
    account: { type: 'string' },
    role: { type: 'string', enum: ['read-only', 'operator', 'administrator'] },
    mustChangePassword: { type: 'boolean', description: 'The account still has its default password: only changing it is allowed.' },
    csrf: { type: 'string', description: 'Send back as the x-csrf-token header with every change made with the session cookie.' },
    idleTimeoutSeconds: { type: 'integer' },
    node: { type: 'string' },
  },
} as const;

export function sessionRoutes(app: FastifyInstance, ctx: AdminContext): void {
  const info = (s: NonNullable<import('fastify').FastifyRequest['session']>) => ({
    account: s.account, role: s.role, mustChangePassword: s.mustChangePassword, csrf: s.csrf,
    idleTimeoutSeconds: Math.round(ctx.sessions.idleMs / 1000), node: ctx.node.config.node.name,
  });

  app.post('/api/login', {
    config: { access: 'public' },
    schema: {
      summary: 'Log in: a session token (also set as an HttpOnly cookie for the console)',
      tags: ['session'],
      security: [],
      body: {
        type: 'object', required: ['name', 'password'], additionalProperties: false,
        properties: { name: { type: 'string', maxLength: 64 }, password: { type: 'string', maxLength: 256 } },
      },
      response: { 200: { ...SessionInfo, properties: { ...SessionInfo.properties, token: { type: 'string', description: 'Bearer token for API clients.' } } } },
    },
  }, async (req, reply) => {
    const { name: raw, password } = req.body as { name: string; password: string };
    const name = normalizeName(raw) ?? '';
    const admission = ctx.guard.admit(name, req.ip);
    if (!admission.ok) {
      try {
        ctx.audit.record({ actor: knownAccount(ctx, name), address: req.ip, action: 'login-failed', target: '', outcome: 'refused', detail: { reason: admission.reason } });
      } catch (e) {
        ctx.log.error(`admin: audit entry not written: ${(e as Error).message}`);
      }
      if (admission.reason === 'locked') {
        const s = Math.ceil(admission.retryAfterMs / 1000);
        throw new HttpError(429, `locked out after repeated failed logins: try again in ${s} s`, { 'retry-after': String(s) });
      }
      throw new HttpError(429, 'another login for this account or from this address is being checked: try again', { 'retry-after': '1' });
    }
    const ok = name !== '' && (await ctx.accounts.verify(name, password));
    const { lockedNow } = admission.release(ok);
    if (!ok) {
      failedLogin(ctx, name, req.ip, lockedNow, 'login');
      throw new HttpError(401, 'wrong account name or password');
    }
    const account = ctx.accounts.get(name)!;
    const s = ctx.sessions.create(account.name, account.role, req.ip, account.defaultPassword);
    req.session = s;
    audit(ctx, req, 'login', '', { role: account.role });
    reply.header('set-cookie', sessionCookie(ctx, s.token));
    return { ...info(s), token: s.token };
  });

  app.post('/api/logout', {
    config: { access: 'session' },
    schema: { summary: 'End the session', tags: ['session'] },
  }, async (req, reply) => {
    ctx.sessions.end(req.session!.token);
    audit(ctx, req, 'logout', '');
    reply.header('set-cookie', sessionCookie(ctx, undefined));
    return { ok: true };
  });

  app.get('/api/session', {
    config: { access: 'session' },
    schema: { summary: 'The current session', tags: ['session'], response: { 200: SessionInfo } },
  }, async (req) => info(req.session!));

  app.post('/api/account/password', {
    config: { access: 'session' },
    schema: {
      summary: `Change your own password (${PASSWORD_RULE}); your other sessions end`,
      tags: ['session'],
      body: {
        type: 'object', required: ['current', 'password'], additionalProperties: false,
        properties: { current: { type: 'string', maxLength: 256 }, password: { type: 'string', maxLength: 256 } },
      },
    },
  }, async (req) => {
    const s = req.session!;
    const { current, password } = req.body as { current: string; password: string };
    if (!(await ctx.accounts.verify(s.account, current))) {
      audit(ctx, req, 'password-change', s.account, {}, 'refused');
      throw new HttpError(403, 'current: wrong password');
    }
    await ctx.accounts.setPassword(s.account, password);
    s.mustChangePassword = false;
    ctx.sessions.endAccount(s.account, s.token);
    audit(ctx, req, 'password-change', s.account);
    return { ok: true };
  });
}
