/**
 * Where the stack's requests go: a handler per method for requests outside a dialog, and the
 * dialog handlers (features that hold dialogs) for requests with a To tag. It is also the error
 * boundary of request handling: a handler that throws gets its request answered 500 (if nothing
 * was answered yet) and a log line, and the node carries on.
 */
import type { SipRequest } from '../message/message.js';
import type { SipLogger, SipStack } from '../stack.js';
import type { ServerTransaction } from '../transaction/server.js';

export type RequestHandler = (req: SipRequest, tx: ServerTransaction) => void;
/** Takes an in-dialog request it holds the dialog of (true), or leaves it (false). */
export type DialogHandler = (req: SipRequest, tx: ServerTransaction) => boolean;

export class RequestDispatcher {
  readonly #methods = new Map<string, RequestHandler>();
  readonly #dialogs: DialogHandler[] = [];
  readonly #log: SipLogger;
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
        if (!this.#dialogs.some((h) => h(req, tx))) stack.refuse(tx, 481);
        return;
      }
      const handler = this.#methods.get(req.method);
      if (handler) handler(req, tx);
      // BYE, INFO, UPDATE... without a To tag can only be for a dialog that does not exist
      else stack.refuse(tx, req.method === 'BYE' || req.method === 'INFO' || req.method === 'UPDATE' ? 481 : 405);
    } catch (e) {
      const err = e as Error;
      this.#log.error(`${req.method} handler failed: ${err.message}`, { callId: req.callId, stack: err.stack });
      stack.refuse(tx, 500, 'Server Internal Error');
    }
  }
}
