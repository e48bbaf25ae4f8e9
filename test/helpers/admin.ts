/**
 * Test helpers for the admin API: requests over real HTTP (node:http, so a test can pick the
 * local address a request comes from), logging in, and a node with its API on a test port whose
 * default account already has a chosen password.
 */
import { request } from 'node:http';
import { startServer, type TestServer } from './server.js';

export interface Reply<T = any> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: T;
  text: string;
}

export interface RequestOptions {
  body?: unknown;
  token?: string;
  headers?: Record<string, string>;
  /** The local address to send from (127.0.0.x), as another client machine would. */
  from?: string;
}

export function http<T = any>(base: string, method: string, path: string, o: RequestOptions = {}): Promise<Reply<T>> {
  const url = new URL(path, base);
  const body = o.body === undefined ? undefined : Buffer.from(JSON.stringify(o.body));
  const headers: Record<string, string> = { ...(o.headers ?? {}) };
  if (body) headers['content-type'] = 'application/json';
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: url.pathname + url.search, method, headers, localAddress: o.from }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // not JSON (metrics, the console's pages)
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed as T, text });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Logs in; throws with the answer when refused. */
export async function login(base: string, name: string, password: string, from?: string): Promise<{ token: string; csrf: string; cookie: string }> {
  const r = await http(base, 'POST', '/api/login', { body: { name, password }, from });
  if (r.status !== 200) throw new Error(`login ${name}: ${r.status} ${r.text}`);
  const cookie = String(r.headers['set-cookie']).split(';')[0]!;
  return { token: r.body.token, csrf: r.body.csrf, cookie };
}

export const ADMIN_PASSWORD = 'console-test-1';

/** A node with its admin API on `adminPort`; the default admin account's password changed to ADMIN_PASSWORD. */
export async function startAdminNode(o: { udp: number; adminPort: number; users?: string; yaml?: string; admin?: string; dir?: string; voicemail?: string }): Promise<{ node: TestServer; base: string; token: string }> {
  const node = await startServer({ udp: o.udp, users: o.users, yaml: o.yaml, dir: o.dir, voicemail: o.voicemail, admin: `port: ${o.adminPort}${o.admin ? `, ${o.admin}` : ''}` });
  const base = `http://127.0.0.1:${o.adminPort}`;
  try {
    const first = await login(base, 'admin', 'admin');
    const r = await http(base, 'POST', '/api/account/password', { token: first.token, body: { current: 'admin', password: ADMIN_PASSWORD } });
    if (r.status !== 200) throw new Error(`password change: ${r.status} ${r.text}`);
    const { token } = await login(base, 'admin', ADMIN_PASSWORD);
    return { node, base, token };
  } catch (e) {
    await node.close();
    throw e;
  }
}
