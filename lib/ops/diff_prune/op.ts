/**
 * Diff pruning on autograd, over the fused gate kernels (launch.ts):
 * W' = W + z * delta with hard-concrete gates z drawn from the seeded counter RNG (training) or the
 * deterministic gate (eval). The backward gives d delta = dW' * z and d log_alpha = dW' * delta * dz/dlog_alpha
 * PLUS lambda * d penalty / d log_alpha: the expected-L0 penalty's gradient rides along with the weight's
 * backward, so a training loop needs no separate penalty term in its loss (the penalty's value is returned
 * for logging). The node keeps the forward's gates z for its backward.
 */
import { record } from '../../tensor/autograd';
import type { Tensor } from '../../tensor/tensor';
import { DEFAULT_GATE, type GateOptions } from './kernel';
import { launchDiffPruneBackward, launchDiffPruneForward } from './launch';

export interface DiffPruneRun {
  training: boolean;
  seed: number;
  gate?: GateOptions;
  /** The L0 penalty's weight in the loss; its gradient is added to log_alpha's in the backward. */
  lambda: number;
}

/** W' and the expected-L0 penalty of this forward (sum over the gates of P(gate != 0)). */
export function diffPrunedWeight(w: Tensor, delta: Tensor, logAlpha: Tensor, run: DiffPruneRun): { weight: Tensor; penalty: number } {
  const opts = { training: run.training, seed: run.seed, gate: run.gate ?? DEFAULT_GATE };
  const { w: out, z, penalty } = launchDiffPruneForward(w, delta, logAlpha, opts);
  // The node keeps the gates, so its backward is one streaming pass (no redraw, no gate math).
  const weight = record(out, 'diffPrune', [w, delta, logAlpha], (g, [ds, las, gates], needs) => {
    const gc = g.isContiguous() ? g : g.copyPacked();
    const { dDelta, dLogAlpha } = launchDiffPruneBackward(gc, ds, las, { ...opts, lambda: run.lambda, gates });
    const dw = needs[0] ? gc.reshape(gc.shape) : null;
    if (gc !== g) gc.dispose();
    return [dw, needs[1] ? dDelta : (dDelta.dispose(), null), needs[2] ? dLogAlpha : (dLogAlpha.dispose(), null)];
  }, [delta, logAlpha, z]);
  z.dispose();
  return { weight, penalty };
}
