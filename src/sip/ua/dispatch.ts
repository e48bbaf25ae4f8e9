/**
 * Where the stack's requests go: a handler per method for requests outside a dialog, and the
 * dialog handlers (features that hold dialogs) for requests with a To tag. It is also the error
 * boundary of request handling: a handler that throws (a write the full disk refused) gets its
 * request answered 500 with Retry-After (if nothing was answered yet) and a log line within a
 * budget, and the node carries on.
 *
 * What matches nothing of ours (a dialog we do not hold, a method no feature takes) is refused
 * statelessly: nobody has authenticated it, so one packet goes back and no transaction is kept
 * (a flood of made-up dialogs must not fill the transaction table or amplify).
 */
import { LogLimit } from '../log-limit.js';
import type { SipRequest } from '../message/message.js';
import type { SipLogger, SipStack } from '../stack.js';
import type { ServerTransaction } from '../transaction/server.js';

export type RequestHandler = (req: SipRequest, tx: ServerTransaction) => void;
/** Takes an in-dialog request it holds the dialog of (true), or leaves it (false). */
export type DialogHandler = (req: SipRequest, tx: ServerTransaction) => boolean;

const STATELESS = { stateless: true };

export class RequestDispatcher {
  readonly #methods = new Map<string, RequestHandler>();
  readonly #dialogs: DialogHandler[] = [];
  readonly #log: SipLogger;
  readonly #errors = new LogLimit(10, 10_000);
  #stack: SipStack | undefined;

  constructor(logger: SipLogger) {
    this.#log = logger;
  }

  /** The stack that answers what no handler takes (set once the stack is built). */
  attach(stack: SipStack): void {
    this.#stack = stack;
  }

  /** Requests of `method` outside a dialog go to `handler` (one per method). */
  on(method: string, handler: RequestHandler): this {
    if (typeof method !== 'string' || method === '' || method !== method.toUpperCase()) throw new TypeError('method: an upper-case SIP method');
    if (typeof handler !== 'function') throw new TypeError('handler: function');
    if (this.#methods.has(method)) throw new TypeError(`method: ${method} already has a handler`);
    this.#methods.set(method, handler);
    return this;
  }

  /** Requests inside a dialog are offered to `handler` (after the ones added before it). */
  onDialog(handler: DialogHandler): this {
    if (typeof handler !== 'function') throw new TypeError('handler: function');
    this.#dialogs.push(handler);
    return this;
  }

  dispatch(req: SipRequest, tx: ServerTransaction): void {
    const stack = this.#stack;
    if (!stack) throw new Error('dispatcher: no stack attached');
    try {
      if (req.to.tag !== undefined) {
        if (!this.#dialogs.some((h) => h(req, tx))) stack.refuse(tx, 481, undefined, {}, STATELESS);
        return;
      }
      const handler = this.#methods.get(req.method);
      if (handler) handler(req, tx);
      // BYE, INFO, UPDATE... without a To tag can only be for a dialog that does not exist
      else stack.refuse(tx, req.method === 'BYE' || req.method === 'INFO' || req.method === 'UPDATE' ? 481 : 405, undefined, {}, STATELESS);
    } catch (e) {
      const err = e as Error & { code?: unknown };
      const dropped = this.#errors.take();
      if (dropped !== undefined) {
        this.#log.error(`${req.method} handler failed: ${err.message}`, { callId: req.callId, code: err.code, stack: err.stack, ...(dropped ? { suppressed: dropped } : {}) });
      }
      // never silence that the client would retransmit into; try again later (the disk may be back)
      stack.refuse(tx, 500, 'Server Internal Error', { 'retry-after': '30' });
    }
  }
}
