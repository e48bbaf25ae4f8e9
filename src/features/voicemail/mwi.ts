/**
 * Message waiting indication: RFC 3842 message-summary over RFC 6665 SUBSCRIBE/NOTIFY, and
 * unsolicited NOTIFYs to registered phones that never subscribe (many desk phones light their
 * lamp from those alone).
 */
import type { Logger } from '../../core/logger.js';
import type { Authenticator } from '../../core/security/authenticator.js';
import { Dialog, DialogState } from '../../sip/dialog/dialog.js';
import { SipRequest, type SipResponse } from '../../sip/message/message.js';
import { parseUri } from '../../sip/message/uri.js';
import { registeredTarget } from '../../sip/routing.js';
import { SipStack } from '../../sip/stack.js';
import { LogLimit } from '../../sip/log-limit.js';
import type { ServerTransaction } from '../../sip/transaction/server.js';
import type { Target, TransportProtocol } from '../../sip/transport/types.js';
import { CONTENT_TYPE, EVENT, fillNotify, Subscription, summaryBody, type MailboxCounts } from './mwi-subscription.js';

export { CONTENT_TYPE, EVENT, fillNotify, parseSummaryBody, summaryBody, type MailboxCounts } from './mwi-subscription.js';

/** A registered phone, as the location service gives it (registrar Bindings fit). */
export interface RegisteredContact {
  contact: string;
  path: string[];
  source: { protocol: string; address: string; port: number; flowId?: string };
}

export interface MessageWaitingOptions {
  stack: SipStack;
  /** Digest authentication of subscribers (407 challenges). */
  auth: Authenticator;
  logger: Logger;
  /** Our SIP domain: Message-Account URIs and the From of unsolicited NOTIFYs. */
  domain: string;
  /** Registered contacts of a user (LocationStore.lookup fits). */
  locate: (user: string) => RegisteredContact[];
  /** Counts of a mailbox; undefined when there is no such mailbox. */
  counts: (mailbox: string) => MailboxCounts | undefined;
  /** May `user` watch `mailbox`? (Their own, and those of hunt groups they belong to.) */
  mayWatch: (user: string, mailbox: string) => boolean;
  /** Shorter subscriptions get 423 (default 60 s). */
  minExpires?: number;
  /** Longer subscriptions are shortened to this (default 3600 s). */
  maxExpires?: number;
  /** Subscriptions one user may hold at once; more get 403 (default 20). */
  maxPerUser?: number;
  /** Our Contact for a transport (default `<sip:voicemail@address:port;transport=...>` from stack.local()). */
  contact?: (protocol: TransportProtocol) => string;
}

/** RFC 3842 section 4.3: a message-summary subscription lasts an hour unless asked otherwise. */
const DEFAULT_EXPIRES = 3600;

/**
 * The message-summary notifier. `handle` takes every SUBSCRIBE: message-summary ones it serves,
 * any other event package it refuses with 489 (no other package exists on this node). Other
 * methods it leaves alone (returns false).
 */
export class MessageWaiting {
  readonly #o: MessageWaitingOptions;
  readonly #log: Logger;
  readonly #min: number;
  readonly #max: number;
  /** By dialog id (Call-ID, our tag, their tag). */
  readonly #subs = new Map<string, Subscription>();
  readonly #byMailbox = new Map<string, Set<Subscription>>();
  /** Mailboxes changed in this turn of the event loop, notified together. */
  readonly #dirty = new Set<string>();
  #flush: NodeJS.Immediate | undefined;
  #closed = false;
  /** Subscriptions held per subscriber, against maxPerUser. */
  readonly #byUser = new Map<string, number>();
  readonly #maxPerUser: number;
  readonly #capLog = new LogLimit(5, 60_000);
  readonly stats = { subscribed: 0, refused: 0, notifiedUnsolicited: 0 };

  constructor(opts: MessageWaitingOptions) {
    if (opts === null || typeof opts !== 'object') throw new TypeError('opts: object');
    if (!(opts.stack instanceof SipStack)) throw new TypeError('stack: SipStack');
    if (opts.auth === null || typeof opts.auth?.authenticate !== 'function') throw new TypeError('auth: Authenticator');
    if (opts.logger === null || typeof opts.logger?.child !== 'function') throw new TypeError('logger: Logger');
    if (typeof opts.domain !== 'string' || opts.domain === '') throw new TypeError('domain: non-empty string');
    for (const f of ['locate', 'counts', 'mayWatch'] as const) {
      if (typeof opts[f] !== 'function') throw new TypeError(`${f}: function`);
    }
    if (opts.contact !== undefined && typeof opts.contact !== 'function') throw new TypeError('contact: function');
    const min = opts.minExpires ?? 60;
    const max = opts.maxExpires ?? DEFAULT_EXPIRES;
    if (!Number.isInteger(min) || min < 1) throw new TypeError('minExpires: positive integer');
    if (!Number.isInteger(max) || max < min) throw new TypeError('maxExpires: integer not below minExpires');
    this.#o = opts;
    this.#log = opts.logger;
    this.#min = min;
    this.#max = max;
    const perUser = opts.maxPerUser ?? 20;
    if (!Number.isInteger(perUser) || perUser < 1) throw new TypeError('maxPerUser: positive integer');
    this.#maxPerUser = perUser;
  }

