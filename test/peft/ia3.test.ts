/**
 * (IA)3 through the peft API on the golden tiny models: HF's default targets, identity at init (l = 1),
 * training moves only ia3_l, merged == unmerged, unmerge restores W, disabled == base, save/load in HF's
 * layout, corrupted adapters, mixed-task batches, and the fused op against its composed form.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  AdamW, fromArray, Linear, Module, GPT2Config, GPT2LMHeadModel, getPeftModel, IA3Config, loadHfModel, noGrad, PeftModel, randn, setBackend,
  SafetensorsFile, saveSafetensors, type Tensor, tidy, Ia3Linear,
} from '../../lib';
import { ia3LinearComposed, ia3LinearFused, ia3Mixed } from '../../lib/ops/ia3/op';
import { forward, inputsOf, openGolden } from '../helpers/golden';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'models');
const load = (family: string) => loadHfModel(path.join(FIXTURES, family));
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'peftjs-ia3-'));

/**
 * Trainable counts by hand from the tiny models' shapes (HF's IA3 defaults):
 * - llama (hidden 32, 4 heads, 2 kv heads -> k/v out 16, intermediate 56, 2 layers): k 16 + v 16 + down_proj in 56 = 88 per layer -> 176.
 * - gpt2 (n_embd 32, inner 128, 2 layers): c_attn out 96 + mlp.c_proj in 128 = 224 per layer -> 448.
 * - bert (hidden 32, intermediate 48, 2 layers): key 32 + value 32 + attention.output.dense in 32 + output.dense in 48 = 144
 *   per layer -> 288, plus the classifier copy (modulesToSave) 32 * 3 + 3 = 99 -> 387.
 */
const EXPECTED = { llama: 176, gpt2: 448, bert: 387 } as const;
const FIRST_KEYS = {
  llama: [['model.layers.0.self_attn.k_proj.ia3_l', [16, 1]], ['model.layers.0.mlp.down_proj.ia3_l', [1, 56]]],
  gpt2: [['transformer.h.0.attn.c_attn.ia3_l', [96, 1]], ['transformer.h.0.mlp.c_proj.ia3_l', [1, 128]]],
  bert: [['bert.encoder.layer.0.attention.self.key.ia3_l', [32, 1]], ['bert.encoder.layer.0.output.dense.ia3_l', [1, 48]],
    ['bert.encoder.layer.0.attention.output.dense.ia3_l', [1, 32]]],
} as const;

