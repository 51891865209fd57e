/** Dropout: active in training mode only. */
import { dropout } from '../../tensor/shape_ops';
import type { Tensor } from '../../tensor/tensor';
import { Module } from '../module';

export class Dropout extends Module {
  constructor(readonly p: number) {
    super();
    if (!(p >= 0 && p < 1)) throw new RangeError(`Dropout: p must be in [0, 1), got ${p}`);
  }

  forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.training);
  }
}
