/**
 * ResidualAdapterLayer: an output projection (`base_layer`) followed by bottleneck adapters,
 *   y = base(x);  out = y + up(act(down(y)))
 * with `adapter_down.<name>` and `adapter_up.<name>` children per adapter (Linear for bottleneck adapters,
 * PHM layers for Compacter). Several adapters may be held; the active ones run one after the other (with one
 * active, the usual case, that is simply the active adapter). The adapter is a nonlinear function of the
 * layer's output, so it cannot be folded into the base weights: merge() throws naming the method.
 */
import { activation } from '../../../nn/layers/activation';
import { Linear } from '../../../nn/layers/linear';
import { type Module, parameter } from '../../../nn/module';
import { noGrad } from '../../../tensor/autograd';
import { randn, zeros } from '../../../tensor/creation';
import { add } from '../../../tensor/ops';
import type { Tensor } from '../../../tensor/tensor';
import { AdapterDict, AdapterLayerBase } from '../adapter_layer';
import type { AdapterNonLinearity } from './config';
import { outFeaturesOf } from './placement';

/** A projection of an adapter: anything with forward(x) (Linear, PHMLinear). */
export interface Projection extends Module {
  forward(x: Tensor): Tensor;
}

/** A bottleneck adapter's setting: its nonlinearity between the projections. */
type Activation = (x: Tensor) => Tensor;

export class ResidualAdapterLayer extends AdapterLayerBase<Activation> {
  readonly base_layer: Module & { forward(x: Tensor): Tensor };
  readonly adapter_down: AdapterDict<Projection>;
  readonly adapter_up: AdapterDict<Projection>;

  /** method: the peft_type named in errors (merge). */
  constructor(base: Module, readonly method: string) {
    super();
    this.base_layer = this.registerModule('base_layer', base as Module & { forward(x: Tensor): Tensor });
    this.adapter_down = this.registerModule('adapter_down', new AdapterDict<Projection>());
    this.adapter_up = this.registerModule('adapter_up', new AdapterDict<Projection>());
  }

  /** The width the adapter works on: the base layer's output. */
  get hiddenSize(): number {
    return outFeaturesOf(this.base_layer);
  }

  addProjections(name: string, down: Projection, up: Projection, nonLinearity: AdapterNonLinearity): void {
    if (this.specs.has(name)) throw new Error(`${this.method}: adapter '${name}' already exists on this layer`);
    this.adapter_down.registerModule(name, down);
    this.adapter_up.registerModule(name, up);
    this.specs.set(name, activation(nonLinearity));
  }

  protected disposeAdapter(name: string): void {
    this.adapter_down.get(name).dispose();
    this.adapter_up.get(name).dispose();
    this.adapter_down.registerModule(name, null);
    this.adapter_up.registerModule(name, null);
  }

  merge(names: string[]): void {
    if (names.length === 0) return;
    throw new Error(`merge: ${this.method} adapters cannot be merged into the base weights (the adapter h + up(act(down(h))) is nonlinear in the layer's output); ` +
      'keep the PeftModel, or use unload() to drop the adapters');
  }

  unmerge(): void {}

  forward(x: Tensor): Tensor {
    let h = this.base_layer.forward(x);
    if (this.disabled) return h;
    for (const n of this.active) {
      const act = this.specs.get(n)!;
      h = add(h, this.adapter_up.get(n).forward(act(this.adapter_down.get(n).forward(h))));
    }
    return h;
  }
}

/** The bottleneck adapter's projections: down N(0, std) [b, h] with zero bias, up all zeros [h, b] (identity at init). */
export function bottleneckProjections(hidden: number, bottleneck: number, initStd: number): { down: Linear; up: Linear } {
  const down = new Linear(hidden, bottleneck);
  const up = new Linear(bottleneck, hidden);
  noGrad(() => {
    reset(down, randn([bottleneck, hidden], { std: initStd }), zeros([bottleneck]));
    reset(up, zeros([hidden, bottleneck]), zeros([hidden]));
  });
  return { down, up };
}

function reset(m: Linear, w: Tensor, b: Tensor): void {
  m.weight.dispose();
  m.setWeight(parameter(w));
  m.bias!.dispose();
  m.bias = parameter(b);
  m.registerParameter('bias', m.bias);
}
