/**
 * OPTIONS keepalive towards a carrier. Any final answer, even 404/405/501, proves the carrier
 * is up: we only ask whether something answers SIP there, not what it supports.
 */
import type { TrunkConfig } from '../../core/config/index.js';
import { SipRequest } from '../../sip/message/message.js';
import { SipStack } from '../../sip/stack.js';
import type { Target } from '../../sip/transport/types.js';

export interface KeepaliveOptions {
  stack: SipStack;
  config: TrunkConfig;
  domain: string;
  /** User part of our From. */
  fromUser: string;
  target: () => Promise<Target>;
  /** `alive` changed. */
  onChange: () => void;
}

export class Keepalive {
  readonly #o: KeepaliveOptions;
  #alive = false;
  #lastError: string | undefined;
  /**
   * An OPTIONS is still in its transaction. No second one is sent meanwhile: the first keeps
   * retransmitting, and a late answer to it restores service just as well.
   */
  #pending = false;
  #interval: NodeJS.Timeout | undefined;
  #answerTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(opts: KeepaliveOptions) {
    this.#o = opts;
  }

  get alive(): boolean {
    return this.#alive;
  }

  get lastError(): string | undefined {
    return this.#lastError;
  }

  start(): void {
    if (this.#closed || this.#interval !== undefined) return;
    this.#interval = setInterval(() => void this.#probe(), this.#o.config.keepaliveSeconds * 1000);
    void this.#probe();
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#interval);
    clearTimeout(this.#answerTimer);
  }

  async #probe(): Promise<void> {
    if (this.#closed || this.#pending) return;
    this.#pending = true;
    let target: Target;
    try {
      target = await this.#o.target();
    } catch (err) {
      this.#pending = false;
      this.#set(false, (err as Error).message);
      return;
    }
    if (this.#closed) return;
    const { config, domain, fromUser } = this.#o;
    const req = new SipRequest('OPTIONS', `sip:${domain}`);
    req.set('from', `<sip:${fromUser}@${domain}>;tag=${SipStack.tag()}`).set('to', `<sip:${domain}>`);
    req.set('call-id', SipStack.callId()).set('cseq', '1 OPTIONS').set('accept', 'application/sdp');
    // Decide well before Timer F (32 s): a carrier silent this long is not taking calls now.
    const wait = Math.min(config.keepaliveSeconds, config.responseTimeoutSeconds) * 1000;
    clearTimeout(this.#answerTimer);
    this.#answerTimer = setTimeout(() => {
      if (this.#pending) this.#set(false, `no answer to OPTIONS within ${wait / 1000} s`);
    }, wait);
    const end = (alive: boolean, error?: string) => {
      if (this.#closed) return;
      this.#pending = false;
      clearTimeout(this.#answerTimer);
      this.#set(alive, error);
    };
    try {
      this.#o.stack.request(req, {
        onResponse: (res) => {
          if (res.status >= 200) end(true);
        },
        onFailure: (reason) => end(false, reason === 'timeout' ? 'OPTIONS timed out' : 'transport error towards the carrier'),
      }, target);
    } catch (err) {
      end(false, `OPTIONS not sent: ${(err as Error).message}`);
    }
  }

  #set(alive: boolean, error?: string): void {
    if (this.#closed) return;
    if (!alive) this.#lastError = error;
    if (alive === this.#alive) return;
    this.#alive = alive;
    if (alive) this.#lastError = undefined;
    this.#o.onChange();
  }
}
