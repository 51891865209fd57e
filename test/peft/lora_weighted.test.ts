/**
 * addWeightedAdapter as HF's LoraModel.add_weighted_adapter: 'linear' (sqrt(w s) on A and B), 'cat'
 * (stacked ranks, B A = sum w s B A), 'svd' (truncated SVD of sum (w s) * s B A); the new adapter's config
 * (r = lora_alpha = new rank, union of targets), inactive and frozen; HF's errors.
 */
import * as path from 'path';
import {
  getPeftModel, GPT2LMHeadModel, LlamaForCausalLM, loadHfModel, LoraConfig, LoraLinear, manualSeed, noGrad, PeftModel, randn, setBackend,
  setLoraWarningHandler, svd, type Tensor,
} from '../../lib';

const MODELS = path.join(__dirname, '..', 'fixtures', 'models');
const llama = () => loadHfModel(path.join(MODELS, 'llama')) as LlamaForCausalLM;
const gpt2 = () => loadHfModel(path.join(MODELS, 'gpt2')) as GPT2LMHeadModel;

/** Two (or three) trained-looking adapters: random A and B (init false). */
function model(ranks: number[], alphas: number[], targets: string[][] = ranks.map(() => ['q_proj', 'v_proj']), base: () => LlamaForCausalLM | GPT2LMHeadModel = llama): PeftModel {
  manualSeed(9);
  const peft = getPeftModel(base(), new LoraConfig({ r: ranks[0], loraAlpha: alphas[0], targetModules: targets[0], initLoraWeights: false }), 'a0');
  for (let i = 1; i < ranks.length; i++) peft.addAdapter(`a${i}`, new LoraConfig({ r: ranks[i], loraAlpha: alphas[i], targetModules: targets[i], initLoraWeights: false }));
  peft.setAdapter('a0');
  return peft;
}

const host = (t: Tensor) => Float64Array.from(t.toFloat32Array());
/** sum_i c_i * (B_i A_i) over the layer's [out, in] layout, with c_i from the adapter's weight and scale. */
function combo(layer: LoraLinear, parts: [string, (s: number) => number][]): Float64Array {
  const N = layer.outFeatures, K = layer.inFeatures;
  const out = new Float64Array(N * K);
  for (const [name, coef] of parts) {
    if (!layer.specs.has(name)) continue;
    const { r, scale } = layer.specs.get(name)!;
    const a = host(layer.lora_A.get(name).weight), b = host(layer.lora_B.get(name).weight);
    const c = coef(scale);
    for (let n = 0; n < N; n++) for (let j = 0; j < r; j++) for (let k = 0; k < K; k++) out[n * K + k] += c * b[n * r + j] * a[j * K + k];
  }
  return out;
}
/** The new adapter's s B A as [out, in]. */
function deltaOutIn(layer: LoraLinear, name: string): Float64Array {
  const d = layer.deltaWeight(name);
  const v = host(d);
  d.dispose();
  if (!layer.fanInFanOut) return v;
  const N = layer.outFeatures, K = layer.inFeatures, t = new Float64Array(N * K);
  for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) t[n * K + k] = v[k * N + n];
  return t;
}
const layers = (peft: PeftModel) => peft.model.namedModules().filter((e): e is [string, LoraLinear] => e[1] instanceof LoraLinear);

beforeAll(() => setBackend('native'));

