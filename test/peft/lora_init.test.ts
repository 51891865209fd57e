/**
 * LoRA initialisations from the base weight (HF peft's LoraLayer.pissa_init / olora_init / orthogonal_init)
 * against test/fixtures/peft/make_merge_init_fixture.py (plain-torch transcriptions): the same A, B and
 * residual base weight to 1e-4, with the sign of each (A row, B column) pair fixed the same way on both
 * sides (the SVD's and QR's sign freedom); the model's output is unchanged by PiSSA / OLoRA / orthogonal;
 * bad init names are refused by name.
 */
import * as path from 'path';
import {
  copyInto, getPeftModel, GPT2LMHeadModel, LlamaForCausalLM, loadHfModel, loadSafetensors, LoraConfig, LoraLinear, manualSeed, type Module,
  noGrad, PeftModel, setBackend, svd, type Tensor,
} from '../../lib';
import { logitsOf } from './vera_lycoris_helpers';
import { canon, expectClose, host, maxAbs } from './lora_init_helpers';

const MODELS = path.join(__dirname, '..', 'fixtures', 'models');
const FIXTURE = path.join(__dirname, '..', 'fixtures', 'peft', 'merge_init', 'init.safetensors');
const LLAMA = ['model.layers.0.self_attn.q_proj', 'model.layers.0.self_attn.v_proj', 'model.layers.0.mlp.up_proj', 'model.layers.0.mlp.down_proj'];
const R = 4, ALPHA = 8;

let fx: Record<string, Tensor>;
beforeAll(() => {
  setBackend('native');
  fx = loadSafetensors(FIXTURE).tensors;
});
afterAll(() => Object.values(fx).forEach((t) => t.dispose()));

const llama = () => loadHfModel(path.join(MODELS, 'llama')) as LlamaForCausalLM;
function checkAgainst(peft: PeftModel, modules: string[], tag: string, tol = 1e-4): void {
  for (const m of modules) {
    const layer = peft.model.getSubmodule(m) as LoraLinear;
    const got = canon(host(layer.lora_A.get('default').weight), host(layer.lora_B.get('default').weight), R);
    const want = canon(host(fx[`${tag}.${m}.A`]), host(fx[`${tag}.${m}.B`]), R);
    expectClose(got.a, want.a, tol, `${tag} ${m} A`);
    expectClose(got.b, want.b, tol, `${tag} ${m} B`);
    // the residual to 1e-4 of the weight it was split from (float32 rounding of W - s B A is relative to W)
    const w = host(fx[`${tag}.${m}.W`]);
    const split = [maxAbs(w) + (ALPHA / R) * maxAbs(want.a) * maxAbs(want.b) * R];
    expectClose(host(layer.base_layer.weight as Tensor), w, tol, `${tag} ${m} residual`, split);
  }
}
function logits(m: Module, family = 'llama'): number[] {
  const t = noGrad(() => logitsOf(m, family));
  const v = host(t);
  t.dispose();
  return v;
}
const config = (init: LoraConfig['initLoraWeights'], targets = ['q_proj', 'v_proj', 'up_proj', 'down_proj']) =>
  new LoraConfig({ r: R, loraAlpha: ALPHA, targetModules: targets, layersToTransform: [0], initLoraWeights: init });