describe.each(['js', 'native'] as const)('(IA)3 on %s', (backendName) => {
  beforeAll(() => setBackend(backendName));

  it.each(['llama', 'gpt2', 'bert'] as const)('on %s with HF\'s default targets: identity at init, training, merge, disable, save/load', (family) => {
    const golden = openGolden(family);
    const inputs = inputsOf(family, golden);
    const config = new IA3Config({ modulesToSave: family === 'bert' ? ['classifier'] : null });
    const peft = getPeftModel(load(family), config);
    expect(config.targetModules).not.toBeNull(); // HF writes the defaults into the config
    const logits = () => noGrad(() => forward(peft.model as never, inputs).logits);
    const base = logits();
    expect(base).toAllClose(golden.tensor('logits'), { rtol: 1e-4, atol: 1e-5 });
    expect(peft.getNbTrainableParameters().trainable).toBe(EXPECTED[family]);
    const trainable = peft.model.namedParameters().filter(([, t]) => t.requiresGrad).map(([n]) => n);
    expect(trainable.every((n) => /\.ia3_l\.default$|modules_to_save\.default\./.test(n))).toBe(true);
    const frozenBefore = peft.model.namedParameters().filter(([, t]) => !t.requiresGrad).map(([n, t]) => [n, t.toFloat32Array()] as const);

    const opt = new AdamW(peft.trainableParameters(), { lr: 5e-2 });
    const losses: number[] = [];
    for (let i = 0; i < 5; i++) {
      opt.zeroGrad();
      losses.push(tidy(() => {
        const loss = forward(peft.model as never, inputs).loss;
        loss.backward();
        return loss.item();
      }));
      opt.step();
    }
    expect(losses[4]).toBeLessThan(losses[0]);
    for (const [n, before] of frozenBefore) expect(peft.model.getParameter(n)).toAllClose(before, { atol: 0, rtol: 0 });
    const adapted = logits();
    expect(() => expect(adapted).toAllClose(base, { atol: 1e-4 })).toThrow();
    expect(peft.disableAdapter(() => logits())).toAllClose(base, { atol: 1e-6 });

    peft.merge();
    expect(logits()).toAllClose(adapted, { atol: 1e-5, rtol: 1e-5 });
    peft.unmerge();
    for (const [n, before] of frozenBefore) expect(peft.model.getParameter(n)).toAllClose(before, { atol: 1e-5, rtol: 1e-5 });
    expect(logits()).toAllClose(adapted, { atol: 1e-5, rtol: 1e-5 });

    const dir = tmp();
    peft.savePretrained(dir);
    const saved = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
    expect(saved.peft_type).toBe('IA3');
    expect(saved.init_ia3_weights).toBe(true);
    expect(saved.target_modules).toEqual(config.targetModules);
    expect(saved.feedforward_modules).toEqual(config.feedforwardModules);
    const st = SafetensorsFile.open(path.join(dir, 'adapter_model.safetensors'));
    for (const [key, shape] of FIRST_KEYS[family]) expect(st.info(`base_model.model.${key}`).shape).toEqual(shape);
    st.close();
    const reloaded = PeftModel.fromPretrained(load(family), dir);
    expect(noGrad(() => forward(reloaded.model as never, inputs).logits)).toAllClose(adapted, { atol: 1e-6 });
    expect(reloaded.getNbTrainableParameters().trainable).toBe(0);
    golden.file.close();
  });

  it('mixed batch: each sample runs its own adapter (or the base), fused (llama) and composed (gpt2 Conv1D)', () => {
    for (const family of ['llama', 'gpt2'] as const) {
      const golden = openGolden(family);
      const inputs = inputsOf(family, golden) as { inputIds: { data: Int32Array; shape: number[] }; attentionMask: { data: Int32Array; shape: number[] }; labels: { data: Int32Array; shape: number[] } };
      const peft = getPeftModel(load(family), new IA3Config({ initIa3Weights: false }), 'a');
      peft.addAdapter('b', new IA3Config({ initIa3Weights: false }));
      const [B, S] = inputs.inputIds.shape;
      const sample = (i: number) => {
        const rows = (t: { data: Int32Array; shape: number[] }) => ({ data: t.data.slice(i * S, (i + 1) * S), shape: [1, S] });
        return { inputIds: rows(inputs.inputIds), attentionMask: rows(inputs.attentionMask), labels: rows(inputs.labels) };
      };
      const names = ['b', '__base__'];
      expect(B).toBe(2);
      const mixed = noGrad(() => (peft.forward({ ...inputs, adapterNames: names }) as { logits: Tensor }).logits);
      peft.setAdapter('b');
      const first = noGrad(() => forward(peft.model as never, sample(0) as never).logits);
      const second = noGrad(() => peft.disableAdapter(() => forward(peft.model as never, sample(1) as never).logits));
      expect(mixed.slice(0, 0, 1)).toAllClose(first, { atol: 1e-5, rtol: 1e-5 });
      expect(mixed.slice(0, 1, 2)).toAllClose(second, { atol: 1e-5, rtol: 1e-5 });
      // Gradients reach the vector each sample used, and only that one.
      for (const t of peft.parameters()) t.grad = null;
      tidy(() => (peft.forward({ ...inputs, adapterNames: ['b', 'b'] }) as { loss: Tensor }).loss.backward());
      const layer = peft.model.namedModules().find(([, m]) => m instanceof Ia3Linear)![1] as Ia3Linear;
      expect(layer.ia3_l.get('b').grad).not.toBeNull();
      expect(layer.ia3_l.get('a').grad).toBeNull();
      expect(() => peft.forward({ ...inputs, adapterNames: ['b'] })).toThrow(/length of adapterNames should be the same as the number of inputs, but got 1 and 2/);
      expect(() => peft.forward({ ...inputs, adapterNames: ['b', 'zzz'] })).toThrow(/non-existing adapter\(s\): zzz/);
      // The names never stick: the next plain forward runs the active adapter for every sample.
      const after = noGrad(() => forward(peft.model as never, inputs as never).logits);
      expect(after.slice(0, 0, 1)).toAllClose(first, { atol: 1e-5, rtol: 1e-5 });
      golden.file.close();
    }
  });

  it('the fused op equals its composed form, values and gradients, both modes (odd sizes)', () => {
    for (const mode of ['output', 'input'] as const) {
      for (const [T, K, N] of [[1, 1, 1], [3, 17, 5], [7, 33, 19]]) {
        const x = randn([T, K]), w = randn([N, K]), b = randn([N]);
        const l = randn(mode === 'output' ? [N, 1] : [1, K]);
        x.requiresGrad = true;
        l.requiresGrad = true;
        const run = (f: typeof ia3LinearFused) => {
          x.grad = null;
          l.grad = null;
          const y = f(x, w, b, l, mode);
          const g = randn(y.shape, { seed: 7 });
          y.backward({ grad: g });
          return [y.toFloat32Array(), x.grad!.toFloat32Array(), l.grad!.toFloat32Array()];
        };
        const fused = run(ia3LinearFused), composed = run(ia3LinearComposed);
        for (let i = 0; i < 3; i++) expect(fromArray(fused[i])).toAllClose(fromArray(composed[i]), { atol: 1e-4, rtol: 1e-4 });
      }
    }
  });

  it('the mixed op (fused output mode and composed input mode) equals per-row scaling', () => {
    const T = 6, K = 5, N = 4;
    const x = randn([2, 3, K]), w = randn([N, K]);
    for (const mode of ['output', 'input'] as const) {
      const vs = [randn(mode === 'output' ? [N, 1] : [1, K]), randn(mode === 'output' ? [N, 1] : [1, K])];
      vs.forEach((v) => { v.requiresGrad = true; });
      const rowTask = Int32Array.from([1, 1, 1, -1, -1, -1]);
      const y = ia3Mixed(x, w, null, vs, rowTask, mode);
      expect(y.shape).toEqual([2, 3, N]);
      const first = noGrad(() => ia3LinearComposed(x.slice(0, 0, 1), w, null, vs[1], mode));
      const second = noGrad(() => ia3LinearComposed(x.slice(0, 1, 2), w, null, fromArray(new Array(mode === 'output' ? N : K).fill(1)), mode));
      expect(y.slice(0, 0, 1)).toAllClose(first, { atol: 1e-5 });
      expect(y.slice(0, 1, 2)).toAllClose(second, { atol: 1e-5 });
      y.backward({ grad: randn(y.shape) });
      expect(vs[0].grad === null || vs[0].grad.toFloat32Array().every((v) => v === 0)).toBe(true);
      expect(vs[1].grad).not.toBeNull();
      expect(T).toBe(6);
    }
  });
});

