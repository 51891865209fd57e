/** Losses: the fused softmax cross-entropy (PyTorch's ignore_index = -100, mean over counted rows) and MSE. */
import { record } from '../../tensor/autograd';
import { empty } from '../../tensor/creation';
import type { IntTensor } from '../../tensor/int_tensor';
import { kernel } from '../../tensor/kernel_lookup';
import { meanAll, mul } from '../../tensor/ops';
import { formatShape } from '../../tensor/shape';
import { backendFor, type Tensor } from '../../tensor/tensor';

export const IGNORE_INDEX = -100;

/**
 * Mean cross-entropy of logits [N, V] (or [..., V]) against integer targets (one per row); rows whose
 * target is ignoreIndex do not count. Returns a one-element tensor; NaN when no row counts, as PyTorch.
 */
export function crossEntropy(logits: Tensor, targets: IntTensor, opts: { ignoreIndex?: number } = {}): Tensor {
  const op = 'crossEntropy';
  const be = backendFor(logits, op);
  if (logits.rank < 1) throw new RangeError(`${op}: logits must have a class dimension, got a scalar`);
  const vocab = logits.shape[logits.rank - 1];
  const rows = vocab === 0 ? 0 : logits.size / vocab;
  const ignoreIndex = opts.ignoreIndex ?? IGNORE_INDEX;
  if (targets.data.length !== rows)
    throw new RangeError(`${op}: ${targets.data.length} targets for ${rows} rows of logits ${formatShape(logits.shape)}`);
  for (let r = 0; r < rows; r++) {
    const t = targets.data[r];
    if (t !== ignoreIndex && (t < 0 || t >= vocab))
      throw new RangeError(`${op}: target ${t} of row ${r} is outside [0, ${vocab}) and is not the ignore index ${ignoreIndex}`);
  }
  const lc = logits.isContiguous() ? logits : logits.copyPacked();
  const losses = empty([rows]), lse = empty([rows]);
  const count = kernel(be, 'crossEntropyForward', op)({ rows, vocab, logits: lc.buf(), targets: targets.data, ignoreIndex, losses: losses.buf(), lse: lse.buf() });
  let total = 0;
  for (const v of losses.toFloat32Array()) total += v;
  losses.dispose();
  const out = empty([1]);
  be.fill({ out: out.buf(), n: 1, value: count === 0 ? NaN : total / count });
  const result = record(out, op, [logits], (g, [ls, lses]) => {
    const dlogits = empty(logits.shape);
    kernel(be, 'crossEntropyBackward', op)({ rows, vocab, logits: ls.buf(), targets: targets.data, ignoreIndex, lse: lses.buf(),
      gradScale: count === 0 ? 0 : g.item() / count, dlogits: dlogits.buf() });
    return [dlogits];
  }, [lc, lse]);
  if (lc !== logits) lc.dispose();
  lse.dispose();
  return result;
}