  /** Subscriptions held now. */
  status(): { subscriptions: number } {
    return { subscriptions: this.#subs.size };
  }

  /**
   * Serves a SUBSCRIBE, with or without a To tag. Returns false for other methods (the caller
   * goes on dispatching); true when the request was answered here, which every SUBSCRIBE is:
   * another event package gets 489, an unknown dialog 481.
   */
  handle(req: SipRequest, tx: ServerTransaction): boolean {
    if (!(req instanceof SipRequest)) throw new TypeError('req: SipRequest');
    if (tx === null || typeof tx !== 'object' || typeof tx.respond !== 'function') throw new TypeError('tx: ServerTransaction');
    if (req.method !== 'SUBSCRIBE') return false;
    if (this.#closed) {
      this.#refuse(req, tx, 503);
      return true;
    }
    const event = req.get('event');
    if (event === undefined) {
      this.#refuse(req, tx, 400, 'Bad Request (no Event)');
      return true;
    }
    if (event.split(';')[0].trim().toLowerCase() !== EVENT) {
      this.#refuse(req, tx, 489, undefined, { 'allow-events': EVENT });
      return true;
    }
    let toTag: string | undefined;
    try {
      toTag = req.to.tag;
    } catch {
      this.#refuse(req, tx, 400, 'Bad Request (bad To)');
      return true;
    }
    if (toTag !== undefined) this.#inDialog(req, tx, toTag);
    else this.#subscribe(req, tx);
    return true;
  }

  /**
   * The counts of `mailbox` changed. Its subscribers get a NOTIFY; when the mailbox is a user's,
   * that user's registered phones without a subscription of their own get an unsolicited one.
   * Changes within one event-loop turn go out together, in the next.
   */
  update(mailbox: string): void {
    if (typeof mailbox !== 'string' || mailbox === '') throw new TypeError('mailbox: non-empty string');
    if (this.#closed) return;
    this.#dirty.add(mailbox);
    this.#flush ??= setImmediate(() => this.#flushUpdates());
  }

  /** Terminated NOTIFYs to every subscriber (sent, not waited for); no timer is left. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#flush) clearImmediate(this.#flush);
    this.#flush = undefined;
    this.#dirty.clear();
    // 'deactivated': the subscriber may subscribe again at once, to whichever node serves then
    for (const sub of [...this.#subs.values()]) sub.terminate('deactivated', true);
    this.#subs.clear();
    this.#byMailbox.clear();
    this.#byUser.clear();
  }

  #refuse(req: SipRequest, tx: ServerTransaction, status: number, reason?: string, extra?: Record<string, string>): void {
    const stack = this.#o.stack;
    this.stats.refused++;
    const res = stack.createResponse(req, status, reason);
    for (const [k, v] of Object.entries(extra ?? {})) res.set(k, v);
    stack.respond(tx, res);
  }

  /** The Expires of a SUBSCRIBE: seconds granted, or the refusal to send. */
  #expires(req: SipRequest): number | { status: number; reason?: string; extra?: Record<string, string> } {
    const text = req.get('expires');
    const asked = text === undefined ? DEFAULT_EXPIRES : Number(text.trim());
    if (!Number.isInteger(asked) || asked < 0) return { status: 400, reason: 'Bad Request (bad Expires)' };
    if (asked > 0 && asked < this.#min) return { status: 423, extra: { 'min-expires': String(this.#min) } };
    return Math.min(asked, this.#max);
  }

  #subscribe(req: SipRequest, tx: ServerTransaction): void {
    const o = this.#o;
    const accept = req.getAll('accept').map((a) => a.split(';')[0].trim().toLowerCase());
    if (accept.length && !accept.some((a) => a === CONTENT_TYPE || a === 'application/*' || a === '*/*')) {
      return this.#refuse(req, tx, 406, undefined, { accept: CONTENT_TYPE });
    }
    let fromUser: string | undefined;
    let contactOk: boolean;
    try {
      fromUser = req.from.uri.isSip ? req.from.uri.userDecoded : undefined;
      contactOk = req.contacts.length === 1 && !req.contacts[0].wildcard;
    } catch {
      return this.#refuse(req, tx, 400, 'Bad Request (bad From or Contact)');
    }
    // Authentication first, so an unauthenticated peer learns nothing about mailboxes.
    const result = o.auth.authenticate(req, tx.source, fromUser ?? '');
    if (!result.ok) {
      this.stats.refused++;
      return o.stack.respond(tx, result.response);
    }
    if (result.user !== fromUser) {
      this.#log.info('message-summary SUBSCRIBE: credentials of another user', { callId: req.callId, user: result.user, from: fromUser });
      return this.#refuse(req, tx, 403, 'Forbidden (credentials do not match the From user)');
    }
    const mailbox = (req.uri.isSip ? req.uri.userDecoded : undefined) ?? (req.to.uri.isSip ? req.to.uri.userDecoded : undefined);
    if (mailbox === undefined || o.counts(mailbox) === undefined) return this.#refuse(req, tx, 404, 'Not Found (no such mailbox)');
    if (!o.mayWatch(fromUser, mailbox)) {
      this.#log.info('message-summary SUBSCRIBE refused: not allowed to watch', { callId: req.callId, user: fromUser, mailbox });
      return this.#refuse(req, tx, 403, 'Forbidden (not your mailbox)');
    }
    if (!contactOk) return this.#refuse(req, tx, 400, 'Bad Request (a SUBSCRIBE needs one Contact)');
    const expires = this.#expires(req);
    if (typeof expires !== 'number') return this.#refuse(req, tx, expires.status, expires.reason, expires.extra);
    const held = this.#byUser.get(fromUser) ?? 0;
    if (expires > 0 && held >= this.#maxPerUser) {
      if (this.#capLog.take() !== undefined) this.#log.warn('message-summary SUBSCRIBE refused: subscription limit of the user', { callId: req.callId, user: fromUser, limit: this.#maxPerUser });
      return this.#refuse(req, tx, 403, `Forbidden (at most ${this.#maxPerUser} subscriptions per user)`);
    }

    const src = tx.source;
    const localTag = SipStack.tag();
    const contact = this.#contact(src.protocol);
    // Over a connection the NOTIFYs follow the SUBSCRIBE's flow (RFC 5626), as in-dialog
    // requests of calls do; over UDP the Contact and Record-Route say where.
    const flow: Target | undefined = src.flowId !== undefined ? { protocol: src.protocol, address: src.address, port: src.port, flowId: src.flowId } : undefined;
    const dialog = Dialog.fromRequest(o.stack, req, localTag, contact, flow);
    dialog.state = DialogState.Confirmed;
    const sub = new Subscription({
      dialog, subscriber: fromUser, mailbox, account: this.#account(mailbox),
      source: { address: src.address, port: src.port },
      counts: () => o.counts(mailbox),
      logger: this.#log,
      onEnd: (s) => this.#forget(s),
    });
    this.#subs.set(sub.id, sub);
    this.#byUser.set(fromUser, held + 1);
    let set = this.#byMailbox.get(mailbox);
    if (!set) this.#byMailbox.set(mailbox, (set = new Set()));
    set.add(sub);
    this.stats.subscribed++;
    this.#ok(req, tx, localTag, contact, expires);
    if (expires === 0) {
      // RFC 6665 4.4.3: a fetch, one NOTIFY with the state and the subscription is over
      sub.terminate('timeout');
      return;
    }
    sub.refresh(expires);
    this.#log.info('message-summary subscription', { callId: req.callId, user: fromUser, mailbox, expires });
    sub.notify();
  }

  #inDialog(req: SipRequest, tx: ServerTransaction, toTag: string): void {
    const sub = this.#subs.get(Dialog.key(req.callId, toTag, req.from.tag ?? ''));
    if (!sub) return this.#refuse(req, tx, 481);
    // No new challenge: our random To tag in the request shows it comes from whoever saw the
    // 200 we sent to the authenticated subscriber.
    if (!sub.dialog.receiveRequest(req)) return this.#refuse(req, tx, 500, 'Server Internal Error (out of order CSeq)', { 'retry-after': '1' });
    const expires = this.#expires(req);
    if (typeof expires !== 'number') return this.#refuse(req, tx, expires.status, expires.reason, expires.extra);
    try {
      // SUBSCRIBE is a target refresh request (RFC 6665 4.1.2.1)
      const c = req.contacts[0];
      if (c && !c.wildcard) sub.dialog.remoteTarget = c.uri;
    } catch {
      return this.#refuse(req, tx, 400, 'Bad Request (bad Contact)');
    }
    this.#ok(req, tx, toTag, sub.dialog.localContact, expires);
    if (expires === 0) {
      this.#log.info('message-summary unsubscribed', { callId: req.callId, user: sub.subscriber, mailbox: sub.mailbox });
      sub.terminate('timeout');
      return;
    }
    sub.refresh(expires);
    sub.notify();
  }

  #ok(req: SipRequest, tx: ServerTransaction, localTag: string, contact: string, expires: number): void {
    const stack = this.#o.stack;
    const res: SipResponse = stack.createResponse(req, 200, undefined, localTag);
    res.set('contact', contact);
    res.set('expires', String(expires));
    stack.respond(tx, res);
  }

  #forget(sub: Subscription): void {
    if (!this.#subs.delete(sub.id)) return;
    const n = (this.#byUser.get(sub.subscriber) ?? 1) - 1;
    if (n > 0) this.#byUser.set(sub.subscriber, n);
    else this.#byUser.delete(sub.subscriber);
    const set = this.#byMailbox.get(sub.mailbox);
    set?.delete(sub);
    if (set && !set.size) this.#byMailbox.delete(sub.mailbox);
  }

  #flushUpdates(): void {
    this.#flush = undefined;
    const mailboxes = [...this.#dirty];
    this.#dirty.clear();
    for (const mailbox of mailboxes) {
      const subs = [...(this.#byMailbox.get(mailbox) ?? [])];
      for (const sub of subs) sub.notify();
      this.#notifyPhones(mailbox, subs);
    }
  }

  /** Unsolicited NOTIFYs to the phones of a user's mailbox that hold no subscription to it. */
  #notifyPhones(mailbox: string, subs: Subscription[]): void {
    const o = this.#o;
    let counts: MailboxCounts | undefined;
    let phones: RegisteredContact[];
    try {
      counts = o.counts(mailbox);
      phones = counts ? o.locate(mailbox) : [];
    } catch (e) {
      this.#log.error(`message-summary: mailbox ${mailbox} not read: ${(e as Error).message}`);
      return;
    }
    for (const b of phones) {
      if (subs.some((s) => !s.ended && samePhone(s, b))) continue;
      this.#unsolicited(mailbox, b, counts!);
    }
  }

  #unsolicited(user: string, b: RegisteredContact, counts: MailboxCounts): void {
    const o = this.#o;
    const target = registeredTarget(b, (id) => o.stack.transports.hasFlow(id));
    if (!target) {
      this.#log.debug('message-summary: registered contact not reachable', { user, contact: b.contact });
      return;
    }
    const req = new SipRequest('NOTIFY', b.contact);
    req.set('from', `<sip:${o.domain}>;tag=${SipStack.tag()}`);
    req.set('to', `<sip:${user}@${o.domain}>`);
    req.set('call-id', SipStack.callId());
    req.set('cseq', '1 NOTIFY');
    req.set('contact', this.#contact(target.protocol));
    if (b.path.length) req.set('route', b.path);
    fillNotify(req, 'active', summaryBody(this.#account(user), counts));
    const log = this.#log.child({ callId: req.callId });
    try {
      o.stack.request(req, {
        onResponse: (res) => {
          if (res.status >= 200) log.debug('unsolicited message-summary NOTIFY answered', { user, contact: b.contact, status: res.status });
        },
        onFailure: (reason) => log.debug(`unsolicited message-summary NOTIFY failed: ${reason}`, { user, contact: b.contact }),
      }, target);
      this.stats.notifiedUnsolicited++;
      log.debug('unsolicited message-summary NOTIFY sent', { user, contact: b.contact, new: counts.new, saved: counts.saved });
    } catch (e) {
      log.debug(`unsolicited message-summary NOTIFY not sent: ${(e as Error).message}`, { user, contact: b.contact });
    }
  }

  #account(mailbox: string): string {
    return `sip:${mailbox}@${this.#o.domain}`;
  }

  #contact(protocol: TransportProtocol): string {
    const given = this.#o.contact?.(protocol);
    if (given !== undefined) return given.startsWith('<') ? given : `<${given}>`;
    const l = this.#o.stack.local(protocol);
    return `<sip:voicemail@${l.address}:${l.port};transport=${protocol}>`;
  }
}

/**
 * Is registered contact `b` the phone that holds `sub`? The same source address and port, or
 * the same contact host and port: a phone subscribes from where it registers.
 */
function samePhone(sub: Subscription, b: RegisteredContact): boolean {
  if (sub.source.address === b.source.address && sub.source.port === b.source.port) return true;
  try {
    const c = parseUri(b.contact);
    const t = sub.dialog.remoteTarget;
    return c.host.toLowerCase() === t.host.toLowerCase() && (c.port ?? 5060) === (t.port ?? 5060);
  } catch {
    return false;
  }
}

