/**
 * LoHaLinear: a Linear with LoHa adapters, HF's loha.Linear (src/peft/tuners/loha/layer.py): `base_layer`
 * and per adapter `hada_w1_a` [out, r], `hada_w1_b` [r, in], `hada_w2_a` [out, r], `hada_w2_b` [r, in];
 * dW = ((w1_a w1_b) * (w2_a w2_b)) * alpha / r (HadaWeight.forward: a Hadamard product of two rank-r
 * products), y = base(x) + x dW^T. Initialisation as reset_adapter_parameters: kaiming-uniform (a = sqrt 5)
 * for w1_a, w1_b, w2_a and zeros for w2_b, so the adapter starts as the identity; init_weights false draws
 * w2_b too (reset_adapter_parameters_random). The forward's x dW^T runs as one fused node (hada_op.ts).
 */
import { matmul, mul } from '../../../tensor/ops';
import type { Tensor } from '../../../tensor/tensor';
import { ParameterDict } from '../adapter_layer';
import { hadaLinear } from './hada_op';
import { kaimingUniform, LycorisLinear, type LycorisSpec, zeroMatrix } from './lycoris';
import type { Linear } from '../../../nn/layers/linear';

export class LoHaLinear extends LycorisLinear {
  readonly hada_w1_a: ParameterDict;
  readonly hada_w1_b: ParameterDict;
  readonly hada_w2_a: ParameterDict;
  readonly hada_w2_b: ParameterDict;

  constructor(base: Linear) {
    super(base);
    this.hada_w1_a = this.registerModule('hada_w1_a', new ParameterDict());
    this.hada_w1_b = this.registerModule('hada_w1_b', new ParameterDict());
    this.hada_w2_a = this.registerModule('hada_w2_a', new ParameterDict());
    this.hada_w2_b = this.registerModule('hada_w2_b', new ParameterDict());
  }

  protected dicts(): ParameterDict[] {
    return [this.hada_w1_a, this.hada_w1_b, this.hada_w2_a, this.hada_w2_b];
  }

  addAdapter(name: string, spec: LycorisSpec, initWeights: boolean): void {
    if (this.specs.has(name)) throw new Error(`LoHaLinear: adapter '${name}' already exists on this layer`);
    const { r } = spec, out = this.outFeatures, inF = this.inFeatures;
    // Drawn in HF's order: w1_a, w1_b, w2_a, then w2_b (zeros unless init_weights is false).
    this.setParam(this.hada_w1_a, name, kaimingUniform([out, r]));
    this.setParam(this.hada_w1_b, name, kaimingUniform([r, inF]));
    this.setParam(this.hada_w2_a, name, kaimingUniform([out, r]));
    this.setParam(this.hada_w2_b, name, initWeights ? zeroMatrix([r, inF]) : kaimingUniform([r, inF]));
    this.specs.set(name, spec);
  }

  deltaWeight(name: string): Tensor {
    const s = this.specs.get(name)!;
    const w1 = matmul(this.hada_w1_a.get(name), this.hada_w1_b.get(name), { alpha: s.scaling });
    const w2 = matmul(this.hada_w2_a.get(name), this.hada_w2_b.get(name));
    return mul(w1, w2);
  }

  /** x dW^T without the dense dW or its gradient: the rank-r^2 (or, for large r, dense) path of hada_op.ts. */
  protected override deltaForward(x: Tensor, name: string): Tensor {
    const s = this.specs.get(name)!;
    return hadaLinear(x, this.hada_w1_a.get(name), this.hada_w1_b.get(name), this.hada_w2_a.get(name), this.hada_w2_b.get(name), s.scaling);
  }
}
