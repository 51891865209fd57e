/**
 * The lora_step rows: one LoRA training step (zeroGrad, forward, next-token loss, backward, AdamW over the
 * adapters) of a Llama with a real model's shape (TinyLlama-1.1B, Llama-2-7B) and random weights made
 * here, on a float32, bfloat16 or NF4 base, with or without gradient checkpointing; and the family_step
 * rows: the same step on a small model of each family (bench/family_model.ts), float32.
 * bench/torch_lora_step.py is PyTorch's side (float32, and torch.autocast bf16).
 *
 * The model is built without initial values and each linear weight is made and stored in its format one
 * at a time, so peak RSS is the training's, not a float32 detour's: NF4 weights are random codes with a
 * fixed absmax per block (valid NF4 weights of std ~0.03, as a loaded QLoRA base is), bf16 weights are
 * drawn from 256 quantiles of N(0, 0.02) by random bytes, float32 ones from N(0, 0.02) in place. Like train_step, each row runs in a fresh node process (this file with
 * `--child SHAPE WARMUP STEPS`) that reports process.resourceUsage().maxRSS.
 */
import { randomFillSync } from 'crypto';
import { getBackend, setBackend } from '../lib/backend';
import { fill_ } from '../lib/tensor/ops';
import { f32ArrayToBf16 } from '../lib/io/half';
import { noGrad } from '../lib/tensor/autograd';
import { tidy } from '../lib/tensor/scope';
import { withoutInit } from '../lib/nn/init';
import { Linear } from '../lib/nn/layers/linear';
import type { LlamaLikeConfig } from '../lib/nn/models/llama/config';
import type { LlamaForCausalLM } from '../lib/nn/models/llama/model';
import { copyInto, type Module } from '../lib/nn/module';
import type { Tensor } from '../lib/tensor/tensor';
import { AdamW } from '../lib/optim';
import { getPeftModel, LoraConfig } from '../lib/peft';
import { QuantizedLinear } from '../lib/quant/quantized_linear';
import { QuantizedTensor } from '../lib/quant/quantized_tensor';
import { releaseFreedMemory } from '../lib/quant/quantize_model';
import { buildFamilyModel, type Family, familyLinears } from './family_model';
import { childMain, runChild, type StepTiming, timeSteps } from './step_child';
import { randomIds } from './train_step';

/**
 * L layers, width d, MLP width F, H heads, KV key/value heads, vocabulary V, sequence T, batch B; base: the
 * frozen linear weights' bits (32 float32, 16 bfloat16, 4 nf4); compute: what they multiply in (32, 16);
 * ckpt: gradient checkpointing (0, 1); r: the LoRA rank on every linear layer; family: the model's family
 * (bench/family_model.ts; llama when absent).
 */
export interface LoraStepShape {
  L: number;
  d: number;
  F: number;
  H: number;
  KV: number;
  V: number;
  T: number;
  B: number;
  base: number;
  compute: number;
  ckpt: number;
  r: number;
  family?: Family;
}

/** Random bytes, any length (randomFillSync takes at most 2^31 - 1 bytes a call). */
function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 1 << 30) randomFillSync(out, i, Math.min(1 << 30, n - i));
  return out;
}

/** 256 bf16 values at the quantiles of N(0, 0.02): a random byte picks one, so a weight needs no float32 draw. */
const NORMAL_BF16 = (() => {
  const q = new Float32Array(256);
  // Inverse normal CDF by bisection on erf (Abramowitz-Stegun 7.1.26 is plenty for a benchmark's weights).
  const erf = (x: number) => {
    const t = 1 / (1 + 0.3275911 * Math.abs(x));
    const y = 1 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
    return x >= 0 ? y : -y;
  };
  for (let i = 0; i < 256; i++) {
    const p = (i + 0.5) / 256;
    let lo = -6, hi = 6;
    for (let it = 0; it < 60; it++) {
      const mid = (lo + hi) / 2;
      if (0.5 * (1 + erf(mid / Math.SQRT2)) < p) lo = mid; else hi = mid;
    }
    q[i] = 0.02 * lo;
  }
  return f32ArrayToBf16(q);
})();

