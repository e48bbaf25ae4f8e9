/**
 * One tier of short codes indexed by their leading literal characters (a trie over 0-9 * #).
 * Walking the dialled digits down the trie visits exactly the codes whose literal prefix is a
 * prefix of the number, so a decision costs the number's length plus the few codes that share
 * its prefix, not the size of the dial plan. Codes that start with N, X or ? sit at the root.
 */
import { couldMatch, matchCode, rankOf, type CompiledCode } from './pattern.js';

const SLOTS = 12; // 0-9, *, #

function slot(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c === 42) return 10;
  if (c === 35) return 11;
  return -1;
}

class TrieNode<T> {
  kids: (TrieNode<T> | undefined)[] | undefined;
  entries: IndexedCode<T>[] = [];
  /** Codes in the subtree strictly below this node: a number ending here is a partial match of them. */
  below = 0;
}

export interface IndexedCode<T> {
  readonly code: CompiledCode;
  /** Position in config order, the last tie-breaker. */
  readonly order: number;
  readonly value: T;
}

export type Lookup<T> =
  | { kind: 'match'; entry: IndexedCode<T>; captured: string }
  | { kind: 'partial'; entry: IndexedCode<T> }
  | { kind: 'none' };

const NONE = { kind: 'none' } as const;

export class CodeIndex<T> {
  #root = new TrieNode<T>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  add(code: CompiledCode, value: T): void {
    let node = this.#root;
    const path: TrieNode<T>[] = [];
    for (let i = 0; i < code.prefix.length; i++) {
      path.push(node);
      const s = slot(code.prefix.charCodeAt(i));
      node.kids ??= new Array<TrieNode<T> | undefined>(SLOTS).fill(undefined);
      node = node.kids[s] ??= new TrieNode<T>();
    }
    for (const p of path) p.below++;
    node.entries.push({ code, order: this.#size++, value });
  }

  /** The best full match of `d` in this tier, else a code `d` is a prefix of, else none. */
  lookup(d: string): Lookup<T> {
    let node: TrieNode<T> | undefined = this.#root;
    let best: IndexedCode<T> | undefined;
    let bestRank = 0;
    let bestCaptured = '';
    let partial: IndexedCode<T> | undefined;
    let depth = 0;
    for (;;) {
      const entries = node.entries;
      for (let i = 0; i < entries.length; i++) {
        const e = entries[i]!;
        const captured = matchCode(e.code, d);
        if (captured !== undefined) {
          const rank = rankOf(e.code, d.length);
          if (best === undefined || rank < bestRank || (rank === bestRank && e.order < best.order)) {
            best = e;
            bestRank = rank;
            bestCaptured = captured;
          }
        } else if (best === undefined && partial === undefined && couldMatch(e.code, d)) {
          partial = e;
        }
      }
      if (depth === d.length) break;
      const s = slot(d.charCodeAt(depth));
      const next: TrieNode<T> | undefined = s < 0 ? undefined : node.kids?.[s];
      if (next === undefined) break;
      node = next;
      depth++;
    }
    if (best !== undefined) return { kind: 'match', entry: best, captured: bestCaptured };
    if (partial === undefined && depth === d.length && node.below > 0) partial = firstBelow(node);
    return partial !== undefined ? { kind: 'partial', entry: partial } : NONE;
  }

  /** Every code of this tier that matches `d` exactly (ARS duplicates), in config order. */
  matchesOf(d: string, bare: string): { entry: IndexedCode<T>; captured: string }[] {
    const out: { entry: IndexedCode<T>; captured: string }[] = [];
    let node: TrieNode<T> | undefined = this.#root;
    for (let depth = 0; node !== undefined; depth++) {
      for (const e of node.entries) {
        if (e.code.bare !== bare) continue;
        const captured = matchCode(e.code, d);
        if (captured !== undefined) out.push({ entry: e, captured });
      }
      if (depth === d.length) break;
      const s = slot(d.charCodeAt(depth));
      node = s < 0 ? undefined : node.kids?.[s];
    }
    return out.sort((a, b) => a.entry.order - b.entry.order);
  }
}

/** Some code strictly below `node` (for the trace of a partial match). */
function firstBelow<T>(node: TrieNode<T>): IndexedCode<T> | undefined {
  for (const kid of node.kids ?? []) {
    if (kid === undefined) continue;
    if (kid.entries.length > 0) return kid.entries[0];
    const deeper = firstBelow(kid);
    if (deeper) return deeper;
  }
  return undefined;
}
