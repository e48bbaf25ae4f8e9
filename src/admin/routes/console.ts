/**
 * The web console: a few static files (src/admin/console/), read once at start and served with
 * headers that keep the page to itself (no inline script, no framing, no other origin).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { defaultPromptsDir } from '../../core/prompts.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** src/admin/console of this package (found from src/ and dist/src/ alike, like the prompts). */
export function consoleDir(): string {
  return join(defaultPromptsDir(), '..', 'src', 'admin', 'console');
}

export const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

export function consoleRoutes(app: FastifyInstance, dir = consoleDir()): void {
  const files = new Map<string, { type: string; body: Buffer }>();
  for (const f of readdirSync(dir)) {
    const type = TYPES[extname(f)];
    if (type) files.set(f, { type, body: readFileSync(join(dir, f)) });
  }
  const index = files.get('index.html');
  if (!index) throw new Error(`admin console: ${join(dir, 'index.html')} is missing`);
  app.get('/', { config: { access: 'public' }, schema: { hide: true } }, async (_req, reply) => reply.type(index.type).send(index.body));
  app.get('/console/:file', { config: { access: 'public' }, schema: { hide: true } }, async (req, reply) => {
    const f = files.get((req.params as { file: string }).file);
    if (!f) return reply.code(404).send({ error: 'not found' });
    return reply.type(f.type).send(f.body);
  });
}
