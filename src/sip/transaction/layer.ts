import type { SipRequest, SipResponse } from '../message/message.js';
import type { Source, Target } from '../transport/types.js';
import { InviteClientTransaction, NonInviteClientTransaction, type ClientTransaction, type ClientTransactionUser } from './client.js';
import type { KeyedTransaction, TransactionContext } from './context.js';
import { InviteServerTransaction, NonInviteServerTransaction, type ServerTransaction } from './server.js';
import { TimerHeap } from './timers.js';

export const MAGIC_COOKIE = 'z9hG4bK';

export interface TransactionLayerOptions {
  t1: number;
  t2: number;
  t4: number;
  responseTarget: TransactionContext['responseTarget'];
  sendResponse: TransactionContext['sendResponse'];
  sendRequest: TransactionContext['sendRequest'];
  timers?: TimerHeap;
}

/**
 * The transaction tables and matching rules of RFC 3261 17.1.3 and 17.2.3 (with the RFC 2543
 * fallback for branches without the magic cookie).
 */
export class TransactionLayer implements TransactionContext {
  readonly timers: TimerHeap;
  readonly t1: number;
  readonly t2: number;
  readonly t4: number;
  readonly #servers = new Map<string, ServerTransaction>();
  readonly #clients = new Map<string, ClientTransaction>();
  readonly #opts: TransactionLayerOptions;

  constructor(opts: TransactionLayerOptions) {
    this.#opts = opts;
    this.t1 = opts.t1;
    this.t2 = opts.t2;
    this.t4 = opts.t4;
    this.timers = opts.timers ?? new TimerHeap();
  }

  get serverCount(): number {
    return this.#servers.size;
  }

  get clientCount(): number {
    return this.#clients.size;
  }

  responseTarget(request: SipRequest, source: Source): Target {
    return this.#opts.responseTarget(request, source);
  }

  sendResponse(buf: Buffer, target: Target, cb?: (err?: Error) => void): void {
    this.#opts.sendResponse(buf, target, cb);
  }

  sendRequest(buf: Buffer, target: Target, cb?: (err?: Error) => void): void {
    this.#opts.sendRequest(buf, target, cb);
  }

  /** Server transaction key; `method` lets ACK and CANCEL look up their INVITE. */
  static serverKey(req: SipRequest, method: string): string | undefined {
    const via = req.topVia;
    if (!via) return undefined;
    const branch = via.branch;
    const sentBy = `${via.host.toLowerCase()}:${via.port ?? ''}`;
    if (branch !== undefined && branch.startsWith(MAGIC_COOKIE) && branch.length > MAGIC_COOKIE.length) {
      return `${branch}|${sentBy}|${method}`;
    }
    // RFC 2543 matching: Request-URI, From tag, Call-ID, CSeq number and top Via; the To tag is
    // left out so the ACK for a non-2xx (which carries our tag) matches its INVITE.
    return `2543|${req.uriText}|${req.from.tag ?? ''}|${req.callId}|${req.cseq.seq}|${via.toString()}|${method}`;
  }

  static clientKey(branch: string, method: string): string {
    return `${branch}|${method}`;
  }

  /** The server transaction a request belongs to, if any. */
  matchServer(req: SipRequest): ServerTransaction | undefined {
    const method = req.method === 'ACK' ? 'INVITE' : req.method;
    const key = TransactionLayer.serverKey(req, method);
    return key === undefined ? undefined : this.#servers.get(key);
  }

  /** The INVITE server transaction a CANCEL targets. */
  matchCancelled(cancel: SipRequest): InviteServerTransaction | undefined {
    const key = TransactionLayer.serverKey(cancel, 'INVITE');
    const tx = key === undefined ? undefined : this.#servers.get(key);
    return tx instanceof InviteServerTransaction ? tx : undefined;
  }

  createServer(req: SipRequest, source: Source): ServerTransaction {
    const key = TransactionLayer.serverKey(req, req.method)!;
    const tx = req.method === 'INVITE'
      ? new InviteServerTransaction(this, key, req, source)
      : new NonInviteServerTransaction(this, key, req, source);
    this.#servers.set(key, tx);
    return tx;
  }

  /** Starts a client transaction; the request must already carry its Via with a fresh branch. */
  createClient(req: SipRequest, target: Target, tu: ClientTransactionUser): ClientTransaction {
    const branch = req.topVia?.branch;
    if (!branch) throw new TypeError('request: top Via needs a branch');
    const key = TransactionLayer.clientKey(branch, req.method);
    const tx = req.method === 'INVITE'
      ? new InviteClientTransaction(this, key, req, target, tu)
      : new NonInviteClientTransaction(this, key, req, target, tu);
    this.#clients.set(key, tx);
    tx.start();
    return tx;
  }

  /** Routes a response to its client transaction; false when none matches (stray response). */
  receiveResponse(res: SipResponse): boolean {
    const branch = res.topVia?.branch;
    if (!branch) return false;
    const tx = this.#clients.get(TransactionLayer.clientKey(branch, res.cseq.method));
    if (!tx) return false;
    tx.receiveResponse(res);
    return true;
  }

  removeServer(tx: KeyedTransaction): void {
    if (this.#servers.get(tx.key) === tx) this.#servers.delete(tx.key);
  }

  removeClient(tx: KeyedTransaction): void {
    if (this.#clients.get(tx.key) === tx) this.#clients.delete(tx.key);
  }

  close(): void {
    this.timers.close();
    this.#servers.clear();
    this.#clients.clear();
  }
}
