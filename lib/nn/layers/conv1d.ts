/** GPT-2's Conv1D: a linear layer whose weight is stored [in, out] (y = x W + b), as Hugging Face keeps it. */
import { linear } from '../../tensor/ops';
import type { Tensor } from '../../tensor/tensor';
import { constantParameter, normalParameter } from '../init';
import { Module } from '../module';
import { checkFeatures } from './linear';

export class Conv1D extends Module {
  weight: Tensor;
  bias: Tensor;

  constructor(readonly inFeatures: number, readonly outFeatures: number, std = 0.02) {
    super();
    checkFeatures('Conv1D', inFeatures, outFeatures);
    this.weight = normalParameter([inFeatures, outFeatures], std);
    this.bias = constantParameter([outFeatures], 0);
    this.registerParameter('weight', this.weight);
    this.registerParameter('bias', this.bias);
  }

  forward(x: Tensor): Tensor {
    // W [in, out] viewed as [out, in] without a copy; the gemm reads it transposed.
    return linear(x, this.weight.T, this.bias);
  }
}
