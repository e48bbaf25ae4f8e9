/** Admin accounts (administrators only) and the audit trail. */
import type { FastifyInstance } from 'fastify';
import { NAME_RULE, PASSWORD_RULE, ROLES, normalizeName, type Account, type Role } from '../accounts.js';
import { audit, type AdminContext } from '../context.js';

const AccountSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    role: { type: 'string', enum: [...ROLES] },
    createdAt: { type: 'string', format: 'date-time' },
    passwordSetAt: { type: 'string', format: 'date-time' },
    defaultPassword: { type: 'boolean' },
  },
} as const;

const show = (a: Account) => ({ ...a, createdAt: a.createdAt.toISOString(), passwordSetAt: a.passwordSetAt.toISOString() });
const nameParam = { type: 'object', required: ['name'], properties: { name: { type: 'string', maxLength: 64 } } } as const;

export function accountRoutes(app: FastifyInstance, ctx: AdminContext): void {
  app.get('/api/accounts', {
    schema: { summary: 'The admin accounts', tags: ['accounts'], response: { 200: { type: 'array', items: AccountSchema } } },
  }, async () => ctx.accounts.list().map(show));

  app.post('/api/accounts', {
    schema: {
      summary: `Add an account (name: ${NAME_RULE}; password: ${PASSWORD_RULE})`,
      tags: ['accounts'],
      body: {
        type: 'object', required: ['name', 'role', 'password'], additionalProperties: false,
        properties: { name: { type: 'string', maxLength: 64 }, role: { type: 'string', enum: [...ROLES] }, password: { type: 'string', maxLength: 256 } },
      },
      response: { 201: AccountSchema },
    },
  }, async (req, reply) => {
    const b = req.body as { name: string; role: Role; password: string };
    const a = await ctx.accounts.add(b.name, b.role, b.password);
    audit(ctx, req, 'account-add', a.name, { role: a.role });
    reply.code(201);
    return show(a);
  });

  app.put('/api/accounts/:name', {
    schema: {
      summary: 'Change an account\'s role or password (its sessions end on a new password)',
      tags: ['accounts'],
      params: nameParam,
      body: {
        type: 'object', additionalProperties: false, minProperties: 1,
        properties: { role: { type: 'string', enum: [...ROLES] }, password: { type: 'string', maxLength: 256 } },
      },
      response: { 200: AccountSchema },
    },
  }, async (req) => {
    const { name } = req.params as { name: string };
    const b = req.body as { role?: Role; password?: string };
    let a = ctx.accounts.get(name);
    if (b.role !== undefined) {
      a = ctx.accounts.setRole(name, b.role);
      ctx.sessions.setRole(a.name, a.role);
    }
    if (b.password !== undefined) {
      a = await ctx.accounts.setPassword(name, b.password);
      ctx.sessions.endAccount(a.name);
    }
    audit(ctx, req, 'account-change', normalizeName(name) ?? name, { role: b.role, password: b.password === undefined ? undefined : 'changed' });
    return show(a!);
  });

  app.delete('/api/accounts/:name', {
    schema: { summary: 'Remove an account (its sessions end)', tags: ['accounts'], params: nameParam },
  }, async (req) => {
    const { name } = req.params as { name: string };
    ctx.accounts.remove(name);
    const n = normalizeName(name)!;
    ctx.sessions.endAccount(n);
    audit(ctx, req, 'account-remove', n);
    return { ok: true };
  });

  app.get('/api/audit', {
    schema: {
      summary: 'The audit trail, newest first: logins and changes, who, when, from where, what',
      tags: ['audit'],
      querystring: {
        type: 'object', additionalProperties: false,
        properties: {
          before: { type: 'integer', minimum: 1, description: 'Entries older than this id (paging).' },
          actor: { type: 'string', maxLength: 64 },
          action: { type: 'string', maxLength: 32 },
          limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
        },
      },
    },
  }, async (req) => ctx.audit.query(req.query as Record<string, never>).map((e) => ({ ...e, at: e.at.toISOString() })));
}
