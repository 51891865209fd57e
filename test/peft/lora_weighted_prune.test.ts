/**
 * addWeightedAdapter's pruning combinations, HF's merge_utils semantics: ties, magnitude_prune and their
 * _svd forms against test/fixtures/peft/make_merge_init_fixture.py (a plain-torch transcription of HF's
 * merge_utils.py and LoraModel._generalized_task_arithmetic_weighted_adapter /
 * _svd_generalized_task_arithmetic_weighted_adapter); DARE (random masks from peftjs's seeded stream, not
 * torch's) by its structure, its statistics and density 1; bad input named.
 */
import * as path from 'path';
import {
  copyInto, getPeftModel, LlamaForCausalLM, loadHfModel, loadSafetensors, LoraConfig, LoraLinear, manualSeed, PeftModel, setBackend, type Tensor,
} from '../../lib';

const MODELS = path.join(__dirname, '..', 'fixtures', 'models');
const FIXTURE = path.join(__dirname, '..', 'fixtures', 'peft', 'merge_init', 'merge.safetensors');
const MODULES = ['model.layers.0.self_attn.q_proj', 'model.layers.0.self_attn.v_proj'];
const ALPHAS: [string, number][] = [['a0', 8], ['a1', 4], ['a2', 16]];

let fx: Record<string, Tensor>;
beforeAll(() => {
  setBackend('native');
  fx = loadSafetensors(FIXTURE).tensors;
});
afterAll(() => Object.values(fx).forEach((t) => t.dispose()));

/** Three r = 4 adapters (scalings 2, 1, 4) on layer 0's q_proj and v_proj, holding the fixture's A and B. */
function model(): PeftModel {
  manualSeed(3);
  const base = loadHfModel(path.join(MODELS, 'llama')) as LlamaForCausalLM;
  const cfg = (alpha: number) => new LoraConfig({ r: 4, loraAlpha: alpha, targetModules: ['q_proj', 'v_proj'], layersToTransform: [0], initLoraWeights: false });
  const peft = getPeftModel(base, cfg(ALPHAS[0][1]), ALPHAS[0][0]);
  for (const [name, alpha] of ALPHAS.slice(1)) peft.addAdapter(name, cfg(alpha));
  for (const m of MODULES) {
    const layer = peft.model.getSubmodule(m) as LoraLinear;
    for (const [name] of ALPHAS) {
      copyInto(layer.lora_A.get(name).weight, fx[`in.${m}.${name}.A`]);
      copyInto(layer.lora_B.get(name).weight, fx[`in.${m}.${name}.B`]);
    }
  }
  return peft;
}

const host = (t: Tensor) => Array.from(t.toFloat32Array());
function expectClose(actual: number[], expected: number[], tol: number): void {
  expect(actual.length).toBe(expected.length);
  const scale = Math.max(...expected.map(Math.abs), 1e-6);
  const worst = Math.max(...actual.map((v, i) => Math.abs(v - expected[i])));
  expect(worst / scale).toBeLessThan(tol);
}
function productBA(layer: LoraLinear, name: string): number[] {
  const d = layer.deltaWeight(name);  // scaling 1 (r = alpha)
  const v = host(d);
  d.dispose();
  return v;
}

const CASES: [string, string, number[], number | null, 'total' | 'frequency'][] = [
  ['ties_total_d05', 'ties', [0.7, -0.4, 1.2], 0.5, 'total'],
  ['ties_frequency_d03', 'ties', [0.7, 0.4, -1.2], 0.3, 'frequency'],
  ['ties_total_d1', 'ties', [0.7, -0.4, 1.2], 1.0, 'total'],
  ['magnitude_prune_d04', 'magnitude_prune', [0.7, -0.4, 1.2], 0.4, 'total'],
  ['linear', 'linear', [0.7, 0.4, 1.2], null, 'total'],
  ['ties_svd_total_d05', 'ties_svd', [0.7, -0.4, 1.2], 0.5, 'total'],
  ['ties_svd_frequency_d06', 'ties_svd', [0.7, 0.4, 1.2], 0.6, 'frequency'],
  ['magnitude_prune_svd_d03', 'magnitude_prune_svd', [0.7, -0.4, 1.2], 0.3, 'total'],
];

