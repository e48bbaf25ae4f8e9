/**
 * Who backs up whom, and what a node runs while it serves another node's users. A node's backup
 * (the secondary for the primary, the primary for the secondary, as the document says for an
 * expansion) holds standby registrations of that node's users all the time, and serves them
 * while the node is declared down: the node's view then takes in the failed node's users (and
 * its hunt groups, when the failed node is the primary, where hunt groups run). Voicemail moves
 * with the users: their mailboxes are the view's.
 */
import type { Config, UserConfig } from '../core/config/index.js';
import { backupOf } from '../core/config/solution-schema.js';
import { homeOf, nodeView, type SolutionDocument } from './document.js';

export { backupOf } from '../core/config/solution-schema.js';

/** The nodes whose backup is `me`, in document order. */
export function backedUpBy(config: Config, me: string): string[] {
  return config.nodes.filter((n) => n.name !== me && backupOf(config.nodes, n.name) === me).map((n) => n.name);
}

/** Nodes that have a backup: the ones every node watches (heartbeats and OPTIONS) and reports on. */
export function watchedNodes(config: Config): string[] {
  return config.nodes.filter((n) => backupOf(config.nodes, n.name) !== undefined).map((n) => n.name);
}

/** Users this node holds standby registrations for: homed on nodes it backs up, less those it serves now. */
export function standbyUsersOf(config: Config, me: string, serving: readonly string[]): UserConfig[] {
  const of = new Set(backedUpBy(config, me).filter((n) => !serving.includes(n)));
  return config.users.filter((u) => of.has(homeOf(config, u)));
}

/**
 * What node `me` runs while it serves the users of the nodes in `serving` (each one it backs
 * up): its own view with their users added, and every hunt group when one of them is the
 * primary. With `serving` empty it is the node's own view.
 */
export function servingView(doc: SolutionDocument, me: string, serving: readonly string[]): Config {
  const own = nodeView(doc, me);
  const c = doc.config;
  const taken = serving.filter((n) => n !== me && backupOf(c.nodes, n) === me);
  if (taken.length === 0) return own;
  const users = [...own.users, ...c.users.filter((u) => taken.includes(homeOf(c, u)))];
  const primaryTaken = c.nodes.some((n) => n.role === 'primary' && taken.includes(n.name));
  return Object.freeze({ ...own, users: Object.freeze(users), huntGroups: primaryTaken ? c.huntGroups : own.huntGroups }) as Config;
}

/** The other core this node replicates with (the secondary for the primary and the other way round); undefined for an expansion or a lone core. */
export function peerCoreOf(config: Config, me: string): string | undefined {
  const role = config.nodes.find((n) => n.name === me)?.role;
  if (role !== 'primary' && role !== 'secondary') return undefined;
  return config.nodes.find((n) => n.role === (role === 'primary' ? 'secondary' : 'primary'))?.name;
}
