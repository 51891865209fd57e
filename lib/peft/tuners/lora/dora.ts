/**
 * DoRA (weight-decomposed LoRA), as HF peft's lora/dora.py DoraLinearLayer: a magnitude vector m [out]
 * (`lora_magnitude_vector.<name>.weight`, saved as `lora_magnitude_vector`) initialised to the row norms
 * of W + s B A, and an adapter term added on top of the running result:
 *   result += (m / ||W + s B A||_row - 1) * base + (m / ||W + s B A||_row) * s * B A x
 * where the norm is detached (DoRA paper, section 4.3) and base = x W^T (no bias). Built from autograd
 * ops: the gradients reach m, A, B and x.
 */
import { Module, parameter } from '../../../nn/module';
import { noGrad } from '../../../tensor/autograd';
import { add, div, linear, matmul, mul, scale, sqrt, sub, sum } from '../../../tensor/ops';
import { dropout as dropoutOp } from '../../../tensor/shape_ops';
import type { Tensor } from '../../../tensor/tensor';

/** Holds one adapter's magnitude as `weight`, as HF's DoraLinearLayer does. */
export class DoraMagnitude extends Module {
  weight: Tensor;
  constructor(m: Tensor) {
    super();
    this.weight = parameter(m);
    this.registerParameter('weight', this.weight);
  }
}

/** ||W + s B A|| over each output row ([out]), never recorded. wOutIn is W as [out, in] (a view is fine). */
export function doraWeightNorm(wOutIn: Tensor, a: Tensor, b: Tensor, s: number): Tensor {
  return noGrad(() => {
    const ba = matmul(b, a, { alpha: s });
    const w = add(wOutIn, ba);
    const sq = mul(w, w);
    const ss = sum(sq, -1);
    const norm = sqrt(ss);
    [ba, w, sq, ss].forEach((t) => t.dispose());
    return norm;
  });
}

export interface DoraTermInputs {
  x: Tensor;
  /** The running output (base layer plus any adapters before this one), bias included. */
  result: Tensor;
  wOutIn: Tensor;
  bias: Tensor | null;
  a: Tensor;
  b: Tensor;
  magnitude: Tensor;
  scale: number;
  /** Dropout probability while training (0 otherwise), and its seed. */
  dropout: number;
  seed: number;
}

/** result + the DoRA term (HF's DoraLinearVariant.forward followed by DoraLinearLayer.forward). */
export function doraAdd(inp: DoraTermInputs): Tensor {
  const { x, result, wOutIn, bias, a, b, magnitude, scale: s } = inp;
  const norm = doraWeightNorm(wOutIn, a, b, s);
  const magNormScale = div(magnitude, norm);
  norm.dispose();
  let xd = x;
  let base: Tensor;
  if (inp.dropout > 0) {
    // HF: with dropout active the base output is recomputed from the dropped-out input, without bias.
    xd = dropoutOp(x, inp.dropout, true, { seed: inp.seed });
    base = linear(xd, wOutIn, null);
  } else {
    base = bias ? sub(result, bias) : result;
  }
  const loraResult = linear(linear(xd, a, null), b, null);
  const baseFactor = scale(magNormScale, 1, -1);
  const loraFactor = scale(magNormScale, s);
  const term = add(mul(base, baseFactor), mul(loraResult, loraFactor));
  return add(result, term);
}
