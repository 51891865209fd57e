/**
 * Activation checkpointing: run a block's forward without keeping its activations, and recompute them during
 * the backward (torch.utils.checkpoint, non-reentrant in spirit). Only the block's inputs are kept; the
 * backward runs the block again with recording on, backpropagates the incoming gradient through that one
 * recomputed block, and hands the inputs' gradients on. Parameters read inside the block are leaves of the
 * recomputed graph, so their gradients accumulate into `.grad` as without checkpointing.
 *
 * The recomputation must see what the forward saw: the global random stream and the seed counters (dropout
 * masks, LoRA's fused dropout, diff-pruning gates) are put back to their values at the forward, so the masks
 * replay exactly, and per-call settings a caller makes for the length of one forward (a mixed batch's
 * adapter names) are reinstated through `withForwardState`.
 */
import { backward, enableGrad, isGradEnabled, noGrad, record } from './autograd';
import { getRandomState, setRandomState } from './creation';
import { tidy } from './scope';
import { getSeedCounters, setSeedCounters } from './seed_counters';
import type { Tensor } from './tensor';

/** Reinstates a state captured at a forward; returns what undoes it. */
type Reinstate = () => () => void;
/** Captures a state when a checkpointed forward runs. */
type Capture = () => Reinstate;

/** The random streams: the global one and every seed counter. */
const captureRandom: Capture = () => {
  const state = { stream: getRandomState(), counters: getSeedCounters() };
  return () => {
    const now = { stream: getRandomState(), counters: getSeedCounters() };
    setRandomState(state.stream);
    setSeedCounters(state.counters);
    return () => {
      setRandomState(now.stream);
      setSeedCounters(now.counters);
    };
  };
};

const active: Capture[] = [captureRandom];

/**
 * Runs fn with `capture` active: every block checkpointed inside it captures that state at its forward and
 * reinstates it for its recomputation (e.g. the adapter names of a mixed batch, set for one forward only).
 */
export function withForwardState<T>(capture: Capture, fn: () => T): T {
  active.push(capture);
  try {
    return fn();
  } finally {
    active.splice(active.lastIndexOf(capture), 1);
  }
}

/**
 * out = fn(...inputs), keeping only the inputs for the backward. fn must read tensors other than leaves
 * (parameters) through `inputs` only: a computed tensor it captured from outside would be backpropagated
 * twice. `params`: the block's trainable parameters, so the node is recorded when any of them trains even if
 * no input needs a gradient (the first block of a frozen-embedding model); their gradients reach `.grad`
 * through the recomputation, not through this node.
 */
export function checkpoint(fn: (...inputs: Tensor[]) => Tensor, inputs: Tensor[], params: Tensor[] = []): Tensor {
  if (!isGradEnabled()) return fn(...inputs);
  const reinstates = active.map((capture) => capture());
  // tidy: the block's intermediates go as soon as it returns (under noGrad no graph holds them, but they
  // would otherwise live until the enclosing scope ends, and the checkpoint would save nothing).
  const out = tidy(() => noGrad(() => fn(...inputs)));
  return record(out, 'checkpoint', [...inputs, ...params], (g, saved, needs) => {
    const undos = reinstates.map((reinstate) => reinstate());
    try {
      // The recomputed block's activations live only for this backward.
      const grads = tidy(() => {
        const leaves = saved.map((t, i) => t.detach().requiresGrad_(needs[i]));
        const again = enableGrad(() => fn(...leaves));
        if (again.requiresGrad) backward(again, { grad: g });
        return leaves.map((leaf, i) => (needs[i] ? leaf.grad : null));
      });
      return [...grads, ...params.map(() => null)];
    } finally {
      for (let i = undos.length - 1; i >= 0; i--) undos[i]();
    }
  }, inputs);
}
