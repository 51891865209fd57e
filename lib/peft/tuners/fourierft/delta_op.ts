/**
 * FourierFT's delta weight through a fast transform, one autograd node. With the spectrum s at the drawn
 * locations (r_k, c_k) and c = scaling / (N M) (N = out, M = in),
 *   delta[p, q] = c sum_k s_k cos(2 pi (p r_k / N + q c_k / M)) = Re sum_r e^{2 pi i p r / N} H[r, q],
 *   H[r, q] = c sum_{k: r_k = r} s_k e^{2 pi i q c_k / M},
 * i.e. real(ifft2(dense spectrum)) * scaling as HF computes it. H is built on the host (2 F M
 * multiply-adds: one row of cosines and one of sines per frequency, added into the frequency's row), then
 * one transform along the rows (fast_dft.ts) gives delta. The backward is the adjoint: with
 * Y = F g (g = d delta, F symmetric),
 *   ds_k = c sum_q (Re Y[r_k, q] cos(2 pi q c_k / M) - Im Y[r_k, q] sin(2 pi q c_k / M)).
 * Nothing [N, M] is kept between forward and backward. Against the product of the frozen bases (dft.ts:
 * 2 F N M multiply-adds each way) the transform costs N M (4 N1 + 2 N2) forward and N M (2 N1 + 4 N2)
 * backward, plus 2 F M on the host each way: 7-12x fewer at n_frequency 1000 on GPT-2 small's layers;
 * measured (`npm run bench -- --only fourierft_delta`) 2.5-3x faster forward + backward, 4-10x forward alone.
 */
import { record } from '../../../tensor/autograd';
import { fromArray, hostWritten } from '../../../tensor/creation';
import type { Tensor } from '../../../tensor/tensor';
import type { TrigTable } from './dft';
import { rowDft, rowDftCost, type RowDftPlan } from './fast_dft';

export interface FourierLocations {
  rows: Int32Array;
  cols: Int32Array;
}

function hostValues(t: Tensor): Float32Array {
  return t.device === 'cpu' && t.isContiguous() ? t.data : t.toFloat32Array();
}

/** [H_re; H_im] ([2N, M]) for the spectrum s scaled by c (see the header), added into h (zeros). */
function spectrumRows(h: Float32Array, s: Float32Array, loc: FourierLocations, c: number, n: number, inTable: TrigTable): void {
  const m = inTable.n, cos = inTable.cos, sin = inTable.sin;
  for (let k = 0; k < s.length; k++) {
    const v = c * s[k], re = loc.rows[k] * m, im = re + n * m, step = loc.cols[k] % m;
    for (let q = 0, t = 0; q < m; q++) {
      h[re + q] += v * cos[t];
      h[im + q] += v * sin[t];
      t += step;
      if (t >= m) t -= m;
    }
  }
}

/** ds (see the header) from y = [Y_re; Y_im] ([2N, M]). */
function spectrumGradient(y: Float32Array, loc: FourierLocations, c: number, n: number, inTable: TrigTable): Float32Array {
  const m = inTable.n, f = loc.rows.length, cos = inTable.cos, sin = inTable.sin;
  const ds = new Float32Array(f);
  for (let k = 0; k < f; k++) {
    const re = loc.rows[k] * m, im = re + n * m, step = loc.cols[k] % m;
    let acc = 0;
    for (let q = 0, t = 0; q < m; q++) {
      acc += y[re + q] * cos[t] - y[im + q] * sin[t];
      t += step;
      if (t >= m) t -= m;
    }
    ds[k] = c * acc;
  }
  return ds;
}

/**
 * Multiply-adds of a forward (with backward: and its backward) of the transform path, each element of the host
 * loops counted as hostElementCost.
 */
export function fastDeltaCost(plan: RowDftPlan, m: number, f: number, backward: boolean, hostElementCost = 1): number {
  const host = hostElementCost * 2 * f * m;
  return host + rowDftCost(plan, m, true, false) + (backward ? host + rowDftCost(plan, m, false, true) : 0);
}

/** delta [N, M] = real(ifft2(dense spectrum)) * scaling, differentiable in `spectrum` ([F]). */
export function fourierDelta(spectrum: Tensor, loc: FourierLocations, scaling: number, plan: RowDftPlan, inTable: TrigTable): Tensor {
  const n = plan.n, m = inTable.n, c = scaling / (n * m);
  const s = hostValues(spectrum);
  const h = hostWritten([2 * n, m], (values) => spectrumRows(values, s, loc, c, n, inTable));
  const delta = rowDft(h, plan, false);
  h.dispose();
  return record(delta, 'fourierftDelta', [spectrum], (g) => {
    const gc = g.isContiguous() ? g : g.contiguous();
    const y = rowDft(gc, plan, true);
    if (gc !== g) gc.dispose();
    const ds = spectrumGradient(hostValues(y), loc, c, n, inTable);
    y.dispose();
    return [fromArray(ds, [loc.rows.length])];
  });
}
