/**
 * LoraConfig as HF peft reads it: the three initialisations, rsLoRA, rank/alpha patterns, fan_in_fan_out's
 * correction for Conv1D, target selection (list, regex, 'all-linear', excludeModules, layersToTransform
 * with layersPattern) and the bias modes (which biases train, their saved keys, HF's trainable counts).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  AdamW, BertForSequenceClassification, getPeftModel, GPT2LMHeadModel, Linear, LlamaForCausalLM, loadHfModel, LoraConfig, LoraLinear,
  manualSeed, noGrad, PeftModel, randn, setBackend, setLoraWarningHandler, tidy, type Module, type Tensor,
} from '../../lib';
import { forward, inputsOf, openGolden } from '../helpers/golden';

const MODELS = path.join(__dirname, '..', 'fixtures', 'models');
const llama = () => loadHfModel(path.join(MODELS, 'llama')) as LlamaForCausalLM;
const gpt2 = () => loadHfModel(path.join(MODELS, 'gpt2')) as GPT2LMHeadModel;
const bert = () => loadHfModel(path.join(MODELS, 'bert')) as BertForSequenceClassification;

function stats(t: Tensor) {
  const d = t.toFloat32Array();
  const mean = d.reduce((s, v) => s + v, 0) / d.length;
  const std = Math.sqrt(d.reduce((s, v) => s + (v - mean) ** 2, 0) / d.length);
  const maxAbs = d.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  return { mean, std, maxAbs, zero: d.every((v) => v === 0) };
}

function adapted(m: Module): string[] {
  return m.namedModules().filter(([, x]) => x instanceof LoraLinear).map(([p]) => p);
}

function quiet<T>(fn: (warnings: string[]) => T): T {
  const warnings: string[] = [];
  const restore = setLoraWarningHandler((w) => warnings.push(w));
  try {
    return fn(warnings);
  } finally {
    setLoraWarningHandler(restore);
  }
}

beforeAll(() => setBackend('native'));

describe('initLoraWeights as HF\'s reset_lora_parameters', () => {
  const layer = (init: boolean | 'gaussian', r = 16) => {
    manualSeed(5);
    const l = new LoraLinear(new Linear(256, 64));
    l.addAdapter('a', { r, alpha: r, dropout: 0, scale: 1, init });
    return l;
  };

  it('true: A ~ kaiming-uniform(a = sqrt 5) = U(+-1/sqrt(in)), B = 0', () => {
    const l = layer(true);
    const a = stats(l.lora_A.get('a').weight);
    const bound = 1 / Math.sqrt(256);
    expect(a.maxAbs).toBeLessThanOrEqual(bound);
    expect(a.maxAbs).toBeGreaterThan(0.95 * bound);
    expect(a.std).toBeCloseTo(bound / Math.sqrt(3), 2);   // 4096 draws: std within ~2%
    expect(Math.abs(a.mean)).toBeLessThan(0.05 * bound);
    expect(stats(l.lora_B.get('a').weight).zero).toBe(true);
  });

  it('\'gaussian\': A ~ N(0, (1/r)^2), B = 0', () => {
    for (const r of [4, 16]) {
      const l = layer('gaussian', r);
      const a = stats(l.lora_A.get('a').weight);
      expect(Math.abs(a.std - 1 / r) / (1 / r)).toBeLessThan(0.06);
      expect(a.maxAbs).toBeGreaterThan(2 / r);   // not a uniform draw
      expect(stats(l.lora_B.get('a').weight).zero).toBe(true);
    }
  });

  it('false: B is not zeroed (nn.Linear\'s default, U(+-1/sqrt(r))), so the output moves at init', () => {
    const l = layer(false, 16);
    const b = stats(l.lora_B.get('a').weight);
    expect(b.zero).toBe(false);
    expect(b.maxAbs).toBeLessThanOrEqual(1 / 4);
    expect(b.std).toBeCloseTo(0.25 / Math.sqrt(3), 2);
    l.setActiveAdapters(['a']);
    const x = randn([3, 256]);
    const y = noGrad(() => l.forward(x)), base = noGrad(() => l.base_layer.forward(x));
    expect(() => expect(y).toAllClose(base, { atol: 1e-3 })).toThrow();
  });

  it('\'gaussian\' round-trips through adapter_config.json (a string where HF writes one)', () => {
    const peft = getPeftModel(llama(), new LoraConfig({ targetModules: ['q_proj'], initLoraWeights: 'gaussian' }));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peftjs-lora-init-'));
    peft.savePretrained(dir);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8')).init_lora_weights).toBe('gaussian');
    const back = PeftModel.fromPretrained(llama(), dir);
    expect((back.peftConfig.get('default') as LoraConfig).initLoraWeights).toBe('gaussian');
  });

  it('other HF initialisations are refused by name', () => {
    expect(() => new LoraConfig({ initLoraWeights: 'corda' as never })).toThrow(/initLoraWeights 'corda' is not supported/);
    expect(() => new LoraConfig({ initLoraWeights: 'pisa' as never })).toThrow(/initLoraWeights must be true, false, 'gaussian', 'pissa'.*got "pisa"/);
  });
});

describe('scaling: alpha / r, rsLoRA alpha / sqrt(r), per-module rank and alpha patterns', () => {
  it('the adapter term is s B A x with HF\'s s', () => {
    const peft = getPeftModel(llama(), new LoraConfig({
      r: 4, loraAlpha: 8, useRslora: true, initLoraWeights: false, targetModules: ['q_proj', 'v_proj', 'up_proj'],
      rankPattern: { up_proj: 2 }, alphaPattern: { 'layers\\.1\\.self_attn\\.v_proj': 3 },
    }));
    const spec = (p: string) => (peft.model.getSubmodule(p) as LoraLinear).specs.get('default')!;
    expect(spec('model.layers.0.self_attn.q_proj')).toMatchObject({ r: 4, alpha: 8, scale: 8 / 2 });
    expect(spec('model.layers.0.mlp.up_proj')).toMatchObject({ r: 2, alpha: 8, scale: 8 / Math.SQRT2 });
    expect(spec('model.layers.0.self_attn.v_proj')).toMatchObject({ r: 4, alpha: 8 });
    expect(spec('model.layers.1.self_attn.v_proj')).toMatchObject({ r: 4, alpha: 3, scale: 3 / 2 });
    const plain = new LoraConfig({ r: 4, loraAlpha: 8 });
    expect(plain.scaling()).toBe(2);

    const layer = peft.model.getSubmodule('model.layers.1.self_attn.v_proj') as LoraLinear;
    const x = randn([5, 32]);
    noGrad(() => {
      const y = layer.forward(x), base = layer.base_layer.forward(x);
      const a = layer.lora_A.get('default').weight, b = layer.lora_B.get('default').weight;
      const term = b.toArray() as number[][], am = a.toArray() as number[][], xm = x.toArray() as number[][];
      const expected = xm.map((row) => term.map((bRow) => 1.5 * bRow.reduce((s, bv, j) => s + bv * am[j].reduce((t, av, k) => t + av * row[k], 0), 0)));
      const got = (y.toArray() as number[][]).map((row, i) => row.map((v, n) => v - (base.toArray() as number[][])[i][n]));
      expect(got.flat()).toAllClose(expected.flat(), { atol: 1e-5, rtol: 1e-4 });
    });
  });
});

describe('fan_in_fan_out: HF corrects it to the layer\'s layout and warns', () => {
  it('Conv1D with fanInFanOut false -> set true; Linear with true -> set false; the output is right either way', () => {
    quiet((warnings) => {
      const config = new LoraConfig({ r: 2, targetModules: ['c_attn'], initLoraWeights: false });
      const peft = getPeftModel(gpt2(), config);
      expect(config.fanInFanOut).toBe(true);
      expect(warnings.some((w) => /fan_in_fan_out is set to False but the target module is `Conv1D`/.test(w))).toBe(true);
      // Conv1D stores W [in, out]: the adapted layer must still be x W + b + s x A^T B^T.
      const layer = peft.model.getSubmodule('transformer.h.0.attn.c_attn') as LoraLinear;
      const x = randn([3, 32]);
      const y = noGrad(() => layer.forward(x));
      peft.merge();
      expect(noGrad(() => layer.forward(x))).toAllClose(y, { atol: 1e-5, rtol: 1e-5 });
      peft.unmerge();
      const delta = layer.deltaWeight('default');
      expect(delta.shape).toEqual([32, 96]);

      warnings.length = 0;
      const c2 = new LoraConfig({ r: 2, targetModules: ['q_proj'], fanInFanOut: true });
      getPeftModel(llama(), c2);
      expect(c2.fanInFanOut).toBe(false);
      expect(warnings[0]).toMatch(/fan_in_fan_out is set to True but the target module is `torch.nn.Linear`/);
    });
  });
});

describe('target selection as HF\'s check_target_module_exists', () => {
  const targets = (fields: ConstructorParameters<typeof LoraConfig>[0], model: Module = llama()) => adapted(getPeftModel(model, new LoraConfig(fields)).model);
  const layerPaths = (l: number, names: string[]) => names.map((n) => `model.layers.${l}.${['q_proj', 'k_proj', 'v_proj', 'o_proj'].includes(n) ? 'self_attn' : 'mlp'}.${n}`);

  it('a list of names (suffix match), a regex (full match)', () => {
    expect(targets({ targetModules: ['q_proj', 'down_proj'] })).toEqual([...layerPaths(0, ['q_proj', 'down_proj']), ...layerPaths(1, ['q_proj', 'down_proj'])]);
    expect(targets({ targetModules: 'model\\.layers\\.1\\.self_attn\\.(q|k)_proj' })).toEqual(layerPaths(1, ['q_proj', 'k_proj']));
    expect(targets({ targetModules: '.*_proj' })).toHaveLength(14);
    expect(() => targets({ targetModules: ['nothing'] })).toThrow(/target modules \["nothing"\] not found/);
  });

  it('\'all-linear\': every Linear but the output layer, written back as the list of names (as HF)', () => {
    const config = new LoraConfig({ targetModules: 'all-linear' });
    const peft = getPeftModel(llama(), config);
    expect(adapted(peft.model)).toHaveLength(14);
    expect(adapted(peft.model)).not.toContain('lm_head');
    expect(config.targetModules).toEqual(['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj']);
    // BERT: the classifier is left out for SEQ_CLS only (HF keeps it otherwise); the pooler is linear too.
    const cls = adapted(getPeftModel(bert(), new LoraConfig({ targetModules: 'all-linear', taskType: 'SEQ_CLS' })).model);
    expect(cls).not.toContain('classifier');
    expect(cls).toContain('bert.pooler.dense');
    expect(cls).toHaveLength(2 * 6 + 1);
    expect(adapted(getPeftModel(bert(), new LoraConfig({ targetModules: 'all-linear' })).model)).toContain('classifier');
  });

  it('excludeModules (a list of names or a regex)', () => {
    expect(targets({ targetModules: 'all-linear', excludeModules: ['down_proj', 'up_proj', 'gate_proj'] })).toEqual([
      ...layerPaths(0, ['q_proj', 'k_proj', 'v_proj', 'o_proj']), ...layerPaths(1, ['q_proj', 'k_proj', 'v_proj', 'o_proj'])]);
    expect(targets({ targetModules: ['q_proj', 'v_proj'], excludeModules: 'model\\.layers\\.0\\..*' })).toEqual(layerPaths(1, ['q_proj', 'v_proj']));
  });

  it('layersToTransform, with and without layersPattern', () => {
    expect(targets({ targetModules: ['q_proj', 'v_proj'], layersToTransform: [1] })).toEqual(layerPaths(1, ['q_proj', 'v_proj']));
    expect(targets({ targetModules: ['q_proj'], layersToTransform: 0 })).toEqual(layerPaths(0, ['q_proj']));
    expect(targets({ targetModules: ['q_proj'], layersToTransform: [0, 1], layersPattern: 'layers' })).toEqual([...layerPaths(0, ['q_proj']), ...layerPaths(1, ['q_proj'])]);
    expect(targets({ targetModules: ['q_proj'], layersToTransform: [1], layersPattern: ['h', 'layers'] })).toEqual(layerPaths(1, ['q_proj']));
    expect(() => targets({ targetModules: ['q_proj'], layersToTransform: [1], layersPattern: 'h' })).toThrow(/not found/);
    // GPT-2's blocks are `transformer.h.N`
    expect(quiet(() => targets({ targetModules: ['c_attn'], layersToTransform: [1], layersPattern: 'h' }, gpt2()))).toEqual(['transformer.h.1.attn.c_attn']);
  });
});

describe('bias: \'none\' | \'all\' | \'lora_only\' as HF trains them', () => {
  // GPT-2 tiny, c_attn (Conv1D [32, 96]), r = 2: LoRA params per block 2*32 + 96*2 = 256, 512 in all.
  // Biases per block: ln_1 32 + c_attn 96 + attn.c_proj 32 + ln_2 32 + c_fc 128 + mlp.c_proj 32 = 352; ln_f 32.
  it.each([
    ['none', 512],
    ['lora_only', 512 + 2 * 96],
    ['all', 512 + 2 * 352 + 32],
  ] as const)('%s: %d trainable parameters; a training step moves those biases; save -> load gives the same logits', (bias, count) => {
    quiet(() => {
      const golden = openGolden('gpt2');
      const inputs = inputsOf('gpt2', golden);
      const peft = getPeftModel(gpt2(), new LoraConfig({ r: 2, targetModules: ['c_attn'], bias }));
      expect(peft.getNbTrainableParameters().trainable).toBe(count);
      const biasBefore = peft.model.getParameter('transformer.h.0.attn.c_attn.base_layer.bias').toFloat32Array();
      const lnBefore = peft.model.getParameter('transformer.h.0.ln_1.bias').toFloat32Array();
      const opt = new AdamW(peft.trainableParameters(), { lr: 1e-2 });
      for (let i = 0; i < 2; i++) {
        opt.zeroGrad();
        tidy(() => forward(peft.model as never, inputs).loss.backward());
        opt.step();
      }
      const moved = (p: string, before: Float32Array) => peft.model.getParameter(p).toFloat32Array().some((v, i) => v !== before[i]);
      expect(moved('transformer.h.0.attn.c_attn.base_layer.bias', biasBefore)).toBe(bias !== 'none');
      expect(moved('transformer.h.0.ln_1.bias', lnBefore)).toBe(bias === 'all');
      const logits = noGrad(() => forward(peft.model as never, inputs).logits);
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peftjs-lora-bias-'));
      peft.savePretrained(dir);
      const back = PeftModel.fromPretrained(gpt2(), dir);
      expect(noGrad(() => forward(back.model as never, inputs).logits)).toAllClose(logits, { atol: 1e-6 });
      golden.file.close();
    });
  });
});
