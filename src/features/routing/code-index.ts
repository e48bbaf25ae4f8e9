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

  /** The best full match of `d` in this tier, or undefined. */
  lookup(d: string): { entry: IndexedCode<T>; captured: string } | undefined {
    let node: TrieNode<T> | undefined = this.#root;
    let best: IndexedCode<T> | undefined;
    let bestRank = 0;
    let bestCaptured = '';
    for (let depth = 0; ; depth++) {
      const entries = node.entries;
      for (let i = 0; i < entries.length; i++) {
        const e = entries[i]!;
        const captured = matchCode(e.code, d);
        if (captured === undefined) continue;
        const rank = rankOf(e.code, d.length);
        if (best === undefined || rank < bestRank || (rank === bestRank && e.order < best.order)) {
          best = e;
          bestRank = rank;
          bestCaptured = captured;
        }
      }
      if (depth === d.length) break;
      const s = slot(d.charCodeAt(depth));
      node = s < 0 ? undefined : node.kids?.[s];
      if (node === undefined) break;
    }
    return best === undefined ? undefined : { entry: best, captured: bestCaptured };
  }

  /**
   * A code that `d` is the start of (more digits could match it), or undefined. Separate from
   * lookup because it only matters when no tier matches, which is rare: the common path skips it.
   */
  partial(d: string): IndexedCode<T> | undefined {
    let node: TrieNode<T> | undefined = this.#root;
    for (let depth = 0; ; depth++) {
      for (const e of node.entries) if (couldMatch(e.code, d)) return e;
      if (depth === d.length) return node.below > 0 ? firstBelow(node) : undefined;
      const s = slot(d.charCodeAt(depth));
      node = s < 0 ? undefined : node.kids?.[s];
      if (node === undefined) return undefined;
    }
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
