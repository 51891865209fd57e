/**
 * kron: the Kronecker product of two matrices, a [p, q] (x) b [r, s] -> [p*r, q*s] with
 * out[i*r + k, j*s + l] = a[i, j] * b[k, l]. Compacter's PHM layers build their weights as sums of these.
 *
 * No kernel of its own: every element of the product is one a[i, j] b[k, l], so the product is the outer
 * product vec(a) vec(b)^T ([p*q, r*s], one gemm with K = 1) with its [p, q, r, s] axes reordered to
 * [p, r, q, s] (one strided copy). The backward reads the gradient back in the same [p*q, r*s] order:
 *   G = reorder(dout) [p*q, r*s];  da = G vec(b)  (reshaped [p, q]);  db = vec(a)^T G  (reshaped [r, s]).
 * Both are gemms on whatever backend holds the tensors.
 */
import { noGrad, record } from './autograd';
import { matmul } from './ops';
import { formatShape } from './shape';
import { backendFor, type Tensor } from './tensor';

export function kron(a: Tensor, b: Tensor): Tensor {
  backendFor(a, 'kron');
  backendFor(b, 'kron');
  if (a.rank !== 2 || b.rank !== 2)
    throw new RangeError(`kron: expected two matrices a [p, q] and b [r, s], got a ${formatShape(a.shape)} and b ${formatShape(b.shape)}`);
  const [p, q] = a.shape;
  const [r, s] = b.shape;
  const out = noGrad(() => {
    const ac = a.contiguous(), bc = b.contiguous();
    const va = ac.reshape([p * q, 1]), vb = bc.reshape([1, r * s]);
    const outer = matmul(va, vb); // [(i, j), (k, l)]
    const grid = outer.reshape([p, q, r, s]);
    const perm = grid.permute([0, 2, 1, 3]); // [i, k, j, l]
    const packedOut = perm.contiguous();
    const result = packedOut.reshape([p * r, q * s]);
    for (const t of [ac, bc, va, vb, outer, grid, perm, packedOut]) t.dispose();
    return result;
  });
  return record(out, 'kron', [a, b], (g, [as, bs], needs) => {
    // G[(i, j), (k, l)] = dout[i*r + k, j*s + l]
    const g4 = g.reshape([p, r, q, s]);
    const gp = g4.permute([0, 2, 1, 3]);
    const gc = gp.contiguous();
    const gm = gc.reshape([p * q, r * s]);
    let da: Tensor | null = null, db: Tensor | null = null;
    if (needs[0]) {
      const bc = bs.contiguous();
      const vb = bc.reshape([r * s, 1]);
      const col = matmul(gm, vb);
      da = col.reshape([p, q]);
      for (const t of [bc, vb, col]) t.dispose();
    }
    if (needs[1]) {
      const ac = as.contiguous();
      const va = ac.reshape([1, p * q]);
      const row = matmul(va, gm);
      db = row.reshape([r, s]);
      for (const t of [ac, va, row]) t.dispose();
    }
    for (const t of [g4, gp, gc, gm]) t.dispose();
    return [da, db];
  }, [b.requiresGrad ? a : null, a.requiresGrad ? b : null]); // da needs b, db needs a
}
