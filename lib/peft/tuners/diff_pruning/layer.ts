/**
 * DiffPrunedLinear: a Linear (or GPT-2 Conv1D) whose weight is W + z * delta, W frozen. Per adapter:
 * `diff_delta.<name>` (delta, the base weight's shape and layout, zeros at init: the layer starts as the
 * identity) and `diff_log_alpha.<name>` (the gates' log_alpha: the weight's shape, or [1] when structured).
 * Training draws hard-concrete gates from the seeded counter RNG; eval uses the deterministic gate. The
 * weight is made by the fused diffPrune kernel wrapped for autograd (lib/ops/diff_prune/op.ts), whose
 * backward also adds l0Lambda * dPenalty/dlog_alpha; `lastPenalty` holds the expected-L0 penalty of the
 * last forward.
 *
 * finalize() fixes an adapter: the effective delta (z * delta with the eval gates) is projected to the
 * target density (largest magnitudes kept, per tensor), the gates become that support (a 0/1 mask), and
 * log_alpha stops training. A finalized adapter computes W + mask * delta (delta may still be fine-tuned
 * on its support). Adapters loaded from disk are finalized.
 */
import type { GateOptions } from '../../../ops/diff_prune/kernel';
import { Conv1D } from '../../../nn/layers/conv1d';
import type { Linear } from '../../../nn/layers/linear';
import { parameter } from '../../../nn/module';
import { noGrad } from '../../../tensor/autograd';
import { fromArray, full, zeros } from '../../../tensor/creation';
import { diffPrunedWeight } from '../../../ops/diff_prune/op';
import { add, linear, mul, sub } from '../../../tensor/ops';
import { keep } from '../../../tensor/scope';
import { launchDiffPruneForward, projectToDensity } from '../../../ops/diff_prune/launch';
import { backendFor, type Tensor } from '../../../tensor/tensor';
import { AdapterLayerBase, ParameterDict } from '../adapter_layer';
import { foldDelta } from '../fold_delta';

export interface DiffPruningSpec {
  lambda: number;
  gate: GateOptions;
  density: number;
  structured: boolean;
  logAlphaInit: number;
}

/** Each training forward draws fresh gates; the seed is kept by the autograd node for its backward. */
let gateSeed = 1;

export class DiffPrunedLinear extends AdapterLayerBase<DiffPruningSpec> {
  readonly base_layer: Linear | Conv1D;
  readonly diff_delta: ParameterDict;
  readonly diff_log_alpha: ParameterDict;
  /** A finalized adapter's fixed gates (1 on the kept entries, 0 elsewhere). */
  private masks = new Map<string, Tensor>();
  /** The expected-L0 penalty (sum over the running, unfinalized adapters) of the last forward. */
  lastPenalty = 0;

  constructor(base: Linear | Conv1D) {
    super();
    this.base_layer = this.registerModule('base_layer', base);
    this.diff_delta = this.registerModule('diff_delta', new ParameterDict());
    this.diff_log_alpha = this.registerModule('diff_log_alpha', new ParameterDict());
  }

  addAdapter(name: string, spec: DiffPruningSpec): void {
    const shape = this.base_layer.weight.shape;
    this.diff_delta.set(name, parameter(zeros(shape)));
    this.diff_log_alpha.set(name, parameter(full(spec.structured ? [1] : shape, spec.logAlphaInit)));
    this.specs.set(name, spec);
  }

  protected disposeAdapter(name: string): void {
    for (const dict of [this.diff_delta, this.diff_log_alpha]) {
      dict.get(name).dispose();
      dict.set(name, null);
    }
    this.masks.get(name)?.dispose();
    this.masks.delete(name);
  }

  isFinalized(name: string): boolean {
    return this.masks.has(name);
  }

  forward(x: Tensor): Tensor {
    if (this.disabled && this.merged.length > 0) throw new Error('DiffPrunedLinear: adapters are merged into the weights; unmerge() before disabling them');
    const running = this.disabled ? [] : this.active.filter((n) => !this.merged.includes(n));
    this.lastPenalty = 0;
    if (running.length === 0) return this.base_layer.forward(x);
    const made: Tensor[] = [];
    let w = this.base_layer.weight;
    for (const n of running) {
      const delta = this.diff_delta.get(n);
      const mask = this.masks.get(n);
      if (mask) {
        const masked = mul(delta, mask);
        w = add(w, masked);
        made.push(masked, w);
        continue;
      }
      const s = this.specs.get(n)!;
      const { weight, penalty } = diffPrunedWeight(w, delta, this.diff_log_alpha.get(n),
        { training: this.training, seed: this.training ? gateSeed++ : 0, gate: s.gate, lambda: s.lambda });
      this.lastPenalty += penalty;
      w = weight;
      made.push(w);
    }
    const y = linear(x, this.base_layer instanceof Conv1D ? w.T : w, this.base_layer.bias);
    // Without a graph nothing holds the temporary weights; with one, the nodes keep what they need.
    if (!y.requiresGrad) made.forEach((t) => t.dispose());
    return y;
  }

  /** The delta the adapter adds to W with its eval gates (z * delta, or mask * delta once finalized); a new tensor. */
  effectiveDelta(name: string): Tensor {
    return noGrad(() => {
      const delta = this.diff_delta.get(name);
      const mask = this.masks.get(name);
      if (mask) return mul(delta, mask);
      const s = this.specs.get(name)!;
      const z0 = zeros(delta.shape);
      const { w, z } = launchDiffPruneForward(z0, delta, this.diff_log_alpha.get(name), { training: false, gate: s.gate });
      z0.dispose();
      z.dispose();
      return w;
    });
  }

  /** Projects the adapter's effective delta to its target density and fixes its gates (see above). */
  finalize(name: string): void {
    if (this.merged.includes(name)) throw new Error(`finalize: adapter '${name}' is merged; unmerge() first`);
    const eff = this.effectiveDelta(name);
    projectToDensity(eff, this.specs.get(name)!.density);
    this.setFinalized(name, eff.toFloat32Array());
    eff.dispose();
  }

  /** Sets delta to the given dense values and fixes the gates to their support (finalize and loading). */
  setFinalized(name: string, values: Float32Array): void {
    const delta = this.diff_delta.get(name);
    if (values.length !== delta.size) throw new RangeError(`DiffPrunedLinear: ${values.length} values for a delta of ${delta.size}`);
    backendFor(delta, 'finalize').write(delta.buf(), values);
    this.masks.get(name)?.dispose();
    const mask = keep(noGrad(() => fromArray(Float32Array.from(values, (v) => (v !== 0 ? 1 : 0)), delta.shape)));
    this.masks.set(name, mask);
    this.diff_log_alpha.get(name).requiresGrad = false;
  }

  merge(names: string[]): void {
    for (const n of names) {
      if (this.merged.includes(n) || !this.specs.has(n)) continue;
      this.applyDelta(n, add);
      this.merged.push(n);
    }
  }

  unmerge(): void {
    while (this.merged.length > 0) this.applyDelta(this.merged.pop()!, sub);
  }

  private applyDelta(name: string, op: (a: Tensor, b: Tensor) => Tensor): void {
    foldDelta(this.base_layer.weight, this.effectiveDelta(name), op);
  }
}
