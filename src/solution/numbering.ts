/**
 * The solution's numbers and where each lives: every user with its home node, the hunt groups
 * (on the primary), and which nodes have trunks in which line group. Every node keeps it for the
 * whole solution, rebuilt from each revision's document as it arrives (plain reads of the raw
 * entries, which the primary validated before publishing: cheap enough for 1000 users on 32
 * nodes at every change), so a user added on any node is dialled from every other at once.
 */
import { field, isRecord, list, type Raw } from '../core/config/fields.js';

export interface NumberOwner {
  kind: 'user' | 'huntGroup';
  /** The node the number belongs to: a user's home node; the primary for a hunt group. */
  node: string;
  /** Display name (users: their name, or the extension). */
  name: string;
  /** Unanswered calls go to the mailbox (the user's voicemail is enabled). */
  voicemail: boolean;
}

export class Numbering {
  readonly #owners = new Map<string, NumberOwner>();
  readonly #lineGroups = new Map<number, Set<string>>();
  readonly #homed = new Map<string, number>();
  /** The primary's name (where hunt groups, meet-me rooms and voicemail run). */
  readonly primary: string;

  /** From a solution document as written (validated already); `primary`: the primary's name. */
  constructor(raw: Readonly<Raw>, primary: string) {
    this.primary = primary;
    for (const u of list(raw.users)) {
      const ext = field(u, 'extension');
      if (typeof ext !== 'string') continue;
      const node = stringOr(field(u, 'node'), primary);
      const name = stringOr(field(u, 'name'), ext);
      this.#owners.set(ext, { kind: 'user', node, name, voicemail: field(field(u, 'voicemail'), 'enabled') !== false });
      this.#homed.set(node, (this.#homed.get(node) ?? 0) + 1);
    }
    for (const g of list(raw.huntGroups)) {
      const ext = field(g, 'extension');
      if (typeof ext !== 'string') continue;
      this.#owners.set(ext, { kind: 'huntGroup', node: primary, name: stringOr(field(g, 'name'), ext), voicemail: field(field(g, 'voicemail'), 'enabled') !== false });
    }
    for (const t of list(raw.trunks)) {
      const lg = field(t, 'lineGroup');
      if (typeof lg !== 'number' || !isRecord(t)) continue;
      const nodes = this.#lineGroups.get(lg) ?? new Set<string>();
      nodes.add(stringOr(t.node, primary));
      this.#lineGroups.set(lg, nodes);
    }
  }

  /** Who `number` is and where it belongs; undefined when it is no user or hunt group of the solution. */
  owner(number: string): NumberOwner | undefined {
    return this.#owners.get(number);
  }

  /** The nodes with trunks in `lineGroup`. */
  lineGroupNodes(lineGroup: number): string[] {
    return [...(this.#lineGroups.get(lineGroup) ?? [])];
  }

  /** Users homed on `node`. */
  usersOn(node: string): string[] {
    return [...this.#owners].filter(([, o]) => o.kind === 'user' && o.node === node).map(([ext]) => ext);
  }

  /** How many users each node is home to. */
  get homed(): ReadonlyMap<string, number> {
    return this.#homed;
  }

  get size(): number {
    return this.#owners.size;
  }
}

function stringOr(v: unknown, fallback: string): string {
  return typeof v === 'string' ? v : fallback;
}
