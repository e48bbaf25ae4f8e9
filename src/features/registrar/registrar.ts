import type { Logger } from '../../core/logger.js';
import type { Authenticator } from '../../core/security/authenticator.js';
import type { Address } from '../../sip/message/address.js';
import type { SipRequest, SipResponse } from '../../sip/message/message.js';
import type { SipStack } from '../../sip/stack.js';
import type { ServerTransaction } from '../../sip/transaction/server.js';
import type { Binding, LocationStore } from './location.js';

export interface RegistrarOptions {
  stack: SipStack;
  location: LocationStore;
  auth: Authenticator;
  logger: Logger;
  /** Names this registrar answers for (domain and local addresses); lowercase. */
  domains: Set<string>;
  minExpires: number;
  maxExpires: number;
  defaultExpires: number;
  maxContactsPerUser: number;
  /** RFC 5626 Flow-Timer (seconds) sent when the registration uses an outbound flow; none when absent. */
  flowTimerSeconds?: number;
  /** Extensions registered at once on this node (the profile's user capacity). */
  userCapacity: number;
  /** True when the extension is a user of the solution. */
  isUser: (extension: string) => boolean;
  /**
   * In a solution: true for a user this node backs up (standby registrations), not one it serves
   * now. Those count against standbyCapacity, not userCapacity.
   */
  isStandby?: (extension: string) => boolean;
  /** Standby users registered at once (the backup capacity: the profile's users); default userCapacity. */
  standbyCapacity?: number;
}

/**
 * REGISTER per RFC 3261 section 10.3, with RFC 3327 Path and RFC 5626 outbound. Credentials
 * and lockout (the Authenticator) and the location store are separate pieces it only calls.
 */
export class Registrar {
  readonly #o: RegistrarOptions;
  readonly stats = { registered: 0, refused: 0 };

  constructor(opts: RegistrarOptions) {
    this.#o = opts;
  }

