import type { SipRequest } from '../message/message.js';
import type { Source, Target } from '../transport/types.js';
import type { TimerHeap } from './timers.js';

/** A transaction as its table knows it (the transactions import this module, not the reverse). */
export interface KeyedTransaction {
  readonly key: string;
}

/** What a transaction needs from the layer that owns it. */
export interface TransactionContext {
  readonly timers: TimerHeap;
  readonly t1: number;
  readonly t2: number;
  readonly t4: number;
  /** Where responses to a request go (RFC 3261 18.2.2, RFC 3581, RFC 5626 flows). */
  responseTarget(request: SipRequest, source: Source): Target;
  /** Sends a response to its target. */
  sendResponse(buf: Buffer, target: Target, cb?: (err?: Error) => void): void;
  /** Sends a request to a resolved target. */
  sendRequest(buf: Buffer, target: Target, cb?: (err?: Error) => void): void;
  removeServer(tx: KeyedTransaction): void;
  removeClient(tx: KeyedTransaction): void;
}
