/**
 * How a call rings, as one interface. A strategy decides whom to ring and what to do when they
 * do not answer; the Ringing that runs it owns the INVITEs (forks), their media sides and timers.
 * Strategies today: an extension's registered phones (with forwarding and voicemail), a hunt
 * group's steps, an outgoing call's ARS routes (failover, camp-on). A user on another node is
 * one more: an INVITE over the node link's trunk.
 */
import type { Logger } from '../../../core/logger.js';
import type { PlayerSource } from '../../../media/index.js';
import type { CallDisposition } from '../../../core/call-record.js';
import type { Fork } from '../session.js';
import type { CallTimers } from '../timers.js';
import type { NextRoute } from '../outbound.js';

/** Who the call is from and for, as every strategy and fork needs it. */
export interface CallInfo {
  id: string;
  callerNumber: string;
  callerName: string;
  calledNumber: string;
  direction: 'internal' | 'incoming' | 'outgoing';
  /** Present the caller as anonymous (Privacy: id). */
  withheld: boolean;
}

/** A trunk route the call tries now (the ARS walk's next step). */
export type TrunkRoute = Extract<NextRoute, { kind: 'trunk' }>;

/** How an unanswered call ends. */
export interface RingOutcome {
  /** The status the caller gets. */
  status: number;
  reason?: string;
  disposition: CallDisposition;
  /** The call record's cause (the status the callee gave, 'voicemail'...). */
  cause: string;
  /** Log line. */
  why: string;
}

/** What a strategy may do with the ringing it drives. */
export interface Ringer {
  readonly info: CallInfo;
  readonly log: Logger;
  /** The call's timers: a strategy's timers live here, so they end with the call. */
  readonly timers: CallTimers;
  /** INVITEs to these extensions' registered phones, added to what rings; how many went out. */
  ringExtensions(extensions: string[]): number;
  /**
   * The INVITE to a trunk route; undefined (nothing sent, the route's channel given back) when
   * the trunk cannot be reached.
   */
  ringTrunk(route: TrunkRoute): Promise<Fork | undefined>;
  /** Cancels every fork ringing now. */
  stopForks(): void;
  /** Gives up on one fork (cancelled) as if it had failed with `status`. */
  giveUp(f: Fork, status: number, reason?: string): void;
  /** Forks still ringing. */
  readonly pending: number;
  /** Nothing rings while waiting (camp-on, queue): the call is back to routing. */
  waiting(): void;
  /** Our early media to the waiting caller (queue music, camp-on tone); undefined: silence. */
  hold(source: PlayerSource | undefined, onEnd?: () => void): void;
  /** Calls `cb` whenever a trunk channel frees (camp-on); returns the unsubscribe function. */
  watchRoutes(cb: () => void): () => void;
  /** Tells the caller the call is forwarded (181) and logs why. */
  forwarded(to: string, why: string): void;
  /** Another strategy takes over (forwarding); the current one is stopped first. */
  switchTo(next: RingStrategy): void;
  /** The caller goes to `mailbox`'s voicemail; false when the call cannot (answered, gone). */
  divert(mailbox: string, why: string): boolean;
  /** The call cannot be connected: the caller gets `o.status`. */
  fail(o: RingOutcome): void;
  /** Runs later work (after an await) inside the call's error boundary. */
  guard(what: string, fn: () => void): void;
}

export interface RingStrategy {
  /** The extension or number rung now; the call record's connected number once answered. */
  readonly target: string;
  /** Whether the call's ring timeout applies (a hunt group keeps callers as long as its rules say). */
  readonly ringTimeout: boolean;
  start(r: Ringer): void;
  /** A fork sent a provisional response (a trunk's setup time is met). */
  progress?(f: Fork): void;
  /** A fork failed with `status` (`reason`: its response's phrase); `pending` forks of this strategy still ring. */
  forkFailed(f: Fork, status: number, pending: number, reason?: string): void;
  /** A fork answered (the call is connected to it). */
  answered(f: Fork): void;
  /** Ringing stops (answered, caller gone, call ended, switched): release channels, queue places. */
  stop(): void;
}

/** What a hunt group's driver tells the call to do next. */
export type HuntStep =
  /** Ring these members' phones together; after `ms` (undefined: until told otherwise) ask again. */
  | { kind: 'ring'; members: string[]; ms: number | undefined }
  /** Nobody to ring now (queued): wait, hearing what the driver plays, until rehunt(). */
  | { kind: 'wait' }
  | { kind: 'voicemail'; mailbox: string }
  | { kind: 'busy'; reason: string };

/** The call as a hunt group's driver sees it. */
export interface HuntCallee {
  readonly ended: boolean;
  /** Stop what is ringing and ask the driver for the next step. */
  rehunt(): void;
  /** Early media to the waiting caller (183): music, an announcement; undefined: silence. */
  hold(source: PlayerSource | undefined, onEnd?: () => void): void;
}

/** A call to a hunt group: the group's feature decides whom to ring, the call rings them. */
export interface HuntDriver {
  attach(call: HuntCallee): void;
  next(): HuntStep;
  /** A member answered (the call is connected). */
  answered(member: string): void;
  /** The call is over (answered or not). */
  ended(): void;
}
