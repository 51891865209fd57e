/** Linear: y = x W^T + b with W [out, in] (PyTorch's layout). */
import { linear } from '../../tensor/ops';
import type { Tensor } from '../../tensor/tensor';
import { constantParameter, normalParameter, uniformFanInParameter } from '../init';
import { Module } from '../module';

export interface LinearOptions {
  bias?: boolean;
  /** 'torch' (default): U(+-1/sqrt(in)); a number: Normal(0, std) weight and zero bias, as HF initialises. */
  init?: 'torch' | number;
}

export class Linear extends Module {
  weight: Tensor;
  bias: Tensor | null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, opts: LinearOptions = {}) {
    super();
    checkFeatures('Linear', inFeatures, outFeatures);
    const init = opts.init ?? 'torch';
    this.weight = init === 'torch' ? uniformFanInParameter([outFeatures, inFeatures], inFeatures) : normalParameter([outFeatures, inFeatures], init);
    this.registerParameter('weight', this.weight);
    const withBias = opts.bias ?? true;
    this.bias = !withBias ? null : init === 'torch' ? uniformFanInParameter([outFeatures], inFeatures) : constantParameter([outFeatures], 0);
    this.registerParameter('bias', this.bias);
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }

  /** Replaces the weight tensor (e.g. to tie it to an embedding table). */
  setWeight(w: Tensor): void {
    this.weight = w;
    this.registerParameter('weight', w);
  }
}

export function checkFeatures(op: string, ...dims: number[]): void {
  for (const d of dims) if (!Number.isInteger(d) || d < 1) throw new RangeError(`${op}: sizes must be positive integers, got ${dims.join(', ')}`);
}
