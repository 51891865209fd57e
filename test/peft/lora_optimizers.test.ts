/**
 * LoRA+ (createLoraplusOptimizer: HF's four parameter groups and learning rates) and LoRA-FA
 * (createLorafaOptimizer / LoraFAOptimizer: A frozen, B's gradient projected by (1/s^2) (A A^T + 1e-8 I)^+,
 * adamw-hf's update with the decay after the step), as HF peft's src/peft/optimizers/{loraplus,lorafa}.py.
 */
import * as path from 'path';
import {
  AdamW, createLorafaOptimizer, createLoraplusOptimizer, getPeftModel, GPT2LMHeadModel, LlamaForCausalLM, loadHfModel, LoraConfig, LoraLinear,
  loraplusParameterGroups, manualSeed, PeftModel, projectedGrad, setBackend, SGD, type Tensor, tidy,
} from '../../lib';
import { forward, inputsOf, openGolden } from '../helpers/golden';

const MODELS = path.join(__dirname, '..', 'fixtures', 'models');
const host = (t: Tensor) => Float64Array.from(t.toFloat32Array());

beforeAll(() => setBackend('native'));

function lossStep(peft: PeftModel, family: string): number {
  const golden = openGolden(family);
  try {
    const inputs = inputsOf(family, golden);
    return tidy(() => {
      const { loss } = forward(peft.model as never, inputs);
      loss.backward();
      return loss.item();
    });
  } finally {
    golden.file.close();
  }
}

describe('createLoraplusOptimizer (HF\'s create_loraplus_optimizer)', () => {
  it('groups: A (lr), LoRA embedding (loraplusLrEmbedding), B and 1-D decaying (lr * ratio), B / 1-D not decaying (lr * ratio, wd 0)', () => {
    const gpt2 = loadHfModel(path.join(MODELS, 'gpt2')) as GPT2LMHeadModel;
    const peft = getPeftModel(gpt2, new LoraConfig({ r: 4, targetModules: ['c_attn', 'wte'], fanInFanOut: true, modulesToSave: ['ln_f'], bias: 'lora_only' }));
    const g = loraplusParameterGroups(peft);
    expect(g.groupA.length).toBe(2);
    expect(g.groupA.every((n) => n.includes('.lora_A.'))).toBe(true);
    expect(g.embedding.every((n) => n.includes('wte.lora_embedding_'))).toBe(true);
    expect(g.embedding.length).toBe(2);
    expect(g.groupB.every((n) => n.includes('.lora_B.'))).toBe(true);
    expect(g.groupB.length).toBe(2);
    // c_attn's base bias (lora_only), ln_f's copy (a LayerNorm: no decay, weight and bias)
    expect(g.groupB_no_decay.some((n) => n.endsWith('c_attn.base_layer.bias'))).toBe(true);
    expect(g.groupB_no_decay.filter((n) => n.includes('ln_f.modules_to_save')).length).toBe(2);

    const opt = createLoraplusOptimizer(peft, AdamW, { lr: 1e-3, loraplusLrRatio: 16, loraplusWeightDecay: 0.05, loraplusLrEmbedding: 1e-5, betas: [0.8, 0.9] });
    expect(opt.paramGroups.map((p) => [p.params.length, p.lr, p.weightDecay])).toEqual([
      [2, 1e-3, 0.05], [2, 1e-5, 0.05], [2, 1e-3 * 16, 0.05], [g.groupB_no_decay.length, 1e-3 * 16, 0],
    ]);
    expect(opt.paramGroups[0].betas).toEqual([0.8, 0.9]);
    const sgd = createLoraplusOptimizer(peft, SGD, { lr: 0.1, loraplusLrRatio: 4, momentum: 0.9 });
    expect(sgd.paramGroups.map((p) => [p.lr, p.weightDecay, p.momentum])).toEqual([[0.1, 0, 0.9], [1e-6, 0, 0.9], [0.4, 0, 0.9], [0.4, 0, 0.9]]);
  });

  it('one AdamW step moves B by lr * ratio and A by lr (Adam\'s first step is lr per element); RMSNorm weights decay', () => {
    manualSeed(2);
    const llama = loadHfModel(path.join(MODELS, 'llama')) as LlamaForCausalLM;
    const peft = getPeftModel(llama, new LoraConfig({ r: 4, targetModules: ['q_proj', 'v_proj'], modulesToSave: ['norm'], initLoraWeights: false }));
    expect(loraplusParameterGroups(peft).groupB.some((n) => n.includes('norm.modules_to_save'))).toBe(true);
    const layer = peft.model.getSubmodule('model.layers.1.self_attn.q_proj') as LoraLinear;
    const a0 = host(layer.lora_A.get('default').weight), b0 = host(layer.lora_B.get('default').weight);
    const opt = createLoraplusOptimizer(peft, AdamW, { lr: 1e-4, loraplusLrRatio: 8, weightDecay: 0 });
    lossStep(peft, 'llama');
    opt.step();
    const maxStep = (x: Float64Array, y: Float64Array) => Math.max(...x.map((v, i) => Math.abs(v - y[i])));
    expect(maxStep(host(layer.lora_A.get('default').weight), a0)).toBeCloseTo(1e-4, 5);
    expect(maxStep(host(layer.lora_B.get('default').weight), b0)).toBeCloseTo(8e-4, 5);
  });

  it('bad input names the field', () => {
    const peft = getPeftModel(loadHfModel(path.join(MODELS, 'llama')) as LlamaForCausalLM, new LoraConfig({ targetModules: ['q_proj'] }));
    expect(() => createLoraplusOptimizer(peft, AdamW, { lr: 1e-3, loraplusLrRatio: undefined as never })).toThrow(/loraplusLrRatio must be a finite number/);
    expect(() => createLoraplusOptimizer(peft, AdamW, { lr: NaN, loraplusLrRatio: 2 })).toThrow(/lr must be a finite number/);
  });
});

