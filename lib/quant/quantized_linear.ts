/**
 * A linear layer on a frozen low-precision weight: y = x W^T + b with W a QuantizedTensor [N, K]. The
 * forward and the input gradient walk W one panel of rows at a time (dequantized into a float32 scratch of
 * at most PANEL_FLOATS values, then the GEMM into the matching columns of y, or accumulated into dx), so
 * the full float32 weight never exists. W gets no gradient; the bias may train.
 * computeDtype 'bfloat16' runs both GEMMs with bf16 operands and float32 sums (gemmBf16: vdpbf16ps where
 * the CPU has AVX512_BF16), as torch.autocast does: x and the output gradient are rounded to bf16, and a
 * bf16 weight is read as it is stored, whole, with no dequantization at all. In the forward an int8/nf4
 * weight is dequantized inside the GEMM's B packing (a row segment at a time); the input gradient, which
 * reads W untransposed, still goes panel by panel.
 */
import type { Backend, Buf } from '../backend/types';
import { kernel } from '../tensor/kernel_lookup';
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

/** The precision the GEMMs on a frozen weight multiply in (products are always summed in float32). */
export type ComputeDtype = 'float32' | 'bfloat16';
export const COMPUTE_DTYPES: readonly ComputeDtype[] = ['float32', 'bfloat16'];

/** C (+)= A op(B) with B rows [r0, r1) of W (or all of W): the float32 GEMM or the bf16 one. */
interface WeightGemm {
  transB: boolean;
  m: number;
  n: number;
  k: number;
  a: Buf;
  lda: number;
  ldb: number;
  beta: number;
  c: Buf;
  ldc: number;
  bias: Buf | null;
}

function gemmOn(be: Backend, dtype: ComputeDtype, b: Tensor, g: WeightGemm): void {
  if (dtype === 'bfloat16') kernel(be, 'gemmBf16', 'quantizedLinear')({ ...g, alpha: 1, bBits: null, bOffset: 0, b: b.buf() });
  else be.gemm({ ...g, transA: false, alpha: 1, b: b.buf() });
}

/**
 * y = x W^T + bias into y: in bf16 one GEMM over the whole weight (a bf16 weight's bits read in place, another
 * format dequantized inside the packing), in float32 panel by panel.
 */
function weightForward(be: Backend, w: QuantizedTensor, dtype: ComputeDtype, x2: Tensor, bias: Tensor | null, y: Tensor): void {
  const op = 'quantizedLinear';
  const [N, K] = w.shape, T = x2.shape[0];
  if (dtype === 'bfloat16') {
    const bits = w.bf16Bits;
    kernel(be, 'gemmBf16', op)({ transB: true, m: T, n: N, k: K, alpha: 1, a: x2.buf(), lda: K, bBits: bits, bOffset: 0, b: null,
      bQuant: bits ? null : w.packedWeight, ldb: K, beta: 0, c: y.buf(), ldc: N, bias: bias ? bias.buf() : null });
    return;
  }
  for (const [r0, r1] of panels(N, K)) {
    const wp = w.rows(r0, r1);
    gemmOn(be, dtype, wp, { transB: true, m: T, n: r1 - r0, k: K, a: x2.buf(), lda: K, ldb: K,
      beta: 0, c: at(y.buf(), r0), ldc: N, bias: bias ? at(bias.buf(), r0) : null });
    wp.dispose();
  }
}

/** dx = g W into dx: a bf16 weight's bits read in place by the bf16 GEMM, other cases panel by panel. */
function weightInputGrad(be: Backend, w: QuantizedTensor, dtype: ComputeDtype, g2: Tensor, dx: Tensor): void {
  const [N, K] = w.shape, T = g2.shape[0];
  const bits = dtype === 'bfloat16' ? w.bf16Bits : null;
  if (bits) {
    kernel(be, 'gemmBf16', 'quantizedLinear')({ transB: false, m: T, n: K, k: N, alpha: 1, a: g2.buf(), lda: N, bBits: bits, bOffset: 0,
      b: null, ldb: K, beta: 0, c: dx.buf(), ldc: K, bias: null });
    return;
  }
  panels(N, K).forEach(([r0, r1], i) => {
    const wp = w.rows(r0, r1);
    gemmOn(be, dtype, wp, { transB: false, m: T, n: K, k: r1 - r0, a: at(g2.buf(), r0), lda: N, ldb: K,
      beta: i === 0 ? 0 : 1, c: dx.buf(), ldc: K, bias: null });
    wp.dispose();
  });
}

/**
 * x [..., K] -> [..., N] through the quantized weight; differentiable in x and the bias. computeDtype
 * 'bfloat16' multiplies in bf16 (see above).
 */
export function quantizedLinear(x: Tensor, w: QuantizedTensor, bias: Tensor | null, computeDtype: ComputeDtype = 'float32'): Tensor {
  const op = 'quantizedLinear';
  const be = backendFor(x, op);
  const [N, K] = w.shape;
  if (x.shape[x.rank - 1] !== K) throw new RangeError(`${op}: x must be [..., ${K}], got ${formatShape(x.shape)}`);
  if (bias && (bias.rank !== 1 || bias.shape[0] !== N)) throw new RangeError(`${op}: bias must be [${N}], got ${formatShape(bias.shape)}`);
  if (!COMPUTE_DTYPES.includes(computeDtype)) throw new RangeError(`${op}: computeDtype must be float32 or bfloat16, got '${String(computeDtype)}'`);
  const x2 = rows2d(x);
  const T = x2.shape[0];
  const y = empty([...x.shape.slice(0, -1), N]);
  const bc = bias ? (bias.isContiguous() ? bias : bias.contiguous()) : null;
  weightForward(be, w, computeDtype, x2, bc, y);
  if (bc && bc !== bias) bc.dispose();
  x2.dispose();
  return record(y, op, [x, bias], (g, _saved, needs) => {
    const g2 = rows2d(g);
    let dx: Tensor | null = null;
    if (needs[0]) {
      dx = empty([T, K]);
      weightInputGrad(be, w, computeDtype, g2, dx);
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

  /** The precision the layer's GEMMs multiply in: HF's bnb_4bit_compute_dtype (default float32). */
  computeDtype: ComputeDtype;

  constructor(readonly weight: QuantizedTensor, bias: Tensor | null, computeDtype: ComputeDtype = 'float32') {
    super();
    this.bias = this.registerParameter('bias', bias);
    this.computeDtype = computeDtype;
  }

  get inFeatures(): number {
    return this.weight.shape[1];
  }

  get outFeatures(): number {
    return this.weight.shape[0];
  }

  forward(x: Tensor): Tensor {
    return quantizedLinear(x, this.weight, this.bias, this.computeDtype);
  }
}

/** The error of an adapter operation that needs a float32 base weight (merging, DoRA, mixed batches) on a quantized one. */
export function needsFloatBase(layer: string, what: string, base: QuantizedLinear): Error {
  return new Error(`${layer}: ${what} needs a float32 base weight, and this layer's is ${base.weight.format}; ` +
    'train and run the adapter on it, or dequantize the base first');
}
