/** The hunt groups' public types: what the B2BUA passes in and the decisions it gets back. */
import type { HuntGroupConfig, RingMode, ServiceState } from '../../core/config/huntgroup-schema.js';

export type { HuntGroupConfig, RingMode, ServiceState };

/** What the B2BUA knows of a member at the moment of a hunt (from the registrar and its calls). */
export interface MemberAvailability {
  /** At least one phone is registered for the user. */
  registered: boolean;
  /** Do not disturb is on. */
  dnd: boolean;
  /** Forward all (unconditional forwarding) is on. */
  forwardAll: boolean;
  /** The user is on a call (or being offered one). */
  onCall: boolean;
  /** Call waiting is on: collectiveCallWaiting still offers calls to this member while on a call. */
  callWaiting: boolean;
}

/** Why a member was left out of a pass, in the order the reasons are tested. */
export type SkipReason = 'disabled' | 'loggedOut' | 'unregistered' | 'dnd' | 'forwardAll' | 'onCall';

/** One pass over a group's members. */
export interface HuntRound {
  readonly group: string;
  readonly ringMode: RingMode;
  /**
   * The offers of the pass, in order; each rings its members together for noAnswerMs. Collective
   * modes: one offer with every available member; the others: one member per offer. Empty: no
   * member is available (queue, overflow or voicemail, by the rules in rules.ts).
   */
  readonly offers: readonly (readonly string[])[];
  /** Members left out, with the first reason that applied, in member order. */
  readonly skipped: readonly { readonly user: string; readonly reason: SkipReason }[];
  /** How long each offer rings (the group's noAnswerSeconds), ms. */
  readonly noAnswerMs: number;
}

/** Where a call goes when the group does not take it (night/out of service, queue full). */
export type HuntTarget =
  | { kind: 'number'; number: string }
  /** The group's own mailbox (its extension). */
  | { kind: 'voicemail'; mailbox: string }
  | { kind: 'busy'; reason: string };

export type EnqueueResult = { position: number } | { refused: 'full' | 'off' };

export interface HuntMemberStatus {
  readonly user: string;
  /** The membership is enabled in the configuration. */
  readonly enabled: boolean;
  /** Logged in to the group (members start logged in; *55*N / *56*N change it). */
  readonly loggedIn: boolean;
}

export interface HuntGroupStatus {
  readonly extension: string;
  readonly name: string;
  readonly ringMode: RingMode;
  /** The state now (night also when outside the time profile). */
  readonly service: ServiceState;
  /** The state set by configuration or feature code, before the time profile. */
  readonly setState: ServiceState;
  readonly members: readonly HuntMemberStatus[];
  /** Members enabled and logged in, in hunt order. */
  readonly loggedIn: readonly string[];
  /** Callers waiting in the queue. */
  readonly queued: number;
}

/**
 * A group's state as it moves between nodes (journalled by the node that runs the group, applied
 * by the node that may take it over): log-ins, the service state set (with the configured state
 * it was set against), and the rotary position.
 */
export interface HuntGroupSnapshot {
  group: string;
  loggedIn: Record<string, boolean>;
  state: ServiceState;
  configured: ServiceState;
  lastOffered: string | null;
}