  handle(req: SipRequest, tx: ServerTransaction): void {
    const o = this.#o;
    const src = tx.source;
    const log = o.logger;
    const reply = (res: SipResponse) => o.stack.respond(tx, res);
    const refuse = (status: number, reason?: string, extra?: Record<string, string>) => {
      this.stats.refused++;
      const res = o.stack.createResponse(req, status, reason);
      for (const [k, v] of Object.entries(extra ?? {})) res.set(k, v);
      reply(res);
    };

    const host = req.uri.host.toLowerCase();
    if (!req.uri.isSip || !o.domains.has(host.startsWith('[') ? host.slice(1, -1) : host)) {
      return refuse(404, 'Not Found (not a domain of this registrar)');
    }
    const aorUri = req.to.uri;
    const aor = aorUri.isSip ? aorUri.userDecoded : undefined;
    if (aor === undefined) return refuse(404, 'Not Found (To has no extension)');

    // Authentication first, so an unauthenticated peer learns nothing about extensions.
    const result = o.auth.authenticate(req, src, aor);
    if (!result.ok) {
      this.stats.refused++;
      return reply(result.response);
    }
    if (result.user !== aor) {
      log.info('authenticated user registering another extension', { callId: req.callId, user: result.user, aor });
      return refuse(403, 'Forbidden (credentials do not match the To user)');
    }
    if (!o.isUser(aor)) return refuse(404);

    let contacts: Address[];
    try {
      contacts = req.contacts;
    } catch {
      return refuse(400, 'Bad Request (bad Contact)');
    }
    const headerExpires = req.get('expires');
    const callId = req.callId;
    const cseq = req.cseq.seq;
    const now = Date.now();

    if (contacts.some((c) => c.wildcard)) {
      if (contacts.length !== 1 || headerExpires !== '0') return refuse(400, 'Bad Request (* needs Expires: 0 and no other Contact)');
      for (const b of o.location.lookup(aor)) {
        if (b.callId === callId && cseq <= b.cseq) return refuse(500, 'Server Internal Error (out of order CSeq)', { 'retry-after': '1' });
      }
      for (const b of o.location.lookup(aor)) o.location.remove(aor, b.key);
      log.info('unregistered all contacts', { callId, aor });
      return this.#ok(req, tx, aor);
    }

    // Validate every contact before changing anything: a refusal leaves no trace.
    const changes: { key: string; binding: Binding | null }[] = [];
    const outbound = req.getAll('supported').some((s) => s.toLowerCase() === 'outbound');
    for (const c of contacts) {
      const exp = c.params.get('expires') ?? headerExpires;
      let expires = exp === undefined || exp === null ? o.defaultExpires : Number(exp);
      if (!Number.isFinite(expires) || expires < 0) return refuse(400, 'Bad Request (bad expires)');
      if (expires > 0 && expires < o.minExpires) {
        return refuse(423, undefined, { 'min-expires': String(o.minExpires) });
      }
      expires = Math.min(expires, o.maxExpires);
      const instanceId = c.params.get('+sip.instance') ?? undefined;
      const regIdText = c.params.get('reg-id');
      const regId = outbound && instanceId && regIdText ? Number(regIdText) : undefined;
      const key = regId !== undefined ? `${instanceId}|${regId}` : c.uri.toString();
      const old = o.location.get(aor, key);
      if (old && old.callId === callId && cseq <= old.cseq) {
        return refuse(500, 'Server Internal Error (out of order CSeq)', { 'retry-after': '1' });
      }
      if (expires === 0) {
        changes.push({ key, binding: null });
        continue;
      }
      const q = c.params.get('q');
      changes.push({
        key,
        binding: {
          aor, key, contact: c.uri.toString(), callId, cseq, expiresAt: now + expires * 1000,
          q: q ? Math.min(1, Math.max(0, Number(q) || 0)) : 1,
          instanceId, regId,
          path: req.getAll('path'),
          source: { protocol: src.protocol, address: src.address, port: src.port, flowId: src.flowId },
          viaPort: req.topVia?.port ?? 5060,
          userAgent: req.get('user-agent'),
        },
      });
    }
    const current = new Set(o.location.lookup(aor).map((b) => b.key));
    for (const ch of changes) {
      if (ch.binding) current.add(ch.key);
      else current.delete(ch.key);
    }
    if (current.size > o.maxContactsPerUser) {
      return refuse(403, `Forbidden (at most ${o.maxContactsPerUser} contacts per user)`);
    }
    if (current.size > 0 && !o.location.hasAor(aor)) {
      const standby = o.isStandby?.(aor) ?? false;
      const capacity = standby ? o.standbyCapacity ?? o.userCapacity : o.userCapacity;
      let used = 0;
      if (!o.isStandby) used = o.location.aorCount;
      else for (const a of o.location.aors()) if (o.isStandby(a) === standby) used++;
      if (used >= capacity) {
        const what = standby ? 'backup capacity' : 'user capacity';
        log.warn(`registration refused: node ${what} reached`, { callId, aor, capacity });
        return refuse(403, `Forbidden (${what} of this node reached: ${capacity})`);
      }
    }
    for (const ch of changes) {
      if (ch.binding) o.location.save(ch.binding);
      else o.location.remove(aor, ch.key);
    }
    if (changes.length) {
      this.stats.registered++;
      // an RFC 5626 flow says which one (reg-id) and from which phone (+sip.instance)
      const flow = changes.find((c) => c.binding?.regId !== undefined)?.binding;
      log.info('registration updated', {
        callId, aor, contacts: current.size, address: src.address, transport: src.protocol,
        ...(flow ? { regId: flow.regId, instance: flow.instanceId } : {}),
      });
    }
    this.#ok(req, tx, aor, outbound && changes.some((c) => c.binding?.regId !== undefined));
  }

  #ok(req: SipRequest, tx: ServerTransaction, aor: string, outboundUsed = false): void {
    const o = this.#o;
    const res = o.stack.createResponse(req, 200);
    const now = Date.now();
    const bindings = o.location.lookup(aor);
    if (bindings.length) {
      res.set('contact', bindings.map((b) => {
        let s = `<${b.contact}>;expires=${Math.max(0, Math.round((b.expiresAt - now) / 1000))}`;
        if (b.q !== 1) s += `;q=${b.q}`;
        if (b.instanceId) s += `;+sip.instance=${quoteParam(b.instanceId)}`;
        if (b.regId !== undefined) s += `;reg-id=${b.regId}`;
        return s;
      }));
    }
    if (req.has('path') && req.getAll('supported').some((s) => s.toLowerCase() === 'path')) res.set('path', req.getAll('path'));
    if (outboundUsed) {
      res.set('require', 'outbound');
      if (o.flowTimerSeconds !== undefined) res.set('flow-timer', String(o.flowTimerSeconds));
    }
    res.set('supported', 'path, outbound');
    res.set('date', new Date(now).toUTCString());
    o.stack.respond(tx, res);
  }
}

function quoteParam(v: string): string {
  return v.startsWith('"') ? v : `"${v}"`;
}