describe('(IA)3 configs and corrupted adapters', () => {
  beforeAll(() => setBackend('native'));

  it('feedforwardModules must be a subset of targetModules (HF\'s check); unknown model types need targetModules', () => {
    expect(() => new IA3Config({ targetModules: ['k_proj'], feedforwardModules: ['down_proj'] })).toThrow(/subset of targetModules/);
    expect(() => new IA3Config({ initIa3Weights: 'yes' as never })).toThrow(/initIa3Weights/);
    class Tiny extends Module {
      lin = this.registerModule('lin', new Linear(2, 2));
    }
    expect(() => getPeftModel(new Tiny(), new IA3Config())).toThrow(/no default target modules for model type 'null'.*set targetModules/);
    expect(getPeftModel(new Tiny(), new IA3Config({ targetModules: ['lin'] })).getNbTrainableParameters().trainable).toBe(2);
  });

  it('a truncated file, a wrong key, a wrong shape and a bad config are clear errors', () => {
    const peft = getPeftModel(load('llama'), new IA3Config());
    const dir = tmp();
    peft.savePretrained(dir);
    const weights = path.join(dir, 'adapter_model.safetensors');
    const good = fs.readFileSync(weights);
    const cfgFile = path.join(dir, 'adapter_config.json');
    const goodCfg = fs.readFileSync(cfgFile, 'utf8');

    fs.writeFileSync(weights, good.subarray(0, good.length - 10));
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/adapter_model\.safetensors/);

    const tensors: Record<string, Tensor> = {};
    for (const [k, t] of [['base_model.model.model.layers.0.self_attn.k_proj.ia3_l', randn([16, 1])], ['base_model.model.model.layers.0.self_attn.k_proj.ia3_x', randn([16, 1])]] as const) tensors[k] = t;
    saveSafetensors(weights, tensors);
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/missing \d+ key\(s\).*unexpected 1 key\(s\): 'model\.layers\.0\.self_attn\.k_proj\.ia3_x'/);

    fs.writeFileSync(weights, good);
    const wrongShape = getPeftModel(load('llama'), new IA3Config());
    const l = wrongShape.model.getSubmodule('model.layers.0.self_attn.k_proj') as Ia3Linear;
    l.ia3_l.set('default', randn([1, 16]));
    wrongShape.savePretrained(dir);
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/'model\.layers\.0\.self_attn\.k_proj\.ia3_l' has shape \[1, 16\], the model's adapter has \[16, 1\]/);

    fs.writeFileSync(weights, good);
    fs.writeFileSync(cfgFile, goodCfg.replace('"init_ia3_weights": true', '"init_ia3_weights": 3'));
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/init_ia3_weights/);
    fs.writeFileSync(cfgFile, goodCfg.replace('"feedforward_modules": [', '"feedforward_modules": ["q_proj", '));
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/subset of targetModules/);
    fs.writeFileSync(cfgFile, '{"peft_type": "IA3", ');
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/adapter_config\.json/);
  });

  it('GPT-2 small with HF\'s default (IA)3 targets prints HF\'s line', () => {
    // c_attn out 2304 x 12 + mlp.c_proj in 3072 x 12 = 27,648 + 36,864 = 64,512; all = 124,439,808 + 64,512.
    const lines: string[] = [];
    const model = noGrad(() => new GPT2LMHeadModel(new GPT2Config()));
    const peft = getPeftModel(model, new IA3Config());
    peft.printTrainableParameters((line) => lines.push(line));
    expect(lines).toEqual(['trainable params: 64,512 || all params: 124,504,320 || trainable%: 0.0518']);
    peft.dispose();
  });
});
