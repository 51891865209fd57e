/**
 * LoKrLinear: a Linear with LoKr adapters, HF's lokr.Linear (src/peft/tuners/lokr/layer.py): `base_layer`
 * and per adapter the left factor `lokr_w1` [a, c] or `lokr_w1_a` [a, r] + `lokr_w1_b` [r, c], and the
 * right factor `lokr_w2` [b, d] or `lokr_w2_a` [b, r] + `lokr_w2_b` [r, d] (shapes: factorization.ts);
 * dW = kron(w1, w2) * alpha / r (make_kron), y = base(x) + x dW^T. Initialisation as
 * reset_adapter_parameters: w1 (or w1_a) zeros, the rest kaiming-uniform (a = sqrt 5): the adapter starts
 * as the identity; 'lycoris' zeroes w2 (or w2_b) instead; false draws everything. The forward's x dW^T
 * runs without forming the Kronecker product (kron_linear_op.ts).
 */
import type { Linear } from '../../../nn/layers/linear';
import { kron } from '../../../tensor/kron_op';
import { matmul, scale } from '../../../tensor/ops';
import type { Tensor } from '../../../tensor/tensor';
import { ParameterDict } from '../adapter_layer';
import { kaimingUniform, LycorisLinear, type LycorisSpec, zeroMatrix } from '../loha/lycoris';
import type { LoKrInit } from './config';
import type { LoKrShapes } from './factorization';
import { kronLinear } from './kron_linear_op';

export class LoKrLinear extends LycorisLinear {
  readonly lokr_w1: ParameterDict;
  readonly lokr_w1_a: ParameterDict;
  readonly lokr_w1_b: ParameterDict;
  readonly lokr_w2: ParameterDict;
  readonly lokr_w2_a: ParameterDict;
  readonly lokr_w2_b: ParameterDict;

  constructor(base: Linear) {
    super(base);
    this.lokr_w1 = this.registerModule('lokr_w1', new ParameterDict());
    this.lokr_w1_a = this.registerModule('lokr_w1_a', new ParameterDict());
    this.lokr_w1_b = this.registerModule('lokr_w1_b', new ParameterDict());
    this.lokr_w2 = this.registerModule('lokr_w2', new ParameterDict());
    this.lokr_w2_a = this.registerModule('lokr_w2_a', new ParameterDict());
    this.lokr_w2_b = this.registerModule('lokr_w2_b', new ParameterDict());
  }

  protected dicts(): ParameterDict[] {
    return [this.lokr_w1, this.lokr_w1_a, this.lokr_w1_b, this.lokr_w2, this.lokr_w2_a, this.lokr_w2_b];
  }

  private has(dict: ParameterDict, name: string): boolean {
    return dict.localParameters().some(([n]) => n === name);
  }

  addAdapter(name: string, spec: LycorisSpec, shapes: LoKrShapes, init: LoKrInit): void {
    if (this.specs.has(name)) throw new Error(`LoKrLinear: adapter '${name}' already exists on this layer`);
    const { r } = spec;
    const { a, b, c, d } = shapes;
    const k = kaimingUniform;
    // Drawn in HF's order (w1 side, then w2 side); which matrix starts at zero is the init mode's choice.
    if (shapes.useW1) {
      this.setParam(this.lokr_w1, name, init === true ? zeroMatrix([a, c]) : k([a, c]));
    } else {
      this.setParam(this.lokr_w1_a, name, init === true ? zeroMatrix([a, r]) : k([a, r]));
      this.setParam(this.lokr_w1_b, name, k([r, c]));
    }
    if (shapes.useW2) {
      this.setParam(this.lokr_w2, name, init === 'lycoris' ? zeroMatrix([b, d]) : k([b, d]));
    } else {
      this.setParam(this.lokr_w2_a, name, k([b, r]));
      this.setParam(this.lokr_w2_b, name, init === 'lycoris' ? zeroMatrix([r, d]) : k([r, d]));
    }
    this.specs.set(name, spec);
  }

  private factor(whole: ParameterDict, left: ParameterDict, right: ParameterDict, name: string): Tensor {
    return this.has(whole, name) ? whole.get(name) : matmul(left.get(name), right.get(name));
  }

  deltaWeight(name: string): Tensor {
    const s = this.specs.get(name)!;
    const w1 = this.factor(this.lokr_w1, this.lokr_w1_a, this.lokr_w1_b, name);
    const w2 = this.factor(this.lokr_w2, this.lokr_w2_a, this.lokr_w2_b, name);
    return scale(kron(w1, w2), s.scaling);
  }

  /** x dW^T through the Kronecker-vector identity: two small GEMMs each way, no [out, in] matrix. */
  protected override deltaForward(x: Tensor, name: string): Tensor {
    const s = this.specs.get(name)!;
    const w1 = this.factor(this.lokr_w1, this.lokr_w1_a, this.lokr_w1_b, name);
    const w2 = this.factor(this.lokr_w2, this.lokr_w2_a, this.lokr_w2_b, name);
    return kronLinear(x, w1, w2, s.scaling);
  }
}
