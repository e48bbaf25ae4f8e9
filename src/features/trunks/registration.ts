/**
 * Registration of this node to a carrier (RFC 3261 section 10.2) with digest, refreshes before
 * the granted expiry, and back-off while the carrier refuses or does not answer.
 */
import type { TrunkConfig } from '../../core/config/index.js';
import type { Logger } from '../../core/logger.js';
import type { DigestClient } from '../../sip/auth/digest.js';
import type { SipResponse } from '../../sip/message/message.js';
import { SipRequest } from '../../sip/message/message.js';
import { SipStack } from '../../sip/stack.js';
import type { Target } from '../../sip/transport/types.js';
import type { AuthFailure } from '../../sip/ua/challenge.js';
import { ClientRequest, type ClientRequestUser } from '../../sip/ua/client-request.js';

export type RegistrationState = 'none' | 'registering' | 'registered' | 'failed';

export interface RegistrationOptions {
  stack: SipStack;
  config: TrunkConfig;
  /** The carrier's domain (Request-URI, From, To). */
  domain: string;
  contactUser: string;
  digest: DigestClient | undefined;
  logger: Logger;
  /** Where the REGISTER goes (resolved per request, so DNS changes are followed). */
  target: () => Promise<Target>;
  /** The state changed (the trunk re-evaluates whether it is in service). */
  onChange: () => void;
}

/** Refresh at about half the granted period, but never later than 5 s before it runs out. */
export function refreshDelayMs(granted: number): number {
  return Math.max(1, Math.min(granted / 2, granted - 5)) * 1000;
}

/** Challenges answered for one REGISTER before giving up (a first one, then stale nonces). */
const MAX_CHALLENGES = 3;
const UNREGISTER_TIMEOUT_MS = 2000;

export class Registration {
  readonly #o: RegistrationOptions;
  readonly #log: Logger;
  // One Call-ID and From tag for the life of the registration, so refreshes update one binding.
  readonly #callId = SipStack.callId();
  readonly #tag = SipStack.tag();
  #cseq = 0;
  #state: RegistrationState = 'none';
  #lastError: string | undefined;
  #expires: number;
  /** Consecutive failures, for the back-off. */
  #failures = 0;
  /** A REGISTER is in progress; no other is started until it ends (it retransmits itself). */
  #pending = false;
  #timer: NodeJS.Timeout | undefined;
  #answerTimer: NodeJS.Timeout | undefined;
  #contact: string | undefined;
  #closed = false;

  constructor(opts: RegistrationOptions) {
    this.#o = opts;
    this.#log = opts.logger;
    this.#expires = opts.config.registerExpires;
  }

  get state(): RegistrationState {
    return this.#state;
  }

  get lastError(): string | undefined {
    return this.#lastError;
  }