describe('addWeightedAdapter: ties / magnitude_prune (and _svd) as HF\'s merge_utils', () => {
  it.each(CASES)('%s: A and B (or B A for _svd) equal the torch transcription', (tag, type, weights, density, method) => {
    const peft = model();
    peft.addWeightedAdapter(['a0', 'a1', 'a2'], weights, 'mix', type, { density, majoritySignMethod: method });
    expect(peft.peftConfig.get('mix')).toMatchObject({ r: 4, loraAlpha: 4 });
    for (const m of MODULES) {
      const layer = peft.model.getSubmodule(m) as LoraLinear;
      if (type.endsWith('_svd')) {
        expectClose(productBA(layer, 'mix'), host(fx[`${tag}.${m}.delta`]), 1e-4);
      } else {
        expectClose(host(layer.lora_A.get('mix').weight), host(fx[`${tag}.${m}.A`]), 1e-5);
        expectClose(host(layer.lora_B.get('mix').weight), host(fx[`${tag}.${m}.B`]), 1e-5);
      }
    }
  });

  it('ties keeps the pruned fraction: at most trunc(density * numel) non-zeros per task tensor survive', () => {
    const peft = model();
    peft.addWeightedAdapter(['a0', 'a1'], [1, 1], 'mp', 'magnitude_prune', { density: 0.25 });
    const layer = peft.model.getSubmodule(MODULES[1]) as LoraLinear;
    // one adapter's worth: density 0.25 of 4 x 32 = 32 values of each A, at most 64 non-zeros in the sum
    expect(host(layer.lora_A.get('mp').weight).filter((v) => v !== 0).length).toBeLessThanOrEqual(64);
  });
});

