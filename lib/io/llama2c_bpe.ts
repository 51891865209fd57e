/**
 * llama2.c's merge loop, made fast: repeatedly merge the adjacent pair whose concatenation is a vocab
 * token with the highest score (leftmost on ties; scores must beat -1e10, llama2.c's starting
 * best_score). llama2.c rescans every pair per merge (quadratic); here candidates sit in a heap
 * ordered by (score desc, position asc) over a linked list, and a candidate is dropped when either of
 * its tokens changed since it was pushed. Merges keep the left token's slot, so list order is index
 * order and "smallest index" is "leftmost": the result is the same sequence of merges.
 */

interface Candidate {
  score: number;
  left: number;
  right: number;
  leftVersion: number;
  rightVersion: number;
  id: number;
}

const before = (a: Candidate, b: Candidate) => a.score > b.score || (a.score === b.score && a.left < b.left);

class CandidateHeap {
  private items: Candidate[] = [];

  get size(): number {
    return this.items.length;
  }

  push(c: Candidate): void {
    const h = this.items;
    h.push(c);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[i], h[parent])) break;
      [h[i], h[parent]] = [h[parent], h[i]];
      i = parent;
    }
  }

  pop(): Candidate {
    const h = this.items;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let best = i;
        if (l < h.length && before(h[l], h[best])) best = l;
        if (r < h.length && before(h[r], h[best])) best = r;
        if (best === i) break;
        [h[i], h[best]] = [h[best], h[i]];
        i = best;
      }
    }
    return top;
  }
}

/** llama2.c's best_score starts here; merges scoring at or below it (or NaN) never happen. */
const SCORE_FLOOR = -1e10;

/**
 * Merges `tokens` in place of llama2.c's loop. pairId(a, b) is the id of the token spelled
 * piece(a) + piece(b), or -1.
 */
export function mergeByScore(tokens: readonly number[], pairId: (a: number, b: number) => number, scores: ArrayLike<number>): number[] {
  const n = tokens.length;
  const tok = Int32Array.from(tokens);
  const next = new Int32Array(n);
  const prev = new Int32Array(n);
  const version = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    next[i] = i + 1 < n ? i + 1 : -1;
    prev[i] = i - 1;
  }
  const heap = new CandidateHeap();
  const consider = (left: number) => {
    if (left < 0) return;
    const right = next[left];
    if (right < 0) return;
    const id = pairId(tok[left], tok[right]);
    if (id < 0 || !(scores[id] > SCORE_FLOOR)) return;
    heap.push({ score: scores[id], left, right, leftVersion: version[left], rightVersion: version[right], id });
  };
  for (let i = 0; i + 1 < n; i++) consider(i);
  while (heap.size > 0) {
    const c = heap.pop();
    if (version[c.left] !== c.leftVersion || version[c.right] !== c.rightVersion || next[c.left] !== c.right) continue;
    tok[c.left] = c.id;
    version[c.left]++;
    version[c.right]++;  // the right slot leaves the list: its pending candidates are stale
    const after = next[c.right];
    next[c.left] = after;
    if (after >= 0) prev[after] = c.left;
    consider(prev[c.left]);
    consider(c.left);
  }
  const out: number[] = [];
  for (let i = n > 0 ? 0 : -1; i >= 0; i = next[i]) out.push(tok[i]);
  return out;
}
