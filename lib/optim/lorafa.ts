/**
 * LoRA-FA (Zhang et al., https://huggingface.co/papers/2308.03303) as HF peft's LoraFAOptimizer and
 * create_lorafa_optimizer (src/peft/optimizers/lorafa.py at 5d602fd):
 * - createLorafaOptimizer freezes every lora_A (requiresGrad false) and puts all parameters in one group;
 * - each lora_B's gradient is projected before the Adam update:
 *     g_B <- (1 / s^2) g_B pinv(A A^T + 1e-8 I)      (s: that adapter's scaling on its layer)
 *   (HF computes this product under bf16 autocast when bf16 is available; here it is float32);
 * - the update is transformers' adamw-hf, which LoraFAOptimizer copies: exp_avg / exp_avg_sq as Adam's,
 *   p -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps), then p -= lr wd p (decay after the step),
 *   defaults lr 1e-3, betas (0.9, 0.999), eps 1e-6, weight decay 0, bias correction on. It runs as the
 *   backend's fused AdamW kernel with eps / sqrt(1 - b2^t) (the same update) and no decay, then the decay;
 * - other trainable parameters (modules_to_save, biases) take the plain adamw-hf update.
 * LoRA embedding layers and DoRA adapters are refused: HF pairs parameters by name order there, which
 * leaves the embedding's A trainable but never updated, and pairs DoRA's magnitude with a factor.
 */
import { zeros } from '../tensor/creation';
import { noGrad } from '../tensor/autograd';
import { fromArray } from '../tensor/creation';
import { matmul } from '../tensor/ops';
import type { Backend } from '../backend/types';
import type { Tensor } from '../tensor/tensor';
import type { Module } from '../nn/module';
import type { PeftModel } from '../peft/peft_model';
import { LoraEmbedding } from '../peft/tuners/lora/embedding_layer';
import { LoraLinear } from '../peft/tuners/lora/layer';
import { svd } from '../peft/tuners/lora/svd';
import { checkNonNegative, checkUnitInterval, stripUndefined } from './hyperparams';
import { Optimizer, type ParamGroup, type ParamsInput, type ParamState } from './optimizer';

export interface LoraFAOptions {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
}

/** LoraFAOptimizer's defaults (adamw-hf's). */
export const LORAFA_DEFAULTS: Readonly<LoraFAOptions> = Object.freeze({ lr: 1e-3, betas: [0.9, 0.999] as [number, number], eps: 1e-6, weightDecay: 0 });

/** The frozen A and the scaling of each B. */
export type LoraFAPairs = Map<Tensor, { a: Tensor; scaling: number }>;

export class LoraFAOptimizer extends Optimizer<LoraFAOptions> {
  constructor(params: ParamsInput<LoraFAOptions>, private readonly pairs: LoraFAPairs, defaults: Partial<LoraFAOptions> = {}) {
    const d = { ...LORAFA_DEFAULTS, ...stripUndefined(defaults) };
    super('LoraFAOptimizer', params, { ...d, betas: [...d.betas] as [number, number] });
  }

  protected checkHyperparameters(h: LoraFAOptions, where: string): void {
    checkNonNegative(where, 'learning rate', h.lr);
    checkNonNegative(where, 'epsilon value', h.eps);
    if (!Array.isArray(h.betas) || h.betas.length !== 2)
      throw new TypeError(`${where}: betas must be a pair [beta1, beta2], got ${JSON.stringify(h.betas)}`);
    checkUnitInterval(where, 'beta parameter at index 0', h.betas[0]);
    checkUnitInterval(where, 'beta parameter at index 1', h.betas[1]);
    checkNonNegative(where, 'weightDecay value', h.weightDecay);
  }

  protected bufferNames(): string[] {
    return ['expAvg', 'expAvgSq'];
  }