  start(): void {
    if (this.#closed || this.#state !== 'none') return;
    this.#setState('registering');
    void this.#register();
  }

  /** Removes the binding (best effort, bounded wait) and stops every timer. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#answerTimer);
    if (this.#state !== 'registered' || this.#contact === undefined) return;
    const contact = this.#contact;
    await new Promise<void>((resolve) => {
      const done = setTimeout(resolve, Math.min(UNREGISTER_TIMEOUT_MS, this.#o.config.responseTimeoutSeconds * 1000));
      const finish = () => {
        clearTimeout(done);
        resolve();
      };
      this.#o.target().then((target) => this.#send(target, contact, 0, { onFinal: finish, onFailure: finish }), finish);
    });
    this.#log.info('trunk unregistered', { trunk: this.#o.config.name });
  }

  async #register(): Promise<void> {
    if (this.#closed || this.#pending) return;
    this.#pending = true;
    let target: Target;
    let contact: string;
    try {
      target = await this.#o.target();
      contact = this.#contactFor(target);
    } catch (err) {
      this.#pending = false;
      this.#fail((err as Error).message, true);
      return;
    }
    if (this.#closed) return;
    this.#contact = contact;
    this.#startAnswerTimer();
    this.#send(target, contact, this.#expires, {
      onFinal: (res, why) => this.#onFinal(res, why),
      onFailure: (reason) => {
        this.#pending = false;
        clearTimeout(this.#answerTimer);
        this.#fail(reason === 'timeout' ? 'no answer from the carrier' : 'transport error towards the carrier', true);
      },
    });
  }

  /** Sends one REGISTER through the stack's client path (challenges answered with our account). */
  #send(target: Target, contact: string, expires: number, user: ClientRequestUser): void {
    const { domain, config } = this.#o;
    const aor = `<sip:${config.username}@${domain}>`;
    const req = new SipRequest('REGISTER', this.#uri());
    req.set('from', `${aor};tag=${this.#tag}`).set('to', aor).set('call-id', this.#callId);
    req.set('cseq', `${++this.#cseq} REGISTER`).set('contact', contact).set('expires', String(expires));
    const guarded: ClientRequestUser = {
      onFinal: (res, why) => {
        if (!(this.#closed && expires !== 0)) user.onFinal(res, why);
      },
      onFailure: (reason) => {
        if (!(this.#closed && expires !== 0)) user.onFailure(reason);
      },
    };
    try {
      new ClientRequest(this.#o.stack, req, guarded, {
        target, credentials: this.#o.digest, nextSeq: () => ++this.#cseq, maxChallenges: MAX_CHALLENGES,
      }).start();
    } catch (err) {
      // No listener for the transport, or the stack is closed.
      queueMicrotask(() => guarded.onFailure('transport'));
      this.#log.debug('trunk REGISTER not sent', { trunk: config.name, err: (err as Error).message });
    }
  }

  /** The final answer to a REGISTER (challenges already answered by the client path). */
  #onFinal(res: SipResponse, authFailure: AuthFailure | undefined): void {
    this.#pending = false;
    clearTimeout(this.#answerTimer);
    if (res.status >= 200 && res.status < 300) {
      this.#registered(res);
      return;
    }
    if (authFailure !== undefined) {
      const user = this.#o.config.authUsername ?? this.#o.config.username;
      // Never log the password or the header: the user name is enough to find the typo.
      const reason = authFailure === 'no-credentials' ? `${res.status} challenge but no password is configured`
        : authFailure === 'refused' ? `credentials refused (${res.status}) for user ${user}`
        : `${res.status} challenge that cannot be answered`;
      this.#fail(reason, true);
      return;
    }
    if (res.status === 423) {
      const min = Number(res.get('min-expires'));
      if (Number.isInteger(min) && min > this.#expires && min <= 86_400) {
        // The carrier wants longer registrations: ask for what it accepts, straight away.
        this.#expires = min;
        void this.#register();
        return;
      }
    }
    this.#fail(`${res.status} ${res.reason}`, true);
  }

  #registered(res: SipResponse): void {
    const granted = this.#granted(res);
    this.#failures = 0;
    this.#lastError = undefined;
    if (this.#state !== 'registered') {
      this.#log.info('trunk registered', { trunk: this.#o.config.name, expires: granted });
      this.#setState('registered');
    }
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#register(), refreshDelayMs(granted));
  }

  /** The expiry granted to our contact (its expires param, else Expires, else what we asked). */
  #granted(res: SipResponse): number {
    const valid = (v: string | null | undefined) => {
      const n = v === undefined || v === null ? NaN : Number(v);
      return Number.isInteger(n) && n > 0 ? n : undefined;
    };
    try {
      const ours = this.#contact === undefined ? undefined : parseContactUri(this.#contact);
      for (const c of res.contacts) {
        const u = c.uri;
        if (ours && u.host.toLowerCase() === ours.host && (u.port ?? 5060) === ours.port && u.userDecoded === ours.user) {
          const e = valid(c.params.get('expires'));
          if (e !== undefined) return e;
        }
      }
    } catch {
      // a Contact we cannot parse: fall back to Expires
    }
    return valid(res.get('expires')) ?? this.#expires;
  }

  /** Out of service; `retry` schedules the next attempt (false while a REGISTER still retransmits). */
  #fail(reason: string, retry: boolean): void {
    if (this.#closed) return;
    this.#lastError = reason;
    if (this.#state !== 'failed') {
      this.#log.warn('trunk registration failed', { trunk: this.#o.config.name, reason });
      this.#setState('failed');
    } else {
      this.#log.debug('trunk registration still failing', { trunk: this.#o.config.name, reason });
    }
    if (!retry) return;
    const { registerRetrySeconds: start, registerRetryMaxSeconds: cap } = this.#o.config;
    const delay = Math.min(start * 2 ** Math.min(this.#failures, 20), Math.max(cap, start));
    this.#failures++;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#register(), delay * 1000);
  }

  #startAnswerTimer(): void {
    clearTimeout(this.#answerTimer);
    this.#answerTimer = setTimeout(() => {
      if (this.#pending) this.#fail(`no answer within ${this.#o.config.responseTimeoutSeconds} s`, false);
    }, this.#o.config.responseTimeoutSeconds * 1000);
  }

  #contactFor(target: Target): string {
    const l = this.#o.stack.local(target.protocol);
    const host = l.address.includes(':') ? `[${l.address}]` : l.address;
    return `<sip:${this.#o.contactUser}@${host}:${l.port};transport=${target.protocol}>`;
  }

  /** The Request-URI, and the digest-uri the challenge is answered for. */
  #uri(): string {
    return `sip:${this.#o.domain}`;
  }

  #setState(s: RegistrationState): void {
    this.#state = s;
    this.#o.onChange();
  }
}

function parseContactUri(contact: string): { user: string; host: string; port: number } {
  const m = /^<sip:([^@]+)@(\[[^\]]+\]|[^:;>]+):(\d+)/.exec(contact);
  if (!m) throw new SyntaxError('contact');
  return { user: m[1], host: m[2].toLowerCase(), port: Number(m[3]) };
}
