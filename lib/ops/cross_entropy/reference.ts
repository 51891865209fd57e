/**
 * The reference the fused softmax cross-entropy over rows of logits: plain loops over any float array, and
 * the js backend's kernels over them.
 */
import { type Arr, at, opt } from '../reference_helpers';
import type { CrossEntropyKernels } from './kernel';

/** lse[r] = max + log(sum exp(logits - max)); losses[r] = lse[r] - logits[r, t] (0 when ignored). Returns counted rows. */
export function crossEntropyForward(rows: number, vocab: number, logits: Arr, targets: Int32Array, ignoreIndex: number, losses: Arr, lse: Arr): number {
  let counted = 0;
  for (let r = 0; r < rows; r++) {
    const o = r * vocab;
    let m = -Infinity;
    for (let j = 0; j < vocab; j++) m = Math.max(m, logits[o + j]);
    let s = 0;
    for (let j = 0; j < vocab; j++) s += Math.exp(logits[o + j] - m);
    lse[r] = m + Math.log(s);
    if (targets[r] === ignoreIndex) losses[r] = 0;
    else {
      losses[r] = lse[r] - logits[o + targets[r]];
      counted++;
    }
  }
  return counted;
}

/** dlogits[r] = (exp(logits[r] - lse[r]) - onehot(t)) * gradScale; zero rows for ignored targets. */
export function crossEntropyBackward(rows: number, vocab: number, logits: Arr, targets: Int32Array, ignoreIndex: number, lse: Arr, gradScale: number, dlogits: Arr): void {
  for (let r = 0; r < rows; r++) {
    const o = r * vocab, t = targets[r];
    for (let j = 0; j < vocab; j++)
      dlogits[o + j] = t === ignoreIndex ? 0 : (Math.exp(logits[o + j] - lse[r]) - (j === t ? 1 : 0)) * gradScale;
  }
}

/** The js backend's kernels: the math above on float32 storage. */
export const jsCrossEntropyKernels: CrossEntropyKernels = {
  crossEntropyForward(p) {
    return crossEntropyForward(p.rows, p.vocab, at(p.logits), p.targets, p.ignoreIndex, at(p.losses), at(p.lse));
  },

  crossEntropyBackward(p) {
    crossEntropyBackward(p.rows, p.vocab, at(p.logits), p.targets, p.ignoreIndex, at(p.lse), p.gradScale, at(p.dlogits));
  },
};
