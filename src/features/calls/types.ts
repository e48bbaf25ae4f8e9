/** The B2BUA's options and the shapes of what it works with (users, trunks, voicemail, hunt groups). */
import type { CallRecord } from '../../core/call-record.js';
import type { Logger } from '../../core/logger.js';
import type { Authenticator } from '../../core/security/authenticator.js';
import type { CallLimits } from '../../core/security/call-limits.js';
import type { SessionTimerPolicy } from '../../sip/dialog/session-timer.js';
import type { MediaEngine, PlayerSource } from '../../media/index.js';
import type { SipRequest, SipResponse } from '../../sip/message/message.js';
import type { Source, Target } from '../../sip/transport/types.js';
import type { SipStack } from '../../sip/stack.js';
import type { Router } from '../routing/index.js';
import type { Clock } from '../../core/clock.js';
import type { NatMode } from '../../sip/routing.js';
import type { LinkOrigin, LinkRequest } from './link-messages.js';
import type { LocalCall, LocalCallInfo, LocalService } from './local.js';
import type { RouteTrunk } from './outbound.js';
import type { HuntDriver, RingStrategy } from './ring/strategy.js';
import type { SettingsStore } from './settings.js';

/** A registered phone of an extension, as the location service gives it (registrar bindings fit). */
export interface RegisteredContact {
  contact: string;
  path: string[];
  source: { protocol: string; address: string; port: number; flowId?: string };
  /** The REGISTER's top Via port (NAT detection). */
  viaPort?: number;
}

export interface CallUser {
  extension: string;
  name: string;
  /** 'direct': SDP end to end when both parties allow it; 'anchored' (default): through the engine. */
  media: 'anchored' | 'direct';
  /** Unanswered, busy and do-not-disturb calls go to the user's mailbox. */
  voicemail?: boolean;
  /** How the user's UDP phones are reached (default auto: at their source only behind NAT). */
  nat?: NatMode;
}

/** An ad-hoc conference room as the B2BUA fills it (src/features/conference fits). */
export interface AdHocRoom {
  readonly id: string;
  readonly closed: boolean;
  add(party: LocalCall): boolean;
}

export interface AdHocRooms {
  createAdHoc(): AdHocRoom;
}

/** Hunt groups as the B2BUA sees them (src/features/huntgroups HuntCalls fits, with its groups). */
export interface CallHuntGroups {
  isGroup(extension: string): boolean;
  /** A driver that rings the group's members, or where the call goes instead (night service...). */
  route(group: string, callId: string, availability: (user: string) => MemberState): HuntDriver | { kind: 'number'; number: string } | { kind: 'voicemail'; mailbox: string } | { kind: 'busy'; reason: string };
  /** A user's call ended (longest waiting; a queued caller may ring them now). */
  memberIdle(user: string): void;
  readonly groups: {
    groupsOf(user: string): string[];
    login(group: string, user: string): boolean;
    logout(group: string, user: string): boolean;
    setService(group: string, state: 'in' | 'night' | 'out'): boolean;
    isGroup(extension: string): boolean;
  };
}

/** What a hunt group needs to know of a member right now. */
export interface MemberState {
  registered: boolean;
  dnd: boolean;
  forwardAll: boolean;
  onCall: boolean;
  callWaiting: boolean;
}

/** Voicemail as the B2BUA sees it (src/features/voicemail fits). */
export interface CallVoicemail {
  /** Takes a caller who leaves a message in LocalCallInfo.target's mailbox. */
  deposit: LocalService;
  /** Takes a caller who listens (target: the caller's own mailbox, or '' to ask for one). */
  collect: LocalService;
  /** A voicemail port is free. */
  readonly available: boolean;
  has(mailbox: string): boolean;
}

export interface CallsOptions {
  stack: SipStack;
  engine: MediaEngine | undefined;
  auth: Authenticator;
  logger: Logger;
  domain: string;
  users: Map<string, CallUser>;
  /** Current contacts of an extension (the location service). */
  locate: (extension: string) => RegisteredContact[];
  /** Phone features per user (forwarding, do not disturb, call waiting, caller ID). */
  settings: SettingsStore;
  /** Relayed-call channels of the node (its profile); the next call gets 503. */
  maxCalls: number;
  /** Give up ringing after this long (480). */
  ringTimeoutMs: number;
  /** A node shutting down waits this long for its calls' BYEs to be answered (default 5 s). */
  drainTimeoutMs?: number;
  /** Time (default the process clock). */
  clock?: Clock;
  musicOnHold: PlayerSource;
  /** Where finished calls go (call records). */
  onRecord?: (r: CallRecord) => void;
  /** Features that answer calls themselves, by the dial plan's name for them. */
  services?: { meetMe?: LocalService; voicemail?: CallVoicemail };
  /** The feature code that collects the caller's own messages (default *17). */
  voicemailCode?: string;
  /** Where callers go when every voicemail port is busy (a number); none: busy. */
  voicemailBusyFallback?: string;
  /** Ad-hoc conferences (*47 merges a user's calls into one); the conference feature fits. */
  adHoc?: AdHocRooms;
  /** The dial plan; without it only extensions are reachable. */
  router?: Router;
  /** The node's SIP trunks (src/features/trunks fits). */
  trunks?: CallTrunks;
  /** Hunt groups: calls to their numbers ring their members. */
  huntGroups?: CallHuntGroups;
  /**
   * In a solution: whether this node serves its users now; while it does not (its backup serves
   * them), new calls get 503 with Retry-After. Default: always.
   */
  serving?: () => boolean;
  /** In a solution: users whose phones hold standby registrations here but whom this node does not serve now. */
  standby?: (extension: string) => boolean;
  /** The other nodes of the solution this node is part of; none for a node on its own. */
  solution?: CallSolution;
  /** Calls at once per user (src/core/security/call-limits.ts); none: unlimited. */
  callLimits?: CallLimits;
  /** An answered anchored party silent this long (not holding) ends its call (ms); 0 or none: never. */
  rtpTimeoutMs?: number;
  /** RFC 4028 session timers on the callers' dialogs; none: off. */
  sessionTimer?: SessionTimerPolicy;
}

