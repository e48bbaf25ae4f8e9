/** The router's public types: what callers pass in and the decisions they get back. */
import type { ShortCodeFeature } from '../../core/config/dialplan-schema.js';
import type { CallerIdOut } from './pattern.js';

export type { CallerIdOut, ShortCodeFeature };

/** Whether the caller may reach a number: its call class and, when barred, the SIP answer. */
export type Barring = { allowed: boolean; class: string; reason: string };

export type Destination =
  | { kind: 'extension'; extension: string }
  | { kind: 'lineGroup'; lineGroup: number; number: string; callerId: CallerIdOut; barring: Barring }
  | { kind: 'ars'; form: string; number: string; callerId: CallerIdOut; barring: Barring }
  | { kind: 'busy'; reason: string }
  | { kind: 'feature'; feature: ShortCodeFeature; number: string }
  | { kind: 'incomplete' }
  | { kind: 'notFound' };

/** One step of a decision; step is 'extension' | 'shortcode' | 'ars' | 'route' | 'barring' | 'incoming' | 'time' | 'result'. */
export interface TraceLine {
  step: string;
  text: string;
}

export interface RouteContext {
  /** Extension who dials or who caused the leg; undefined: the system (an incoming call, a hunt group). */
  user?: string;
  /** Instant for time profiles; default now. */
  at?: Date;
  /** Incoming calling number, passed on by SS. */
  callerNumber?: string;
  /** false: skip building the trace (the returned trace is empty); for hot paths that never print it. */
  trace?: boolean;
  /**
   * A call that came in on a trunk (no user): its line's user rights route and bar what it
   * reaches (the trunk's `rights`); absent rights: nothing is barred by class.
   */
  line?: { name: string; rights?: string };
}

export interface ArsRoute {
  lineGroup: number;
  number: string;
  callerId: CallerIdOut;
  available: boolean;
  /** The form's short code that gave this route. */
  code: string;
}

export type ArsSelection =
  | {
      kind: 'routes';
      form: string;
      /** Available routes first (the first is the one to try), then unavailable ones, each in config order. */
      routes: ArsRoute[];
      /** The form's alternate route, for when every route is busy; undefined: none configured. */
      alternate: { form: string | undefined; immediate: boolean; waitMs: number } | undefined;
      trace: TraceLine[];
    }
  | { kind: 'busy'; form: string; reason: string; trace: TraceLine[] }
  | { kind: 'notFound'; form: string; trace: TraceLine[] };

export interface IncomingCall {
  lineGroup: number;
  /** The number the caller dialled (the incoming number). */
  number: string;
  /** Caller's number; undefined: unavailable. */
  callerId: string | undefined;
  /** The caller withheld their number. */
  withheld: boolean;
  at?: Date;
}

export type IncomingDecision =
  | {
      destination: string;
      fallback: string | undefined;
      /** Index in dialPlan.incomingCallRoutes; undefined: reached through the system short codes or the default. */
      route: number | undefined;
      trace: TraceLine[];
    }
  | { destination: undefined; trace: TraceLine[] };

/** A user as the router needs it (UserConfig fits). */
export interface RouterUser {
  extension: string;
  name: string;
  rights?: string;
  priority: number;
  shortCodes: ReadonlyArray<import('../../core/config/dialplan-schema.js').ShortCodeConfig>;
}