/** (1/s^2) g (A A^T + 1e-8 I)^-1 by Gauss-Jordan (A A^T is well conditioned here: pinv = inverse). */
function expectedProjection(g: Float64Array, a: Float64Array, r: number, s: number): Float64Array {
  const k = a.length / r, out = g.length / r;
  const m = Array.from({ length: r }, (_, i) => Array.from({ length: 2 * r }, (_, j) => {
    if (j >= r) return j - r === i ? 1 : 0;
    let v = 0;
    for (let t = 0; t < k; t++) v += a[i * k + t] * a[j * k + t];
    return v + (i === j ? 1e-8 : 0);
  }));
  for (let c = 0; c < r; c++) {
    const p = m[c][c];
    for (let j = 0; j < 2 * r; j++) m[c][j] /= p;
    for (let i = 0; i < r; i++) if (i !== c) { const f = m[i][c]; for (let j = 0; j < 2 * r; j++) m[i][j] -= f * m[c][j]; }
  }
  const res = new Float64Array(out * r);
  for (let i = 0; i < out; i++) for (let j = 0; j < r; j++) {
    let v = 0;
    for (let t = 0; t < r; t++) v += g[i * r + t] * m[t][r + j];
    res[i * r + j] = v / (s * s);
  }
  return res;
}

describe('createLorafaOptimizer (HF\'s LoRA-FA)', () => {
  it('freezes every lora_A; B follows adamw-hf on the projected gradient (two steps by hand, decay after the step); the loss falls', () => {
    manualSeed(5);
    const llama = loadHfModel(path.join(MODELS, 'llama')) as LlamaForCausalLM;
    const peft = getPeftModel(llama, new LoraConfig({ r: 4, loraAlpha: 8, targetModules: ['q_proj', 'v_proj', 'down_proj'], initLoraWeights: false }));
    const lr = 2e-3, wd = 0.1, eps = 1e-6, b1 = 0.9, b2 = 0.999;
    const opt = createLorafaOptimizer(peft, { lr, weightDecay: wd });
    expect(peft.model.namedParameters().filter(([n]) => n.includes('lora_A')).every(([, t]) => !t.requiresGrad)).toBe(true);
    expect(opt.paramGroups[0]).toMatchObject({ lr, weightDecay: wd, eps: 1e-6, betas: [0.9, 0.999] });
    const layer = peft.model.getSubmodule('model.layers.0.mlp.down_proj') as LoraLinear;
    const A = layer.lora_A.get('default').weight, B = layer.lora_B.get('default').weight;
    const a0 = host(A);
    let b = host(B);
    const m = new Float64Array(b.length), v = new Float64Array(b.length);
    const losses: number[] = [];
    for (let step = 1; step <= 2; step++) {
      opt.zeroGrad();
      losses.push(lossStep(peft, 'llama'));
      expect(A.grad).toBeNull();
      const g = expectedProjection(host(B.grad!), a0, 4, 2);
      const pg = projectedGrad(B.grad!, A, 2);
      const got = host(pg);
      pg.dispose();
      const scale = Math.max(...g.map(Math.abs));
      expect(Math.max(...got.map((x, i) => Math.abs(x - g[i]))) / scale).toBeLessThan(1e-4);
      const size = lr * Math.sqrt(1 - b2 ** step) / (1 - b1 ** step);
      b = b.map((x, i) => {
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        const y = x - size * m[i] / (Math.sqrt(v[i]) + eps);
        return y - lr * wd * y;
      });
      opt.step();
      const now = host(B);
      const bScale = Math.max(...b.map(Math.abs));
      expect(Math.max(...now.map((x, i) => Math.abs(x - b[i]))) / bScale).toBeLessThan(1e-5);
      expect(host(A)).toEqual(a0);
    }
    for (let i = 0; i < 4; i++) { opt.zeroGrad(); losses.push(lossStep(peft, 'llama')); opt.step(); }
    expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
  });

  it('refuses LoRA on embeddings and DoRA, and models without LoRA layers', () => {
    const llama = () => loadHfModel(path.join(MODELS, 'llama')) as LlamaForCausalLM;
    expect(() => createLorafaOptimizer(getPeftModel(llama(), new LoraConfig({ targetModules: ['embed_tokens'] })), { lr: 1e-3 })).toThrow(/embedding layers/);
    expect(() => createLorafaOptimizer(getPeftModel(llama(), new LoraConfig({ targetModules: ['q_proj'], useDora: true })), { lr: 1e-3 })).toThrow(/DoRA/);
    expect(() => createLorafaOptimizer(llama(), { lr: 1e-3 })).toThrow(/no LoRA layers/);
    expect(() => createLorafaOptimizer(llama(), { lr: 'x' as never })).toThrow(/lr must be a finite number/);
  });
});
