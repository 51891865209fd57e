/**
 * A linear layer on a frozen low-precision weight: y = x W^T + b with W a QuantizedTensor [N, K]. The
 * forward and the input gradient walk W one panel of rows at a time (dequantized into a float32 scratch of
 * at most PANEL_FLOATS values, then the float32 GEMM into the matching columns of y, or accumulated into
 * dx), so the full float32 weight never exists. W gets no gradient; the bias may train.
 */
import type { Buf } from '../backend/types';
import { record } from '../tensor/autograd';
import { empty } from '../tensor/creation';
import { columnSum } from '../tensor/ops';
import { rows2d } from '../tensor/raw_views';
import { formatShape } from '../tensor/shape';
import { backendFor, Tensor } from '../tensor/tensor';
import { Module } from '../nn/module';
import type { QuantizedTensor } from './quantized_tensor';

/**
 * The most float32 values one dequantized panel holds (16 MiB: a thousand rows of a 4096-wide weight). Each
 * panel packs x once more: at 1M values a 4096x4096 weight ran at 0.85x of float32, at 4M at 0.93x.
 */
const PANEL_FLOATS = 1 << 22;

function at(b: Buf, offset: number): Buf {
  return { storage: b.storage, offset: b.offset + offset };
}

function panels(n: number, k: number): [number, number][] {
  const rows = Math.max(1, Math.min(n, Math.floor(PANEL_FLOATS / Math.max(k, 1))));
  const out: [number, number][] = [];
  for (let r = 0; r < n; r += rows) out.push([r, Math.min(n, r + rows)]);
  return out;
}

/** x [..., K] -> [..., N] through the quantized weight; differentiable in x and the bias. */
export function quantizedLinear(x: Tensor, w: QuantizedTensor, bias: Tensor | null): Tensor {
  const op = 'quantizedLinear';
  const be = backendFor(x, op);
  const [N, K] = w.shape;
  if (x.shape[x.rank - 1] !== K) throw new RangeError(`${op}: x must be [..., ${K}], got ${formatShape(x.shape)}`);
  if (bias && (bias.rank !== 1 || bias.shape[0] !== N)) throw new RangeError(`${op}: bias must be [${N}], got ${formatShape(bias.shape)}`);
  const x2 = rows2d(x);
  const T = x2.shape[0];
  const y = empty([...x.shape.slice(0, -1), N]);
  const bc = bias ? (bias.isContiguous() ? bias : bias.contiguous()) : null;
  for (const [r0, r1] of panels(N, K)) {
    const wp = w.rows(r0, r1);
    be.gemm({ transA: false, transB: true, m: T, n: r1 - r0, k: K, alpha: 1, a: x2.buf(), lda: K, b: wp.buf(), ldb: K,
      beta: 0, c: at(y.buf(), r0), ldc: N, bias: bc ? at(bc.buf(), r0) : null });
    wp.dispose();
  }
  if (bc && bc !== bias) bc.dispose();
  x2.dispose();
  return record(y, op, [x, bias], (g, _saved, needs) => {
    const g2 = rows2d(g);
    let dx: Tensor | null = null;
    if (needs[0]) {
      dx = empty([T, K]);
      panels(N, K).forEach(([r0, r1], i) => {
        const wp = w.rows(r0, r1);
        be.gemm({ transA: false, transB: false, m: T, n: K, k: r1 - r0, alpha: 1, a: at(g2.buf(), r0), lda: N, b: wp.buf(), ldb: K,
          beta: i === 0 ? 0 : 1, c: dx!.buf(), ldc: K });
        wp.dispose();
      });
    }
    const dbias = needs[1] ? columnSum(g2) : null;
    g2.dispose();
    const dxOut = dx ? new Tensor(dx.storage, x.shape, undefined, dx.offset) : null;
    dx?.dispose();
    return [dxOut, dbias];
  });
}

/** nn.Linear with a frozen quantized weight (what quantizeModel puts in place of a Linear). */
export class QuantizedLinear extends Module {
  readonly bias: Tensor | null;

  constructor(readonly weight: QuantizedTensor, bias: Tensor | null) {
    super();
    this.bias = this.registerParameter('bias', bias);
  }

  get inFeatures(): number {
    return this.weight.shape[1];
  }

  get outFeatures(): number {
    return this.weight.shape[0];
  }

  forward(x: Tensor): Tensor {
    return quantizedLinear(x, this.weight, this.bias);
  }
}

/** The error of an adapter operation that needs a float32 base weight (merging, DoRA, mixed batches) on a quantized one. */
export function needsFloatBase(layer: string, what: string, base: QuantizedLinear): Error {
  return new Error(`${layer}: ${what} needs a float32 base weight, and this layer's is ${base.weight.format}; ` +
    'train and run the adapter on it, or dequantize the base first');
}