  protected update(b: Backend, param: Tensor, grad: Tensor, group: ParamGroup<LoraFAOptions>, state: ParamState): void {
    const pair = this.pairs.get(param);
    const g = pair ? projectedGrad(grad, pair.a, pair.scaling) : grad;
    try {
      const [beta1, beta2] = group.betas;
      const m = this.buffer(state, 'expAvg', param), v = this.buffer(state, 'expAvgSq', param);
      // adamw-hf's sqrt(v) + eps is torch's sqrt(v) / sqrt(bc2) + eps / sqrt(bc2)
      this.kernel(b, 'adamwStep')({
        n: param.size, param: param.buf('LoraFAOptimizer.step'), grad: g.buf('LoraFAOptimizer.step'), m: m.buf(), v: v.buf(),
        lr: group.lr, beta1, beta2, eps: group.eps / Math.sqrt(1 - beta2 ** state.step), weightDecay: 0, step: state.step,
      });
      if (group.weightDecay > 0) {
        // p -= lr wd p after the step: SGD's kernel with a zero gradient and weight decay wd
        const z = zeros([...param.shape]);
        try {
          this.kernel(b, 'sgdStep')({
            n: param.size, param: param.buf('LoraFAOptimizer.step'), grad: z.buf(), momentumBuf: null,
            lr: group.lr, momentum: 0, dampening: 0, nesterov: false, weightDecay: group.weightDecay, firstStep: true,
          });
        } finally {
          z.dispose();
        }
      }
    } finally {
      if (g !== grad) g.dispose();
    }
  }
}

/** (1 / s^2) g_B pinv(A A^T + 1e-8 I), pinv as torch.linalg.pinv (singular values below r eps32 of the largest dropped). */
export function projectedGrad(gradB: Tensor, a: Tensor, scaling: number): Tensor {
  const r = a.shape[0], k = a.shape[1];
  const av = a.toFloat32Array();
  const aat = new Float64Array(r * r);
  for (let i = 0; i < r; i++) {
    for (let j = 0; j < r; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += av[i * k + t] * av[j * k + t];
      aat[i * r + j] = s + (i === j ? 1e-8 : 0);
    }
  }
  const d = svd(aat, r, r);
  const cutoff = r * 1.1920928955078125e-7 * d.s[0];
  const inv = new Float32Array(r * r);
  for (let i = 0; i < r; i++) {
    for (let j = 0; j < r; j++) {
      let s = 0;
      for (let t = 0; t < d.k; t++) if (d.s[t] > cutoff) s += d.vt[t * r + i] * (1 / d.s[t]) * d.u[j * d.k + t];
      inv[i * r + j] = s;
    }
  }
  return noGrad(() => {
    const t = fromArray(inv, [r, r]);
    try {
      return matmul(gradB, t, { alpha: 1 / (scaling * scaling) });
    } finally {
      t.dispose();
    }
  });
}

export interface LorafaOptions {
  lr: number;
  weightDecay?: number;
  betas?: [number, number];
  eps?: number;
}

/**
 * HF's create_lorafa_optimizer: freezes every lora_A, pairs each lora_B with its A and its layer's
 * scaling, and returns a LoraFAOptimizer over the trainable parameters (HF's r / lora_alpha / use_rslora
 * arguments only fed a deprecated fallback; the per-layer scaling is used, as HF now does).
 */
export function createLorafaOptimizer(model: PeftModel | Module, opts: LorafaOptions): LoraFAOptimizer {
  const where = 'createLorafaOptimizer';
  if (typeof opts?.lr !== 'number' || !Number.isFinite(opts.lr)) throw new RangeError(`${where}: lr must be a finite number, got ${String(opts?.lr)}`);
  const root = ((model as PeftModel).model ?? model) as Module;
  const pairs: LoraFAPairs = new Map();
  for (const [path, m] of root.namedModules()) {
    if (m instanceof LoraEmbedding && m.specs.size > 0)
      throw new Error(`${where}: LoRA-FA does not support LoRA on embedding layers (${path})`);
    if (!(m instanceof LoraLinear)) continue;
    for (const [name, spec] of m.specs) {
      if (spec.useDora) throw new Error(`${where}: LoRA-FA does not support DoRA (adapter '${name}' on ${path})`);
      const a = m.lora_A.get(name).weight, b = m.lora_B.get(name).weight;
      a.requiresGrad = false;
      pairs.set(b, { a, scaling: spec.scale });
    }
  }
  if (pairs.size === 0) throw new Error(`${where}: the model has no LoRA layers`);
  const params = root.namedParameters().map(([, t]) => t).filter((t) => t.requiresGrad);
  return new LoraFAOptimizer(params, pairs, { lr: opts.lr, weightDecay: opts.weightDecay ?? 0, betas: opts.betas, eps: opts.eps });
}
