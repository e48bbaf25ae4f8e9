/**
 * `pbx status`: a node's state in a terminal, read from its admin API (the same figures the
 * console shows): the node and its configuration revision, capacity in use against its profile,
 * alarms, trunks, node links, registrations and calls in progress.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Config } from '../core/config/index.js';

export interface ApiTarget {
  url: string;
  /** Certificates to trust (the node's own, for an API on HTTPS). */
  ca?: Buffer;
}

/** The admin API of the node a configuration describes (a wildcard address is reached on loopback). */
export function targetOf(config: Config): ApiTarget {
  const a = config.admin;
  const host = a.address === '0.0.0.0' ? '127.0.0.1' : a.address === '::' ? '[::1]' : a.address.includes(':') ? `[${a.address}]` : a.address;
  const tls = a.certificate !== undefined;
  return { url: `${tls ? 'https' : 'http'}://${host}:${a.port}`, ca: tls ? readFileSync(resolve(a.certificate!)) : undefined };
}

export async function api<T = any>(t: ApiTarget, method: string, path: string, o: { token?: string; body?: unknown } = {}): Promise<{ status: number; body: T }> {
  const url = new URL(path, t.url);
  const body = o.body === undefined ? undefined : Buffer.from(JSON.stringify(o.body));
  const headers: Record<string, string> = {};
  if (body) headers['content-type'] = 'application/json';
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  const req = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((done, fail) => {
    const r = req(url, { method, headers, ca: t.ca, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // not JSON
        }
        done({ status: res.statusCode ?? 0, body: parsed as T });
      });
    });
    r.on('timeout', () => r.destroy(new Error('no answer within 10 s')));
    r.on('error', (e) => fail(new Error(`${t.url}: ${e.message}`)));
    r.end(body);
  });
}

/** Logs in; throws an Error with the API's own words when refused. */
export async function loginTo(t: ApiTarget, name: string, password: string): Promise<string> {
  const r = await api<{ token?: string; error?: string; mustChangePassword?: boolean }>(t, 'POST', '/api/login', { body: { name, password } });
  if (r.status !== 200 || !r.body.token) throw new Error(`login refused (${r.status}): ${r.body.error ?? 'no token'}`);
  if (r.body.mustChangePassword) throw new Error(`account ${name} still has its default password: log in at the console (${t.url}) and choose a new one`);
  return r.body.token;
}

const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));

function table(rows: string[][]): string {
  if (rows.length === 0) return '  (none)';
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => `  ${r.map((c, i) => pad(c, widths[i]!)).join('  ')}`.trimEnd()).join('\n');
}

/** The status as text for a terminal. */
export function formatStatus(s: any, registrations: any[], calls: any[]): string {
  const n = s.node;
  const out: string[] = [];
  out.push(`node ${n.name}: ${n.state} (${n.role}, ${n.profile}), configuration revision ${n.revision}${n.pending.length ? `, waiting for a restart: ${n.pending.join(', ')}` : ''}`);
  out.push(`  up since ${n.startedAt}; SIP ${n.sip.join(', ')}`);
  out.push('', 'capacity (in use / limit):');
  out.push(table(Object.entries(s.capacity as Record<string, { used: number; limit: number }>).map(([k, v]) => [k, `${v.used} / ${v.limit}`])));
  out.push('', `alarms (${s.alarms.length}):`);
  out.push(table(s.alarms.map((a: any) => [a.severity, a.code, a.message])));
  out.push('', 'trunks:');
  out.push(table(s.trunks.map((t: any) => [t.name, `line group ${t.lineGroup}`, t.state, t.registration, `${t.channels}/${t.maxChannels} channels`])));
  if ((s.nodes ?? []).length > 0) {
    out.push('', `solution: revision ${n.solutionRevision ?? '?'} applied; other nodes:`);
    out.push(table(s.nodes.map((o: any) => [o.name, o.role, o.state, `revision ${o.revision}`, `${o.registered} registered`])));
  }
  out.push('', 'node links:');
  out.push(table(s.links.map((l: any) => [l.node, l.role ?? '', l.state, l.address ?? '', `${l.calls ?? 0} calls`, l.lastError ?? ''])));
  out.push('', `registrations (${registrations.length}):`);
  out.push(table(registrations.map((r) => [r.extension, r.source, r.userAgent ?? '', `${r.expiresInSeconds} s left`])));
  out.push('', `calls in progress (${calls.length}):`);
  out.push(table(calls.map((c) => [c.id, c.state, `${c.caller} -> ${c.called}`, c.parties.map((p: any) => `${p.number}${p.codec ? ` ${p.codec}` : ''}${p.quality?.reports ? ` loss ${(p.quality.fractionLost * 100).toFixed(1)}% jitter ${p.quality.jitterMs.toFixed(1)} ms` : ''}`).join(', ')])));
  return out.join('\n');
}
