/**
 * Message waiting across node links. Every mailbox is on the primary; a user's phones register
 * on their home node. When a mailbox of a user served elsewhere changes, the primary sends that
 * node a NOTIFY (RFC 3842 message-summary) over the link, and again for all of that node's users
 * whenever the link comes up (the node may have restarted and know nothing). The node keeps the
 * counts and its message-waiting notifier tells the user's phones, subscribed or not.
 */
import type { Logger } from '../core/logger.js';
import { fillNotify, parseSummaryBody, summaryBody, type MailboxCounts } from '../features/voicemail/mwi.js';
import { SipRequest } from '../sip/message/message.js';
import { SipStack } from '../sip/stack.js';
import type { ServerTransaction } from '../sip/transaction/server.js';
import { ClientRequest } from '../sip/ua/client-request.js';
import type { NodeLinks } from './links.js';
import type { Numbering } from './numbering.js';

export interface MwiRelayOptions {
  stack: SipStack;
  links: NodeLinks;
  logger: Logger;
  /** This node's name. */
  self: string;
  numbering: () => Numbering;
  /** The SIP domain (Message-Account URIs). */
  domain: string;
  /** Counts of a mailbox kept on this node (the voicemail node); undefined elsewhere. */
  counts?: (mailbox: string) => MailboxCounts | undefined;
  /** Counts of a mailbox of this node's users arrived from the voicemail node. */
  onCounts?: (mailbox: string) => void;
}

export class MwiRelay {
  readonly #o: MwiRelayOptions;
  /** Counts heard from the voicemail node, by mailbox. */
  readonly #heard = new Map<string, MailboxCounts>();
  readonly stats = { sent: 0, received: 0, failed: 0 };

  constructor(o: MwiRelayOptions) {
    this.#o = o;
  }

  /** The counts of `mailbox` as last heard; none heard yet for a user of the solution: no messages. */
  counts(mailbox: string): MailboxCounts | undefined {
    return this.#heard.get(mailbox) ?? (this.#o.numbering().owner(mailbox) ? { new: 0, saved: 0 } : undefined);
  }

  /** A mailbox on this node changed: its user's node hears of it, when that is another node. */
  changed(mailbox: string): void {
    const owner = this.#o.numbering().owner(mailbox);
    if (owner?.kind !== 'user' || owner.node === this.#o.self) return;
    this.#send(owner.node, mailbox);
  }

  /** The link to `node` is up: the counts of every mailbox of its users, afresh. */
  linkUp(node: string): void {
    if (!this.#o.counts) return;
    for (const user of this.#o.numbering().usersOn(node)) this.#send(node, user);
  }

  #send(node: string, mailbox: string): void {
    const o = this.#o;
    const counts = o.counts?.(mailbox);
    const link = o.links.get(node);
    if (!counts || !link || link.state !== 'up') return;
    const { address, port } = link.destination;
    const host = `${address.includes(':') ? `[${address}]` : address}:${port}`;
    const req = new SipRequest('NOTIFY', `sip:${mailbox}@${host}`);
    req.set('from', `<sip:voicemail@${o.domain}>;tag=${SipStack.tag()}`).set('to', `<sip:${mailbox}@${o.domain}>`);
    req.set('call-id', SipStack.callId()).set('cseq', '1 NOTIFY').set('max-forwards', '70');
    fillNotify(req, 'active', summaryBody(`sip:${mailbox}@${o.domain}`, counts));
    const log = o.logger;
    try {
      new ClientRequest(o.stack, req, {
        onFinal: (res) => {
          if (res.status >= 300) {
            this.stats.failed++;
            log.warn(`message waiting for ${mailbox} refused by node ${node} (${res.status})`);
          }
        },
        onFailure: (reason) => {
          this.stats.failed++;
          log.warn(`message waiting for ${mailbox} not delivered to node ${node}: ${reason}`);
        },
      }, { target: link.destination, credentials: link.credentials }).start();
      this.stats.sent++;
    } catch (e) {
      this.stats.failed++;
      log.warn(`message waiting for ${mailbox} not sent to node ${node}: ${(e as Error).message}`);
    }
  }

  /**
   * A NOTIFY outside a dialog: from a linked node, checked with the link's credentials, its
   * counts kept for a user of this node; false when it does not come over a link.
   */
  handle(req: SipRequest, tx: ServerTransaction): boolean {
    const o = this.#o;
    const link = o.links.linkOf(tx.source);
    if (!link) return false;
    const refused = link.authenticate(req, tx.source);
    if (refused) {
      o.stack.respond(tx, refused);
      return true;
    }
    const mailbox = req.uri.isSip ? req.uri.userDecoded ?? '' : '';
    const counts = (req.get('event') ?? '').split(';')[0].trim().toLowerCase() === 'message-summary' ? parseSummaryBody(req.body) : undefined;
    if (!counts) {
      o.stack.refuse(tx, 400, 'Bad Request (a message-summary NOTIFY expected)');
      return true;
    }
    const owner = o.numbering().owner(mailbox);
    if (owner?.kind !== 'user' || owner.node !== o.self) {
      o.stack.refuse(tx, 404, `Not Found (${mailbox} is no user of this node)`);
      return true;
    }
    o.stack.respond(tx, o.stack.createResponse(req, 200));
    this.stats.received++;
    this.#heard.set(mailbox, counts);
    o.onCounts?.(mailbox);
    return true;
  }
}