/** A frozen weight [out, in] in the row's format, made without any float32 copy of it. */
function frozenWeight(out: number, inF: number, base: number): QuantizedTensor {
  const n = out * inF;
  if (base === 4) return QuantizedTensor.fromNf4(randomBytes(Math.ceil(n / 2)), new Float32Array(Math.ceil(n / 64)).fill(0.05), [out, inF]);
  const picks = randomBytes(n), bits = new Uint16Array(n);
  for (let i = 0; i < n; i++) bits[i] = NORMAL_BF16[picks[i]];
  return QuantizedTensor.fromBf16Bits(new Uint8Array(bits.buffer), [out, inF]);
}

/** The model with its linear layers in the row's format, embeddings / norms / head float32 (as HF keeps them). */
export function buildModel(s: LoraStepShape): LlamaForCausalLM<LlamaLikeConfig> {
  const family = s.family ?? 'llama', linears = familyLinears(family);
  const model = withoutInit(() => buildFamilyModel(family, s));
  noGrad(() => {
    for (const [path, m] of model.namedModules()) {
      if (!(m instanceof Linear)) continue;
      const isTarget = linears.includes(path.slice(path.lastIndexOf('.') + 1));
      if (isTarget && s.base !== 32) {
        const q = new QuantizedLinear(frozenWeight(m.outFeatures, m.inFeatures, s.base), null, s.compute === 16 ? 'bfloat16' : 'float32');
        m.weight.dispose();
        model.setSubmodule(path, q);
      } else {
        randnInto(m.weight, 0.02);
      }
    }
    randnInto(model.model.embed_tokens.weight, 0.02);
    // Gemma's RMSNorms scale by (1 + weight): 0 is their identity.
    for (const [name, p] of model.namedParameters()) if (name.endsWith('norm.weight')) fill_(p, family === 'gemma2' ? 0 : 1);
  });
  releaseFreedMemory();
  return model;
}

/** Normal(0, std) values drawn straight into t's storage (no temporary: a 1B model's weights page in once). */
let draws = 0;
function randnInto(t: Tensor, std: number): void {
  getBackend().randomFill({ kind: 'normal', mean: 0, std, out: t.buf(), n: t.size, seed: 1234, offset: draws });
  draws += t.size;
}

export interface LoraStepTiming extends StepTiming {
  /** Seconds spent making the model (random weights in their formats) and the adapters. */
  build_s: number;
}

/** In this process: build, warm up, time `steps` steps. */
export function loraStepHere(s: LoraStepShape, warmup: number, steps: number): LoraStepTiming {
  setBackend('native');
  const t0 = performance.now();
  const model = buildModel(s);
  const targetModules = familyLinears(s.family ?? 'llama');
  const peft = getPeftModel(model as unknown as Module as never, new LoraConfig({ r: s.r, loraAlpha: 2 * s.r, loraDropout: 0, targetModules }));
  if (s.ckpt) model.gradientCheckpointingEnable();
  model.train();
  const optimizer = new AdamW(peft.trainableParameters(), { lr: 1e-4 });
  const inputIds = randomIds({ B: s.B, T: s.T, V: s.V, L: 0, H: 0, d: 0 });
  const build_s = (performance.now() - t0) / 1e3;
  const step = () => tidy(() => {
    optimizer.zeroGrad();
    const { loss } = model.forward({ inputIds, labels: inputIds });
    loss!.backward();
    optimizer.step();
    return loss!.item();
  });
  return { ...timeSteps(step, warmup, steps, s.B * s.T), build_s };
}

/** Runs loraStepHere in a fresh node process (this file compiled to js). */
export function loraStepInChild(s: LoraStepShape, warmup: number, steps: number): LoraStepTiming {
  return runChild(__filename, 'lora_step', s, warmup, steps);
}

if (require.main === module) {
  childMain('{"L":22,"d":2048,"F":5632,"H":32,"KV":4,"V":32000,"T":512,"B":1,"base":4,"compute":16,"ckpt":1,"r":16}', 'lora_step.js', loraStepHere);
}