describe('addWeightedAdapter', () => {
  it('\'linear\': A = sum sqrt(w s) A_i, B = sum sqrt(w s) B_i; new r = alpha = r (scale 1); inactive and frozen', () => {
    const peft = model([2, 2], [4, 6]);
    peft.addWeightedAdapter(['a0', 'a1'], [0.7, 0.4], 'mix', 'linear');
    const config = peft.peftConfig.get('mix') as LoraConfig;
    expect(config).toMatchObject({ r: 2, loraAlpha: 2, targetModules: ['q_proj', 'v_proj'] });
    expect(peft.activeAdapters).toEqual(['a0']);
    expect(peft.adapterParameters('mix').every(([, t]) => !t.requiresGrad)).toBe(true);
    for (const [, layer] of layers(peft)) {
      const g0 = Math.sqrt(0.7 * 2), g1 = Math.sqrt(0.4 * 3);
      expect(layer.specs.get('mix')!.scale).toBe(1);
      const a0 = host(layer.lora_A.get('a0').weight), a1 = host(layer.lora_A.get('a1').weight);
      expect(layer.lora_A.get('mix').weight).toAllClose(a0.map((v, i) => g0 * v + g1 * a1[i]), { atol: 1e-6, rtol: 1e-5 });
      const b0 = host(layer.lora_B.get('a0').weight), b1 = host(layer.lora_B.get('a1').weight);
      expect(layer.lora_B.get('mix').weight).toAllClose(b0.map((v, i) => g0 * v + g1 * b1[i]), { atol: 1e-6, rtol: 1e-5 });
    }
    // one adapter: exactly w times its delta (sqrt(w s)^2 = w s)
    peft.addWeightedAdapter(['a1'], [0.5], 'half', 'svd');   // one adapter -> 'linear', as HF
    for (const [, layer] of layers(peft)) expect(deltaOutIn(layer, 'half')).toAllClose(combo(layer, [['a1', (s) => 0.5 * s]]), { atol: 1e-6, rtol: 1e-4 });
    // the new adapter runs when set: output = base + its delta
    peft.setAdapter('half');
    const layer = layers(peft)[0][1];
    const x = randn([3, 32]);
    const y = noGrad(() => layer.forward(x)), base = noGrad(() => layer.base_layer.forward(x));
    peft.setAdapter('a1');
    const y1 = noGrad(() => layer.forward(x));
    expect(y.toFloat32Array().map((v, i) => v - base.data[i])).toAllClose(y1.toFloat32Array().map((v, i) => 0.5 * (v - base.data[i])), { atol: 1e-5, rtol: 1e-4 });
  });

  it('\'cat\': rank = sum of ranks, s B A = sum w s B_i A_i exactly, target lists united', () => {
    const peft = model([2, 3], [4, 3], [['q_proj', 'v_proj'], ['q_proj', 'k_proj']]);
    peft.addWeightedAdapter(['a0', 'a1'], [1.5, -0.5], 'cat', 'cat');
    expect(peft.peftConfig.get('cat')).toMatchObject({ r: 5, loraAlpha: 5, targetModules: ['q_proj', 'v_proj', 'k_proj'] });
    const all = layers(peft);
    expect(all.filter(([, l]) => l.specs.has('cat')).map(([p]) => p).sort()).toEqual(
      [0, 1].flatMap((l) => ['k_proj', 'q_proj', 'v_proj'].map((m) => `model.layers.${l}.self_attn.${m}`)).sort());
    for (const [, layer] of all) {
      expect(layer.lora_A.get('cat').weight.shape).toEqual([5, 32]);
      expect(deltaOutIn(layer, 'cat')).toAllClose(combo(layer, [['a0', (s) => 1.5 * s], ['a1', (s) => -0.5 * s]]), { atol: 1e-6, rtol: 1e-4 });
    }
  });

  it('\'svd\': the best rank-r approximation of sum (w s) * s B A (HF\'s double scale); exact when r covers the ranks', () => {
    const peft = model([2, 3], [4, 3]);
    peft.addWeightedAdapter(['a0', 'a1'], [0.6, 0.8], 'full', 'svd', { svdRank: 5 });
    peft.addWeightedAdapter(['a0', 'a1'], [0.6, 0.8], 'top', 'svd');
    expect(peft.peftConfig.get('top')).toMatchObject({ r: 3, loraAlpha: 3 });
    for (const [, layer] of layers(peft)) {
      const want = combo(layer, [['a0', (s) => 0.6 * s * s], ['a1', (s) => 0.8 * s * s]]);
      expect(deltaOutIn(layer, 'full')).toAllClose(want, { atol: 1e-5, rtol: 1e-4 });
      const N = layer.outFeatures, K = layer.inFeatures;
      const sFull = svd(want, N, K).s, sTop = svd(deltaOutIn(layer, 'top'), N, K).s;
      expect([...sTop.subarray(0, 3)]).toAllClose([...sFull.subarray(0, 3)], { atol: 1e-5, rtol: 1e-4 });
      expect(sTop[3]).toBeLessThan(1e-5 * sFull[0]);
    }
  });

  it('\'svd\' on GPT-2\'s Conv1D works on the [out, in] delta (HF transposes fan_in_fan_out deltas)', () => {
    const restore = setLoraWarningHandler(() => {});
    try {
      const peft = model([2, 2], [2, 4], [['c_attn'], ['c_attn']], gpt2);
      peft.addWeightedAdapter(['a0', 'a1'], [1, 1], 'svd4', 'svd', { svdRank: 4 });
      for (const [, layer] of layers(peft)) {
        expect(layer.lora_A.get('svd4').weight.shape).toEqual([4, 32]);
        expect(layer.lora_B.get('svd4').weight.shape).toEqual([96, 4]);
        expect(deltaOutIn(layer, 'svd4')).toAllClose(combo(layer, [['a0', (s) => s * s], ['a1', (s) => s * s]]), { atol: 1e-5, rtol: 1e-4 });
      }
    } finally {
      setLoraWarningHandler(restore);
    }
  });

  it('refuses what HF refuses, by name', () => {
    const peft = model([2, 3], [4, 3]);
    expect(() => peft.addWeightedAdapter(['a0', 'a1'], [1, 1], 'x', 'linear')).toThrow(/same r value when using combination_type linear/);
    expect(() => peft.addWeightedAdapter(['a0', 'nope'], [1, 1], 'x', 'cat')).toThrow(/adapter nope does not exist/);
    expect(() => peft.addWeightedAdapter(['a0', 'a1'], [1, 1], 'x', 'bogus')).toThrow(/invalid combination_type 'bogus'/);
    expect(() => peft.addWeightedAdapter(['a0', 'a1'], [1], 'x', 'cat')).toThrow(/expected 2 finite weight\(s\)/);
    expect(() => peft.addWeightedAdapter(['a0', 'a1'], [1, 1], 'a1', 'cat')).toThrow(/an adapter named 'a1' already exists/);
    expect(() => peft.addWeightedAdapter(['a0'], [-1], 'neg', 'linear')).toThrow(/sqrt\(weight \* scaling\)/);
    const mixedTypes = model([2, 2], [2, 2], [['q_proj'], ['q_proj']]);
    (mixedTypes.peftConfig.get('a1') as LoraConfig).targetModules = '.*q_proj';
    expect(() => mixedTypes.addWeightedAdapter(['a0', 'a1'], [1, 1], 'x', 'cat')).toThrow(/mix of list\/set and string is not supported/);
    expect(peft.peftConfig.has('x')).toBe(false);
    expect(peft.peftConfig.has('neg')).toBe(false);
    expect(layers(peft).some(([, l]) => l.specs.has('neg'))).toBe(false);
    expect(peft.activeAdapters).toEqual(['a0']);
  });
});
