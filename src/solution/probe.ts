/**
 * OPTIONS to the other nodes over SIP: the second path by which a node knows another is alive,
 * beside its heartbeats on the bus. A node whose bus link alone is down still answers here, so
 * it is not taken over; a node that answers neither is down. Any final answer counts: we ask
 * whether the node's SIP stack runs, not what it supports.
 */
import { SipRequest } from '../sip/message/message.js';
import { SipStack } from '../sip/stack.js';
import type { Target } from '../sip/transport/types.js';

export interface NodeProbeOptions {
  stack: SipStack;
  /** Our SIP domain (From and Request-URI). */
  domain: string;
  /** This node's name (the From user). */
  self: string;
  /** Nodes to probe now and where their SIP is (read on every round: the document may change). */
  targets: () => { name: string; address: string; port: number }[];
  /** Time between rounds (ms). */
  intervalMs: number;
  /** OPTIONS in flight towards one node at most (their retransmissions go on; a late answer counts). */
  maxInFlight?: number;
  now?: () => number;
}

export class NodeProbe {
  readonly #o: NodeProbeOptions;
  readonly #answered = new Map<string, number>();
  readonly #inFlight = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly stats = { sent: 0, answered: 0 };

  constructor(o: NodeProbeOptions) {
    if (!(o?.stack instanceof SipStack)) throw new TypeError('stack: must be a SipStack');
    if (!(o.intervalMs > 0)) throw new TypeError('intervalMs: must be > 0');
    if (typeof o.targets !== 'function') throw new TypeError('targets: must be a function');
    this.#o = o;
  }

  start(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setInterval(() => this.#round(), this.#o.intervalMs);
    this.#round();
  }

  /** When `name` last answered (ms since the epoch), or undefined when it never did. */
  lastAnswer(name: string): number | undefined {
    return this.#answered.get(name);
  }

  #now(): number {
    return this.#o.now?.() ?? Date.now();
  }

  #round(): void {
    if (this.#closed) return;
    const { stack, domain, self } = this.#o;
    const max = this.#o.maxInFlight ?? 4;
    for (const t of this.#o.targets()) {
      const flying = this.#inFlight.get(t.name) ?? 0;
      if (flying >= max) continue;
      const target: Target = { protocol: 'udp', address: t.address, port: t.port };
      const req = new SipRequest('OPTIONS', `sip:${t.address}:${t.port}`);
      req.set('from', `<sip:${self}@${domain}>;tag=${SipStack.tag()}`).set('to', `<sip:${t.address}:${t.port}>`);
      req.set('call-id', SipStack.callId()).set('cseq', '1 OPTIONS');
      this.#inFlight.set(t.name, flying + 1);
      let done = false;
      const end = (answered: boolean) => {
        if (done) return;
        done = true;
        this.#inFlight.set(t.name, Math.max(0, (this.#inFlight.get(t.name) ?? 1) - 1));
        if (answered && !this.#closed) {
          this.stats.answered++;
          this.#answered.set(t.name, this.#now());
        }
      };
      try {
        stack.request(req, {
          onResponse: (res) => {
            if (res.status >= 200) end(true);
          },
          onFailure: () => end(false),
        }, target);
        this.stats.sent++;
      } catch {
        end(false);
      }
    }
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
  }
}
