/** LayerNorm (weight and bias) and RMSNorm (weight only) over the last dimension. */
import { layerNorm, rmsNorm } from '../../ops/norm/op';
import type { Tensor } from '../../tensor/tensor';
import { constantParameter } from '../init';
import { Module } from '../module';
import { checkFeatures } from './linear';

export class LayerNorm extends Module {
  weight: Tensor;
  bias: Tensor;

  constructor(readonly size: number, readonly eps = 1e-5) {
    super();
    checkFeatures('LayerNorm', size);
    this.weight = constantParameter([size], 1);
    this.bias = constantParameter([size], 0);
    this.registerParameter('weight', this.weight);
    this.registerParameter('bias', this.bias);
  }

  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight, this.bias, this.eps);
  }
}

export class RMSNorm extends Module {
  weight: Tensor;

  constructor(readonly size: number, readonly eps = 1e-6) {
    super();
    checkFeatures('RMSNorm', size);
    this.weight = constantParameter([size], 1);
    this.registerParameter('weight', this.weight);
  }

  forward(x: Tensor): Tensor {
    return rmsNorm(x, this.weight, this.eps);
  }
}
