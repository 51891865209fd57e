/**
 * torch.nn.Sequential as HF's prompt encoders build it: children named 0, 1, 2, ... with parameterless
 * activations in between, so the parameters read `mlp_head.0.weight`, `mlp_head.2.weight`, `transform.2.bias`.
 */
import { ModuleList } from '../../../nn/layers/module_list';
import { Module } from '../../../nn/module';
import { relu, tanh } from '../../../tensor/ops';
import type { Tensor } from '../../../tensor/tensor';

export interface Layer extends Module {
  forward(x: Tensor): Tensor;
}

/** An activation as a module (torch.nn.ReLU, torch.nn.Tanh): no parameters. */
export class Activation extends Module implements Layer {
  constructor(readonly fn: (x: Tensor) => Tensor) {
    super();
  }

  forward(x: Tensor): Tensor {
    return this.fn(x);
  }
}

export const ReLU = () => new Activation(relu);
export const Tanh = () => new Activation(tanh);

export class Sequential extends ModuleList<Layer> implements Layer {
  forward(x: Tensor): Tensor {
    let h = x;
    for (const m of this) h = m.forward(h);
    return h;
  }
}
