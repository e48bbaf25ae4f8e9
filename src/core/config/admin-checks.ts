/**
 * Checks of the admin section against itself and the rest of the document: HTTPS off loopback
 * (a login password must never cross the network in clear text), both TLS files present, and a
 * port that no SIP stream socket or the SMDR stream already takes.
 */
import { existsSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { resolve } from 'node:path';
import { AdminSchema } from './admin-schema.js';
import { field, list, type Raw } from './fields.js';

export function checkAdmin(doc: Raw, isLoopback: (a: string) => boolean): string[] {
  const parsed = AdminSchema.safeParse(doc.admin ?? {});
  if (!parsed.success) return [];
  const a = parsed.data;
  if (!a.enabled) return [];
  const problems: string[] = [];
  const tls = a.certificate !== undefined || a.privateKey !== undefined;
  for (const f of ['certificate', 'privateKey'] as const) {
    const file = a[f];
    if (file === undefined) {
      if (tls) problems.push(`admin.${f}: required with admin.${f === 'certificate' ? 'privateKey' : 'certificate'} (HTTPS needs both)`);
    } else if (!existsSync(resolve(file))) {
      problems.push(`admin.${f}: file not found: ${resolve(file)}`);
    }
  }
  if (!tls && !isLoopback(a.address)) {
    problems.push(`admin.address: ${a.address} is not loopback: set admin.certificate and admin.privateKey so logins go over HTTPS`);
  }
  const same = (x: string) => x === a.address || x === '0.0.0.0' || x === '::' || a.address === '::' || (a.address === '0.0.0.0' && isIPv4(x));
  const rawListen = field(doc.sip, 'listen');
  // an absent list means the default sockets: UDP and TCP on 127.0.0.1:5060
  const entries = rawListen === undefined ? [{ transport: 'tcp', address: '127.0.0.1', port: 5060 }] : list(rawListen);
  entries.forEach((l, i) => {
    const t = field(l, 'transport');
    const addr = field(l, 'address');
    if (t === 'udp' || typeof addr !== 'string' || field(l, 'port') !== a.port) return;
    if (same(addr)) problems.push(`admin.port: ${a.address} port ${a.port} is already taken by sip.listen[${i}] (${String(t)})`);
  });
  const smdr = field(field(doc.cdr, 'smdr'), 'enabled') === true ? field(doc.cdr, 'smdr') : undefined;
  const smdrPort = field(smdr, 'port') ?? 8808;
  const smdrAddress = field(smdr, 'address') ?? '127.0.0.1';
  if (smdr && smdrPort === a.port && typeof smdrAddress === 'string' && same(smdrAddress)) {
    problems.push(`admin.port: ${a.address} port ${a.port} is already taken by cdr.smdr`);
  }
  return problems;
}
