/**
 * The fused softmax cross-entropy over rows of logits: what every backend implements and the argument checks
 * every backend runs before them (cross_entropy_binding.cc keeps the same checks and messages for callers
 * that reach the addon directly).
 */
import type { ArgChecks, KernelChecks } from '../../backend/checks';
import type { Buf } from '../../backend/types';

export interface CrossEntropyKernels {
  /**
   * Softmax cross-entropy per row of logits [rows, vocab]: losses[r] = lse[r] - logits[r, t] with
   * t = targets[r]; rows whose target equals ignoreIndex get losses[r] = 0. Returns the number of counted rows.
   */
  crossEntropyForward(p: { rows: number; vocab: number; logits: Buf; targets: Int32Array; ignoreIndex: number; losses: Buf; lse: Buf }): number;
  /** dlogits[r] = (softmax(logits[r]) - onehot(t)) * gradScale, 0 for ignored rows. */
  crossEntropyBackward(p: { rows: number; vocab: number; logits: Buf; targets: Int32Array; ignoreIndex: number; lse: Buf; gradScale: number; dlogits: Buf }): void;
}

/** Every target in [0, vocab) or equal to ignoreIndex. */
function checkTargets(c: ArgChecks, v: unknown, rows: number, vocab: number, ignoreIndex: number): void {
  const t = c.int32s('targets', v, rows);
  for (let r = 0; r < rows; r++) {
    if (t[r] !== ignoreIndex && !(t[r] >= 0 && t[r] < vocab)) {
      c.fail(`row ${r} has target ${t[r]}, outside [0, ${vocab}) (vocab ${vocab}) and not ignoreIndex ${ignoreIndex}`);
    }
  }
}

export const crossEntropyChecks: KernelChecks<CrossEntropyKernels> = {
  crossEntropyForward(p, c) {
    const rows = c.dim('rows', p.rows), vocab = c.dim('vocab', p.vocab);
    const ignoreIndex = c.int32('ignoreIndex', p.ignoreIndex);
    c.buf('logits', p.logits, c.mul(rows, vocab));
    checkTargets(c, p.targets, rows, vocab, ignoreIndex);
    c.buf('losses', p.losses, rows);
    c.buf('lse', p.lse, rows);
  },

  crossEntropyBackward(p, c) {
    const rows = c.dim('rows', p.rows), vocab = c.dim('vocab', p.vocab);
    const ignoreIndex = c.int32('ignoreIndex', p.ignoreIndex);
    c.value('gradScale', p.gradScale);
    const n = c.mul(rows, vocab);
    c.buf('logits', p.logits, n);
    checkTargets(c, p.targets, rows, vocab, ignoreIndex);
    c.buf('lse', p.lse, rows);
    c.buf('dlogits', p.dlogits, n);
  },
};
