/**
 * FourierFT's delta weight without an FFT: HF computes real(ifft2(dense)) * scaling, `dense` [out, in]
 * holding the spectrum at the n_frequency drawn locations (r_f, c_f) and zeros elsewhere. With e^{+i} in the
 * inverse transform,
 *   real(ifft2(dense))[a, b] = 1/(out * in) * sum_f s_f (cos(2 pi a r_f / out) cos(2 pi b c_f / in)
 *                                                        - sin(2 pi a r_f / out) sin(2 pi b c_f / in)),
 * i.e. (C_out S C_in - S_out S S_in) / (out * in) for the DFT matrices C, S restricted to the rows and
 * columns that hold a frequency. So delta = U^T diag([s; s]) V * scaling / (out * in) with
 *   U [2F, out] = [cos(2 pi r_f a / out); sin(2 pi r_f a / out)]   (one row per frequency, then again)
 *   V [2F, in]  = [cos(2 pi c_f b / in); -sin(2 pi c_f b / in)],
 * two differentiable products in the spectrum. U and V are frozen and built on the host from one cos/sin
 * table per size, the angle reduced exactly as (r a) mod n first, so float32 sees no large arguments.
 * They are made when needed and not kept: 2F (out + in) floats per layer would often outweigh the layer.
 */
import { noGrad } from '../../../tensor/autograd';
import { fromArray } from '../../../tensor/creation';
import type { Tensor } from '../../../tensor/tensor';

/** cos(2 pi t / n) and sin(2 pi t / n) for t = 0 .. n-1, in double. */
export class TrigTable {
  readonly cos: Float64Array;
  readonly sin: Float64Array;

  constructor(readonly n: number) {
    this.cos = new Float64Array(n);
    this.sin = new Float64Array(n);
    for (let t = 0; t < n; t++) {
      const angle = (2 * Math.PI * t) / n;
      this.cos[t] = Math.cos(angle);
      this.sin[t] = Math.sin(angle);
    }
  }

  /**
   * [2F, n]: row f is cos(2 pi freq[f] a / n), row F + f is sign * sin(2 pi freq[f] a / n), a = 0 .. n-1.
   * (freq[f] * a) mod n is computed as a running sum, so it stays exact for any n.
   */
  basis(freq: Int32Array, sinSign: 1 | -1): Float32Array {
    const n = this.n, f = freq.length;
    const out = new Float32Array(2 * f * n);
    for (let i = 0; i < f; i++) {
      const step = freq[i] % n;
      const cosRow = i * n, sinRow = (f + i) * n;
      let t = 0;
      for (let a = 0; a < n; a++) {
        out[cosRow + a] = this.cos[t];
        out[sinRow + a] = sinSign * this.sin[t];
        t += step;
        if (t >= n) t -= n;
      }
    }
    return out;
  }
}

/** The frozen U [2F, out] and V [2F, in] of one adapter on one layer (see the header), on the active backend. */
export function fourierBases(rows: Int32Array, cols: Int32Array, outTable: TrigTable, inTable: TrigTable): { u: Tensor; v: Tensor } {
  const f = rows.length;
  return noGrad(() => ({
    u: fromArray(outTable.basis(rows, 1), [2 * f, outTable.n]),
    v: fromArray(inTable.basis(cols, -1), [2 * f, inTable.n]),
  }));
}
