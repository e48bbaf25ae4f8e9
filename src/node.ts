/**
 * What a running node offers to the parts that watch and steer it from above (the admin API,
 * metrics, backups, and later the solution layer): the features' faces, the configuration in
 * force and its revision, and live reconfiguration. `Server` implements it; those parts import
 * this interface, never `server.ts`, so the composition root stays the only place that knows them
 * all (no import cycle).
 */
import type { Alarms } from './core/alarms.js';
import type { CallRecord } from './core/call-record.js';
import type { Config } from './core/config/index.js';
import type { ConfigRevisions } from './core/config/revisions.js';
import type { Authenticator } from './core/security/authenticator.js';
import type { Store } from './core/store.js';
import type { Calls } from './features/calls/index.js';
import type { CallRecords } from './features/cdr/index.js';
import type { Conferences } from './features/conference/conferences.js';
import type { HuntCalls } from './features/huntgroups/index.js';
import type { LocationStore } from './features/registrar/location.js';
import type { Registrar } from './features/registrar/registrar.js';
import type { Router } from './features/routing/index.js';
import type { Trunks } from './features/trunks/index.js';
import type { Voicemail } from './features/voicemail/voicemail.js';
import type { MediaEngine } from './media/index.js';
import type { SipStack } from './sip/stack.js';
import type { ReconfigureOptions } from './config-state.js';
import type { ReconfigureResult } from './reconfigure.js';
import type { SolutionNode } from './solution/node.js';

export interface PbxNode {
  /** The configuration in force (the last one applied by reconfigure()). */
  readonly config: Config;
  /** The configuration the node started on. */
  readonly started: Config;
  /** The text of the document in force and its file, if the node was started on one. */
  readonly source: { readonly text: string; readonly path: string | undefined };
  /** The revision of the configuration in force. */
  readonly revision: number;
  readonly revisions: ConfigRevisions;
  /** Paths changed since the start that wait for a restart. */
  readonly pending: readonly string[];
  /** When start() finished. */
  readonly startedAt: Date | undefined;
  readonly alarms: Alarms;
  readonly stack: SipStack;
  readonly store: Store;
  readonly auth: Authenticator;
  readonly registrar: Registrar;
  readonly location: LocationStore;
  readonly calls: Calls;
  readonly records: CallRecords;
  readonly hunt: HuntCalls;
  readonly voicemail: Voicemail | undefined;
  readonly conferences: Conferences;
  readonly trunks: Trunks;
  readonly router: Router;
  readonly engine: MediaEngine | undefined;
  /** The node's channel limit now. */
  readonly maxCalls: number;
  /** The node's part in a solution (bus, links, directory); undefined for a node on its own. */
  readonly solution: SolutionNode | undefined;
  /** Calls `fn` with each call record as its call ends; returns the unsubscribe function. */
  onCallRecord(fn: (r: CallRecord) => void): () => void;
  /** Applies a new validated configuration live; see reconfigure.ts. */
  reconfigure(next: Config, options?: ReconfigureOptions): Promise<ReconfigureResult>;
  /** What the node is doing now (the status log line). */
  status(): Record<string, unknown>;
}
