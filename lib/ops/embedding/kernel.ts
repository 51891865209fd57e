/**
 * The embedding lookup and its gradient: what every backend implements and the argument checks every backend
 * runs before them (embedding_binding.cc keeps the same checks and messages for callers that reach the addon
 * directly).
 */
import type { ArgChecks, KernelChecks } from '../../backend/checks';
import type { Buf } from '../../backend/types';

export interface EmbeddingKernels {
  /** out[i, :] = table[ids[i], :]; ids in [0, vocab) (embeddingChecks refuses any other). */
  embeddingForward(p: { n: number; dim: number; vocab: number; ids: Int32Array; table: Buf; out: Buf }): void;
  /** dtable[ids[i], :] += dy[i, :] (accumulates: the caller zeroes dtable first). */
  embeddingBackward(p: { n: number; dim: number; vocab: number; ids: Int32Array; dy: Buf; dtable: Buf }): void;
}

/** Every id in [0, vocab). */
function checkIds(c: ArgChecks, v: unknown, n: number, vocab: number): void {
  const ids = c.int32s('ids', v, n);
  for (let k = 0; k < n; k++) {
    if (!(ids[k] >= 0 && ids[k] < vocab)) c.fail(`ids[${k}] = ${ids[k]} is out of range [0, ${vocab}) (vocab ${vocab})`);
  }
}

export const embeddingChecks: KernelChecks<EmbeddingKernels> = {
  embeddingForward(p, c) {
    const n = c.dim('n', p.n), dim = c.dim('dim', p.dim), vocab = c.dim('vocab', p.vocab);
    checkIds(c, p.ids, n, vocab);
    c.buf('table', p.table, c.mul(vocab, dim));
    c.buf('out', p.out, c.mul(n, dim));
  },

  embeddingBackward(p, c) {
    const n = c.dim('n', p.n), dim = c.dim('dim', p.dim), vocab = c.dim('vocab', p.vocab);
    checkIds(c, p.ids, n, vocab);
    c.buf('dy', p.dy, c.mul(n, dim));
    c.buf('dtable', p.dtable, c.mul(vocab, dim));
  },
};
