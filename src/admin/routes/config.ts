/**
 * The configuration through the API: read it (secrets redacted) with its revision, validate a
 * proposed document (the loader's path-named problems), replace it or one section, and add,
 * change or remove users and hunt groups. Every change names the revision it was made on (or
 * none: the latest), is applied live, and answers with the new revision, what applied at once
 * and what waits for a restart.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ConfigSchema } from '../../core/config/index.js';
import { REDACTED } from '../../core/logger.js';
import { actor, HttpError, type AdminContext } from '../context.js';

type Plain = Record<string, unknown>;
const isPlain = (v: unknown): v is Plain => typeof v === 'object' && v !== null && !Array.isArray(v);

const SECTIONS = Object.keys(ConfigSchema.shape);
const revision = { type: 'integer', minimum: 0, description: 'The revision the change is made on (from GET /api/config); a newer one in force refuses the change (409).' } as const;
const ChangeResult = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['applied', 'unchanged', 'stale'] },
    revision: { type: 'integer' },
    applied: { type: 'array', items: { type: 'string' }, description: 'Paths that took effect at once.' },
    pending: { type: 'array', items: { type: 'string' }, description: 'Paths that wait for a restart.' },
    changes: { type: 'array', items: { type: 'string' }, description: 'What changed, path by path (secrets as "changed").' },
  },
} as const;

/** The lists the API edits item by item, and the key of their items. */
const LISTS = { users: 'extension', huntGroups: 'extension' } as const;
type ListName = keyof typeof LISTS;

export function configRoutes(app: FastifyInstance, ctx: AdminContext): void {
  const change = async (req: FastifyRequest, action: string, target: string, rev: number | undefined, fn: (d: Plain) => Plain | undefined) => {
    const { result, changes } = await ctx.changes.change({ revision: rev, actor: actor(req), address: req.ip, action, target }, fn);
    return { ...result, changes };
  };

  app.get('/api/config', {
    config: { access: 'read-only' },
    schema: { summary: 'The configuration document in force (secrets "[redacted]"), its revision, what waits for a restart', tags: ['config'] },
  }, async () => ctx.changes.read());

  app.get('/api/config/revisions', {
    config: { access: 'read-only' },
    schema: { summary: 'The revisions kept, newest first', tags: ['config'] },
  }, async () => ctx.node.revisions.list(50).map((r) => ({ ...r, at: r.at.toISOString() })));

  app.post('/api/config/validate', {
    config: { access: 'read-only' },
    schema: {
      summary: 'Check a proposed document without applying it: every problem by its path', tags: ['config'],
      body: { type: 'object', required: ['document'], additionalProperties: false, properties: { document: { type: 'object' } } },
    },
  }, async (req) => {
    const problems = ctx.changes.validate((req.body as { document: unknown }).document);
    return { ok: problems.length === 0, problems };
  });

  app.put('/api/config', {
    schema: {
      summary: 'Replace the whole document ("[redacted]" keeps a secret as it is)', tags: ['config'],
      body: { type: 'object', required: ['document'], additionalProperties: false, properties: { revision, document: { type: 'object' } } },
      response: { 200: ChangeResult },
    },
  }, async (req) => {
    const b = req.body as { revision?: number; document: Plain };
    return change(req, 'config-change', '(document)', b.revision, () => b.document);
  });

  app.put('/api/config/sections/:section', {
    schema: {
      summary: 'Replace one section (dialPlan, conference, trunks, ...)', tags: ['config'],
      params: { type: 'object', required: ['section'], properties: { section: { type: 'string', enum: SECTIONS } } },
      body: { type: 'object', required: ['value'], additionalProperties: false, properties: { revision, value: {} } },
      response: { 200: ChangeResult },
    },
  }, async (req) => {
    const { section } = req.params as { section: string };
    const b = req.body as { revision?: number; value: unknown };
    return change(req, 'config-change', section, b.revision, (d) => {
      d[section] = b.value;
      return undefined;
    });
  });

  for (const [list, key] of Object.entries(LISTS) as [ListName, string][]) {
    const path = list.toLowerCase();
    const noun = list === 'users' ? 'user' : 'hunt group';
    const item = { type: 'object', required: [key], properties: { [key]: { type: 'string' } } } as const;
    const param = { type: 'object', required: [key], properties: { [key]: { type: 'string', pattern: '^[0-9]{2,15}$' } } } as const;
    const items = (d: Plain): Plain[] => {
      if (d[list] === undefined) d[list] = [];
      if (!Array.isArray(d[list])) throw new HttpError(409, `${list}: is not a list in the document; fix it with PUT /api/config`);
      return d[list] as Plain[];
    };
    const find = (d: Plain, id: string) => {
      const i = items(d).findIndex((x) => isPlain(x) && x[key] === id);
      if (i < 0) throw new HttpError(404, `no ${noun} ${id}`);
      return i;
    };

    app.get(`/api/config/${path}`, {
      config: { access: 'read-only' },
      schema: { summary: `The ${list} of the document (secrets "[redacted]")`, tags: ['config'] },
    }, async () => {
      const d = ctx.changes.read().document;
      return Array.isArray(d[list]) ? d[list] : [];
    });

    app.post(`/api/config/${path}`, {
      schema: {
        summary: `Add a ${noun} (the same fields as in the YAML document)`, tags: ['config'],
        body: { type: 'object', required: ['item'], additionalProperties: false, properties: { revision, item } },
        response: { 200: ChangeResult },
      },
    }, async (req) => {
      const b = req.body as { revision?: number; item: Plain };
      return change(req, `${noun.replace(' ', '')}-add`, String(b.item[key]), b.revision, (d) => {
        items(d).push(b.item);
        return undefined;
      });
    });

    app.put(`/api/config/${path}/:${key}`, {
      schema: {
        summary: `Change a ${noun}: the new fields replace the old ones (a password left out or "[redacted]" stays as it was)`, tags: ['config'],
        params: param,
        body: { type: 'object', required: ['item'], additionalProperties: false, properties: { revision, item: { type: 'object' } } },
        response: { 200: ChangeResult },
      },
    }, async (req) => {
      const id = (req.params as Record<string, string>)[key]!;
      const b = req.body as { revision?: number; item: Plain };
      return change(req, `${noun.replace(' ', '')}-change`, id, b.revision, (d) => {
        const i = find(d, id);
        const next: Plain = { ...b.item };
        if (next[key] === undefined) next[key] = id;
        if (list === 'users' && next.password === undefined) next.password = REDACTED;
        items(d)[i] = next;
        return undefined;
      });
    });

    app.delete(`/api/config/${path}/:${key}`, {
      schema: {
        summary: `Remove a ${noun}`, tags: ['config'], params: param,
        querystring: { type: 'object', additionalProperties: false, properties: { revision } },
        response: { 200: ChangeResult },
      },
    }, async (req) => {
      const id = (req.params as Record<string, string>)[key]!;
      const rev = (req.query as { revision?: number }).revision;
      return change(req, `${noun.replace(' ', '')}-remove`, id, rev, (d) => {
        items(d).splice(find(d, id), 1);
        return undefined;
      });
    });
  }
}