/** A route over a node link: a trunk whose far end is another node of the solution. */
export interface LinkRoute extends RouteTrunk {
  /** The node at the far end of the link. */
  readonly peer: string;
  /** Where the link's requests go (a node's SIP address: known without a lookup). */
  readonly destination: Target;
  /** Whether the link is up now (the far node answers its keepalives). */
  up(): boolean;
}

/**
 * The other nodes of a solution as calls reach them (src/solution fits). Numbers of the
 * solution are served by one node each (users at home, hunt groups, meet-me and voicemail on the
 * primary); a call for a number served elsewhere goes there over a node link.
 */
export interface CallSolution {
  /** The node serving `number` (a user or hunt group of the solution) when that is another node. */
  servedElsewhere(number: string): string | undefined;
  /** A user served by another node has a phone registered there (a hunt group's member can be rung). */
  registeredElsewhere(user: string): boolean;
  /** The node that keeps the mailboxes of this node's users, when it is another one. */
  readonly voicemailNode: string | undefined;
  /** The solution has a mailbox `mailbox` (on the voicemail node). */
  hasMailbox(mailbox: string): boolean;
  /** The node meet-me rooms run on, when it is another one. */
  readonly meetMeNode: string | undefined;
  /** The node hunt groups run on, when it is another one. */
  readonly huntGroupNode: string | undefined;
  /** Other nodes with trunks in `lineGroup`. */
  lineGroupNodes(lineGroup: number): string[];
  /** Routes to `node` for `request`, best first (its direct link, else through a core); [] when none can be tried. */
  routes(node: string, request: LinkRequest): LinkRoute[];
  /** The link a request comes from (its source is a linked node's SIP address). */
  linkOf(source: Source): CallLink | undefined;
}

/** A node link as the edge sees an INVITE come in over it. */
export interface CallLink {
  /** The node at the far end. */
  readonly peer: string;
  /** Checks the link's credentials on `req`: undefined when they hold, else the response to send (407, 403). */
  authenticate(req: SipRequest, source: Source): SipResponse | undefined;
}

/** A trunk as the B2BUA sees it: a route out, and a source of incoming calls. */
export interface CallTrunk extends RouteTrunk {
  readonly lineGroup: number;
  readonly config: RouteTrunk['config'] & { readonly username?: string; readonly rights?: string };
  /** Takes a channel; 'in' for a call the trunk delivers (its service state does not matter then). */
  acquire(direction?: 'out' | 'in'): boolean;
  /** Why acquire() failed: the trunk's own channels or the node's trunk channels all in use. */
  busyReason?(): string;
  incomingNumber(number: string): string;
}

export interface CallTrunks {
  identify(req: SipRequest, source: { address: string; port: number; protocol: string }): CallTrunk | undefined;
  inGroup(lineGroup: number): CallTrunk[];
  available(lineGroup: number): boolean;
  on(event: 'channel-free', cb: () => void): unknown;
  off(event: 'channel-free', cb: () => void): unknown;
}

/** Something that ends later and says so (a Call, a LocalCall). */
export interface Ended {
  onEnd(fn: () => void): void;
}

/**
 * What the B2BUA does with a new call, decided before anything is answered: refuse it (the one
 * place requests are refused is the edge, Calls), hand it to a service of the node that answers
 * it (voicemail, a conference, a feature's confirmation), or ring someone by a strategy.
 */
export type Decision =
  | { kind: 'refuse'; status: number; reason: string; headers?: Record<string, string>; record?: 'busy' }
  /** `mailbox`: the service is voicemail taking a message for it (a transfer may go there too). */
  | { kind: 'local'; service: LocalService; info: Omit<LocalCallInfo, 'id'>; mailbox?: string }
  | { kind: 'ring'; strategy: RingStrategy; direction: 'internal' | 'incoming' | 'outgoing'; withheld?: boolean; media?: 'anchored' | 'direct' };

/** A decision to refuse. */
export function refusal(status: number, reason: string, headers?: Record<string, string>): Decision {
  return headers ? { kind: 'refuse', status, reason, headers } : { kind: 'refuse', status, reason };
}

/** Who a call is from, as the routing below needs it. */
export interface Caller {
  number: string;
  name: string;
  withheld: boolean;
  /** The trunk an incoming call came in on. */
  trunk?: CallTrunk;
  /** The node link a call came in on: the node, how the call began there, links crossed before. */
  link?: { node: string; origin: LinkOrigin; hops: number };
}