describe('initLoraWeights from the base weight, as HF\'s LoraLayer', () => {
  it('pissa: A = sqrt(S_r / s) U_r^T, B = V_r sqrt(S_r / s), W - s B A left in the base (Llama); output unchanged', () => {
    const before = logits(llama());
    const peft = getPeftModel(llama(), config('pissa'));
    checkAgainst(peft, LLAMA, 'pissa');
    expectClose(logits(peft.model), before, 1e-4, 'pissa logits');
    expect(peft.model.namedParameters().filter(([, t]) => t.requiresGrad).every(([p]) => p.includes('.lora_'))).toBe(true);
  });

  it('pissa on GPT-2\'s Conv1D: the [in, out] weight transposed for the SVD, the residual stored back as [in, out]', () => {
    const gpt2 = () => loadHfModel(path.join(MODELS, 'gpt2')) as GPT2LMHeadModel;
    const before = logits(gpt2(), 'gpt2');
    const peft = getPeftModel(gpt2(), new LoraConfig({ r: R, loraAlpha: ALPHA, targetModules: ['c_attn'], layersToTransform: [0], fanInFanOut: true, initLoraWeights: 'pissa' }));
    checkAgainst(peft, ['transformer.h.0.attn.c_attn'], 'pissa');
    expectClose(logits(peft.model, 'gpt2'), before, 1e-4, 'gpt2 pissa logits');
  });

  it('olora: B = Q[:, :r], A = R[:r] of W = QR, W - s B A left in the base; output unchanged; refused on Conv1D', () => {
    const before = logits(llama());
    const peft = getPeftModel(llama(), config('olora'));
    checkAgainst(peft, LLAMA, 'olora');
    expectClose(logits(peft.model), before, 1e-4, 'olora logits');
    const gpt2 = loadHfModel(path.join(MODELS, 'gpt2')) as GPT2LMHeadModel;
    expect(() => getPeftModel(gpt2, new LoraConfig({ r: R, targetModules: ['c_attn'], fanInFanOut: true, initLoraWeights: 'olora' }))).toThrow(/OLoRA on a Conv1D/);
  });

  it('pissa_niter_4 (randomized SVD, peftjs\'s own draws) matches torch.svd_lowrank\'s on a fast-decaying spectrum, and exact pissa', () => {
    const make = () => {
      const m = llama();
      for (const name of LLAMA.slice(0, 2)) copyInto((m.getSubmodule(name) as unknown as { weight: Tensor }).weight, fx[`niter.W0.${name}`]);
      return m;
    };
    manualSeed(21);
    const peft = getPeftModel(make(), config('pissa_niter_4', ['q_proj', 'v_proj']));
    checkAgainst(peft, LLAMA.slice(0, 2), 'pissa_niter_4');
    const exact = getPeftModel(make(), config('pissa', ['q_proj', 'v_proj']));
    for (const name of LLAMA.slice(0, 2)) {
      const x = exact.model.getSubmodule(name) as LoraLinear, y = peft.model.getSubmodule(name) as LoraLinear;
      expectClose(host(y.base_layer.weight as Tensor), host(x.base_layer.weight as Tensor), 1e-4, 'niter vs exact residual', host(fx[`niter.W0.${name}`]));
    }
  });

  it('orthogonal: B A = 0 (identity at init), A and B of rank r / 2, the base untouched; r must be even', () => {
    manualSeed(4);
    const base = logits(llama());
    const peft = getPeftModel(llama(), new LoraConfig({ r: 6, loraAlpha: 12, targetModules: ['q_proj', 'up_proj'], initLoraWeights: 'orthogonal' }));
    for (const [, layer] of peft.model.namedModules().filter((e): e is [string, LoraLinear] => e[1] instanceof LoraLinear)) {
      const a = host(layer.lora_A.get('default').weight), b = host(layer.lora_B.get('default').weight);
      expect(Math.max(...a.map(Math.abs))).toBeGreaterThan(1e-3);
      const d = layer.deltaWeight('default');
      expect(Math.max(...host(d).map(Math.abs))).toBeLessThan(1e-6);
      d.dispose();
      const sa = svd(a, 6, layer.inFeatures).s, sb = svd(b, layer.outFeatures, 6).s;
      expect([...sa].filter((s) => s > 1e-5 * sa[0]).length).toBe(3);
      expect([...sb].filter((s) => s > 1e-5 * sb[0]).length).toBe(3);
    }
    expectClose(logits(peft.model), base, 1e-5, 'orthogonal logits');
    expect(() => new LoraConfig({ r: 3, initLoraWeights: 'orthogonal' })).toThrow(/'orthogonal' requires an even rank, got r = 3/);
    expect(() => new LoraConfig({ r: 4, rankPattern: { q_proj: 5 }, initLoraWeights: 'orthogonal' })).toThrow(/rankPattern\['q_proj'\] = 5/);
  });

  it('an embedding target takes HF\'s A = 0, B ~ N(0, 1) whatever the string; the config keeps the name on disk', () => {
    const peft = getPeftModel(llama(), new LoraConfig({ r: R, targetModules: ['embed_tokens'], initLoraWeights: 'pissa' }));
    const emb = peft.model.getSubmodule('model.embed_tokens') as unknown as { lora_embedding_A: { get(n: string): Tensor } };
    expect(host(emb.lora_embedding_A.get('default')).every((v) => v === 0)).toBe(true);
    expect(new LoraConfig({ initLoraWeights: 'pissa_niter_16' }).toJSON()).toMatchObject({ init_lora_weights: 'pissa_niter_16' });
  });

  it('bad init names are refused naming initLoraWeights', () => {
    expect(() => new LoraConfig({ initLoraWeights: 'pisa' as never })).toThrow(/initLoraWeights must be true, false, 'gaussian', 'pissa'.*got "pisa"/);
    expect(() => new LoraConfig({ initLoraWeights: 'pissa_niter_x' as never })).toThrow(/initLoraWeights must be/);
    expect(() => new LoraConfig({ initLoraWeights: 'pissa_niter_-1' as never })).toThrow(/initLoraWeights must be/);
    expect(() => new LoraConfig({ initLoraWeights: 'eva' as never })).toThrow(/initLoraWeights 'eva' is not supported/);
    expect(() => new LoraConfig({ initLoraWeights: 'loftq' })).toThrow(/loftqConfig must be specified when initLoraWeights is 'loftq'/);  // lora_loftq.test.ts
    expect(() => getPeftModel(llama(), new LoraConfig({ r: 40, targetModules: ['v_proj'], initLoraWeights: 'pissa' }))).toThrow(/r = 40 exceeds min\(out, in\) = 16/);
  });
});
