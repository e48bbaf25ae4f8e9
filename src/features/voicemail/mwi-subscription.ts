/**
 * One message-summary subscription (RFC 3842 over RFC 6665) on the notifier side: its dialog,
 * its expiry, and the NOTIFYs that carry the mailbox's counts to the subscriber.
 */
import type { Logger } from '../../core/logger.js';
import type { Dialog } from '../../sip/dialog/dialog.js';
import type { SipRequest, SipResponse } from '../../sip/message/message.js';
import type { ClientFailure, ClientTransactionUser } from '../../sip/transaction/client.js';

/** The event package (RFC 3842 section 3). */
export const EVENT = 'message-summary';
/** The body type of its NOTIFYs (RFC 3842 section 5). */
export const CONTENT_TYPE = 'application/simple-message-summary';

/** Messages in a mailbox: `new` (unheard) and `saved` (heard and kept). */
export interface MailboxCounts {
  new: number;
  saved: number;
}

/**
 * The RFC 3842 section 5.2 body. Only voice messages are counted; urgent counts are not kept,
 * hence the fixed "(0/0)".
 */
export function summaryBody(account: string, counts: MailboxCounts): Buffer {
  return Buffer.from(
    `Messages-Waiting: ${counts.new > 0 ? 'yes' : 'no'}\r\n` +
    `Message-Account: ${account}\r\n` +
    `Voice-Message: ${counts.new}/${counts.saved} (0/0)\r\n`,
    'utf8',
  );
}

/** The counts of an RFC 3842 body (its Voice-Message line; none: no messages); undefined when malformed. */
export function parseSummaryBody(body: Buffer | string): MailboxCounts | undefined {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  if (!/^messages-waiting\s*:\s*(yes|no)\s*$/im.test(text)) return undefined;
  const m = /^voice-message\s*:\s*(\d{1,9})\/(\d{1,9})/im.exec(text);
  return m ? { new: Number(m[1]), saved: Number(m[2]) } : { new: 0, saved: 0 };
}

/** Fills in the event headers and the body of a NOTIFY (in a dialog or unsolicited). */
export function fillNotify(req: SipRequest, state: string, body: Buffer | undefined): void {
  req.set('event', EVENT);
  req.set('subscription-state', state);
  if (body) {
    req.set('content-type', CONTENT_TYPE);
    req.body = body;
  }
}

export type TerminationReason = 'timeout' | 'noresource' | 'deactivated';

export interface SubscriptionOptions {
  dialog: Dialog;
  /** The authenticated user who subscribed. */
  subscriber: string;
  /** The watched mailbox id. */
  mailbox: string;
  /** Message-Account value: `sip:<mailbox>@<domain>`. */
  account: string;
  /** Where the SUBSCRIBE came from: tells which registered phone holds this subscription. */
  source: { address: string; port: number };
  /** The mailbox's counts now; undefined once the mailbox is gone. */
  counts: () => MailboxCounts | undefined;
  logger: Logger;
  /** Called once when the subscription ends, whatever the cause, so the owner forgets it. */
  onEnd: (sub: Subscription) => void;
}

export class Subscription {
  readonly dialog: Dialog;
  readonly subscriber: string;
  readonly mailbox: string;
  readonly source: { address: string; port: number };
  readonly #o: SubscriptionOptions;
  readonly #log: Logger;
  readonly #tu: ClientTransactionUser;
  #expiresAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #inFlight = false;
  /** A newer state waits for the outstanding NOTIFY's answer. */
  #queued = false;
  #ended = false;
  #reason: TerminationReason = 'timeout';
  /** The terminated NOTIFY went out, or the subscriber is gone: nothing more to send. */
  #done = false;

  constructor(opts: SubscriptionOptions) {
    this.#o = opts;
    this.dialog = opts.dialog;
    this.subscriber = opts.subscriber;
    this.mailbox = opts.mailbox;
    this.source = opts.source;
    this.#log = opts.logger.child({ callId: opts.dialog.callId });
    this.#tu = {
      onResponse: (res) => this.#answered(res),
      onFailure: (reason) => this.#failed(reason),
    };
  }

  get id(): string {
    return this.dialog.id;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Seconds left, rounded up (what Subscription-State's expires says). */
  get expiresIn(): number {
    return Math.max(0, Math.ceil((this.#expiresAt - Date.now()) / 1000));
  }

  /** (Re)arms the expiry `seconds` from now. */
  refresh(seconds: number): void {
    if (this.#ended) return;
    clearTimeout(this.#timer);
    this.#expiresAt = Date.now() + seconds * 1000;
    this.#timer = setTimeout(() => this.terminate('timeout'), seconds * 1000);
    // A subscription must not keep the process alive on its own; close() clears it anyway.
    this.#timer.unref();
  }

  /**
   * Sends the current state. RFC 6665 4.2.2 allows one outstanding NOTIFY per subscription: a
   * change meanwhile is sent when the answer comes, with the counts of that moment, so bursts
   * of changes collapse into one NOTIFY.
   */
  notify(): void {
    if (this.#ended) return;
    if (this.#o.counts() === undefined) {
      this.terminate('noresource');
      return;
    }
    if (this.#inFlight) this.#queued = true;
    else this.#send();
  }

  /**
   * Ends the subscription with a terminated NOTIFY. `now` sends it even while another NOTIFY is
   * outstanding (shutting down: there is no time to wait for its answer).
   */
  terminate(reason: TerminationReason, now = false): void {
    if (this.#ended) return;
    this.#reason = reason;
    this.#end();
    if (this.#inFlight && !now) this.#queued = true;
    else this.#send();
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#o.onEnd(this);
  }

  /** The subscriber is gone: forget the subscription without a terminated NOTIFY. */
  #drop(why: string): void {
    if (this.#done) return;
    this.#done = true;
    this.#log.info('message-summary subscription dropped', { subscriber: this.subscriber, mailbox: this.mailbox, why });
    this.#end();
  }

  #send(): void {
    if (this.#done) return;
    const req = this.dialog.createRequest('NOTIFY');
    const counts = this.#o.counts();
    const body = counts ? summaryBody(this.#o.account, counts) : undefined;
    const state = this.#ended ? `terminated;reason=${this.#reason}` : `active;expires=${this.expiresIn}`;
    fillNotify(req, state, body);
    this.#inFlight = true;
    this.#queued = false;
    if (this.#ended) this.#done = true;
    try {
      this.dialog.request(req, this.#tu);
      this.#log.debug('message-summary NOTIFY sent', { mailbox: this.mailbox, state, new: counts?.new, saved: counts?.saved });
    } catch (e) {
      // no listener for the transport, or a target we cannot reach: nobody will hear us
      this.#inFlight = false;
      this.#drop(`NOTIFY not sent: ${(e as Error).message}`);
    }
  }

  #answered(res: SipResponse): void {
    if (res.status < 200) return;
    this.#inFlight = false;
    this.#log.debug('message-summary NOTIFY answered', { mailbox: this.mailbox, status: res.status });
    // RFC 6665 4.2.2 and RFC 5057: 481 and 408 end the dialog usage; other refusals end only
    // that transaction, so the next change is tried again.
    if (res.status === 481 || res.status === 408) this.#drop(`NOTIFY answered ${res.status}`);
    else if (this.#queued) this.#send();
  }

  #failed(reason: ClientFailure): void {
    this.#inFlight = false;
    this.#drop(`NOTIFY ${reason === 'timeout' ? 'timed out' : 'failed in the transport'}`);
  }
}