describe('addWeightedAdapter: DARE (random masks from peftjs\'s seeded stream)', () => {
  it('density 1 prunes nothing: dare_linear == linear, dare_ties == ties (density 1), _svd alike', () => {
    const peft = model();
    const all = ['a0', 'a1', 'a2'];
    peft.addWeightedAdapter(all, [0.7, 0.4, 1.2], 'lin', 'linear');
    peft.addWeightedAdapter(all, [0.7, 0.4, 1.2], 'dl', 'dare_linear', { density: 1 });
    peft.addWeightedAdapter(all, [0.7, -0.4, 1.2], 'ties1', 'ties', { density: 1 });
    peft.addWeightedAdapter(all, [0.7, -0.4, 1.2], 'dt', 'dare_ties', { density: 1 });
    peft.addWeightedAdapter(all, [0.7, -0.4, 1.2], 'dts', 'dare_ties_svd', { density: 1 });
    peft.addWeightedAdapter(all, [0.7, -0.4, 1.2], 'dls', 'dare_linear_svd', { density: 1 });
    peft.addWeightedAdapter(all, [0.7, -0.4, 1.2], 'ts1', 'ties_svd', { density: 1 });
    peft.addWeightedAdapter(all, [0.7, -0.4, 1.2], 'svd', 'svd');
    for (const m of MODULES) {
      const layer = peft.model.getSubmodule(m) as LoraLinear;
      expect(host(layer.lora_A.get('dl').weight)).toEqual(host(layer.lora_A.get('lin').weight));
      expect(host(layer.lora_B.get('dt').weight)).toEqual(host(layer.lora_B.get('ties1').weight));
      expect(host(layer.lora_A.get('dt').weight)).toEqual(host(layer.lora_A.get('ties1').weight));
      expectClose(productBA(layer, 'dts'), productBA(layer, 'ts1'), 1e-6);
      expectClose(productBA(layer, 'dls'), productBA(layer, 'svd'), 1e-5);
    }
  });

  it('dare_linear: each value is one of the 2^n kept/dropped sums / density; the drop rate is 1 - density; seeded', () => {
    const peft = model();
    const d = 0.5;
    peft.addWeightedAdapter(['a0', 'a1'], [0.7, 0.4], 'dare', 'dare_linear', { density: d, seed: 11 });
    peft.addWeightedAdapter(['a0', 'a1'], [0.7, 0.4], 'dare2', 'dare_linear', { density: d, seed: 11 });
    peft.addWeightedAdapter(['a0', 'a1'], [0.7, 0.4], 'dare3', 'dare_linear', { density: d, seed: 12 });
    let zeros = 0, total = 0;
    for (const m of MODULES) {
      const layer = peft.model.getSubmodule(m) as LoraLinear;
      const a0 = host(layer.lora_A.get('a0').weight), a1 = host(layer.lora_A.get('a1').weight);
      const g0 = Math.sqrt(0.7 * 2), g1 = Math.sqrt(0.4 * 1);
      const got = host(layer.lora_A.get('dare').weight);
      got.forEach((v, i) => {
        const options = [0, g0 * a0[i] / d, g1 * a1[i] / d, (g0 * a0[i] + g1 * a1[i]) / d];
        expect(Math.min(...options.map((o) => Math.abs(o - v)))).toBeLessThan(1e-5);
        if (v === 0) zeros++;
        total++;
      });
      expect(host(layer.lora_A.get('dare2').weight)).toEqual(got);
      expect(host(layer.lora_A.get('dare3').weight)).not.toEqual(got);
    }
    // both dropped: (1 - d)^2 = 0.25 of 2 * (4 * 32 + 4 * 32) values; 5 sigma
    const p = (1 - d) ** 2, sigma = Math.sqrt(p * (1 - p) / total);
    expect(Math.abs(zeros / total - p)).toBeLessThan(5 * sigma);
  });

  it('dare_linear_svd is unbiased: the mean over seeds of its delta nears the svd of the full sum', () => {
    const peft = model();
    const layer = peft.model.getSubmodule(MODULES[1]) as LoraLinear;
    // the rank-4 SVD of a sum of two rank-4 deltas is not linear in the masks; compare the pruned sum
    // before the SVD instead, with rank 8 (= the sum's rank, so the SVD is exact)
    const mean = new Float64Array(layer.outFeatures * layer.inFeatures);
    const runs = 24;
    peft.addWeightedAdapter(['a0', 'a1'], [0.7, 0.4], 'ref', 'svd', { svdRank: 8 });
    const ref = productBA(layer, 'ref');
    for (let s = 0; s < runs; s++) {
      peft.addWeightedAdapter(['a0', 'a1'], [0.7, 0.4], `d${s}`, 'dare_linear_svd', { density: 0.5, seed: 100 + s, svdRank: 16 });
      productBA(layer, `d${s}`).forEach((v, i) => { mean[i] += v / runs; });
      peft.deleteAdapter(`d${s}`);
    }
    const err = Math.sqrt(mean.reduce((acc, v, i) => acc + (v - ref[i]) ** 2, 0) / ref.reduce((acc, v) => acc + v * v, 0));
    expect(err).toBeLessThan(0.35);  // relative error of a 24-sample mean; a biased merge (no 1 / density) would be ~0.5+
  });
});

describe('addWeightedAdapter: bad input names the field', () => {
  it('unknown type, density outside (0, 1] or missing, majoritySignMethod, seed', () => {
    const peft = model();
    const all = ['a0', 'a1', 'a2'], w = [1, 1, 1];
    expect(() => peft.addWeightedAdapter(all, w, 'x', 'tie')).toThrow(/invalid combination_type 'tie'/);
    expect(() => peft.addWeightedAdapter(all, w, 'x', 'ties')).toThrow(/'ties' needs a density/);
    expect(() => peft.addWeightedAdapter(all, w, 'x', 'dare_linear', { density: 0 })).toThrow(/density must be in \(0, 1\], got 0/);
    expect(() => peft.addWeightedAdapter(all, w, 'x', 'ties_svd', { density: 1.5 })).toThrow(/density must be in \(0, 1\], got 1.5/);
    expect(() => peft.addWeightedAdapter(all, w, 'x', 'ties', { density: 0.5, majoritySignMethod: 'mean' as never })).toThrow(/majoritySignMethod must be 'total' or 'frequency'/);
    expect(() => peft.addWeightedAdapter(all, w, 'x', 'dare_ties', { density: 0.5, seed: -1 })).toThrow(/seed must be an integer/);
    expect(peft.peftConfig.has('x')).toBe(false);
  });
});
