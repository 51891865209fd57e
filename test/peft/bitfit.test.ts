/**
 * BitFit through the peft API: only the chosen biases train (all, or the paper's query + intermediate
 * variant), the head through modulesToSave; disabled == base; saved under HF's keys
 * (`base_model.model.<path>.bias`); the fused BitFit backward is what `linear` runs for a frozen W.
 */
import * as fs from 'fs';
import * as path from 'path';
import { BitFitConfig, getBackend, getPeftModel, noGrad, PeftModel, randn, SafetensorsFile, setBackend, type Tensor, tidy } from '../../lib';
import { linear } from '../../lib/tensor/ops';
import { forward, inputsOf, openGolden } from '../helpers/golden';
import { loadFamily, logitsOf, tempDir, train } from '../helpers/peft_run';

/**
 * Bias counts by hand. BERT tiny (hidden 32, intermediate 48, 2 layers, 3 labels): embeddings LayerNorm 32;
 * per layer query 32 + key 32 + value 32 + attention.output.dense 32 + its LayerNorm 32 + intermediate.dense 48
 * + output.dense 32 + its LayerNorm 32 = 272, x2 = 544; pooler 32; classifier 3 -> 611 biases. With the
 * classifier in modulesToSave its copy trains whole (32 x 3 + 3 = 99) and its bias leaves the BitFit set:
 * 608 + 99 = 707. Query + intermediate: (32 + 48) x 2 = 160, + 99 = 259.
 * GPT-2 tiny (n_embd 32, inner 128): per block ln_1 32 + c_attn 96 + attn.c_proj 32 + ln_2 32 + c_fc 128 +
 * mlp.c_proj 32 = 352, x2 = 704, + ln_f 32 = 736.
 */
describe.each(['js', 'native'] as const)('BitFit on %s', (backendName) => {
  beforeAll(() => setBackend(backendName));

  it.each([
    ['bert', null, ['classifier'], 707],
    ['bert', ['query', 'intermediate'], ['classifier'], 259],
    ['gpt2', null, null, 736],
  ] as const)('on %s, targets %j, modulesToSave %j: %d trainable; training, disable, save/load', (family, targets, toSave, expected) => {
    const golden = openGolden(family);
    const inputs = inputsOf(family, golden);
    const peft = getPeftModel(loadFamily(family), new BitFitConfig({ targetModules: targets as string[] | null, modulesToSave: toSave as string[] | null }));
    const base = logitsOf(peft, inputs);
    expect(base).toAllClose(golden.tensor('logits'), { rtol: 1e-4, atol: 1e-5 });
    expect(peft.getNbTrainableParameters().trainable).toBe(expected);
    const trainable = peft.model.namedParameters().filter(([, t]) => t.requiresGrad).map(([n]) => n);
    expect(trainable.every((n) => n.endsWith('.bias') || n.includes('.modules_to_save.default.'))).toBe(true);
    if (targets) expect(trainable.filter((n) => !n.includes('modules_to_save')).every((n) => /\.(query|intermediate\.dense)\.bias$/.test(n))).toBe(true);
    const frozen = peft.model.namedParameters().filter(([, t]) => !t.requiresGrad).map(([n, t]) => [n, t.toFloat32Array()] as const);

    const losses = train(peft, inputs, 5, 5e-2);
    expect(losses[4]).toBeLessThan(losses[0]);
    for (const [n, before] of frozen) expect(peft.model.getParameter(n)).toAllClose(before, { atol: 0, rtol: 0 });
    const adapted = logitsOf(peft, inputs);
    expect(() => expect(adapted).toAllClose(base, { atol: 1e-4 })).toThrow();
    expect(peft.disableAdapter(() => logitsOf(peft, inputs))).toAllClose(base, { atol: 1e-6 });
    expect(logitsOf(peft, inputs)).toAllClose(adapted, { atol: 0, rtol: 0 }); // enabled again: the trained values are back

    const dir = tempDir('bitfit');
    peft.savePretrained(dir);
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
    expect(cfg.peft_type).toBe('BITFIT');
    expect(cfg.target_modules).toEqual(targets);
    const st = SafetensorsFile.open(path.join(dir, 'adapter_model.safetensors'));
    const keys = st.names();
    st.close();
    if (family === 'bert') {
      expect(keys).toContain('base_model.model.bert.encoder.layer.0.attention.self.query.bias');
      expect(keys).toContain('base_model.model.classifier.weight'); // HF drops 'modules_to_save.<name>'
    } else expect(keys).toContain('base_model.model.transformer.h.0.attn.c_attn.bias');
    const reloaded = PeftModel.fromPretrained(loadFamily(family), dir);
    expect(logitsOf(reloaded, inputs)).toAllClose(adapted, { atol: 1e-6 });
    expect(reloaded.disableAdapter(() => logitsOf(reloaded, inputs))).toAllClose(base, { atol: 1e-6 });

    peft.deleteAdapter('default');
    expect(logitsOf(peft, inputs)).toAllClose(base, { atol: 1e-6 });
    golden.file.close();
  });
});

describe('BitFit: the fused backward and errors', () => {
  beforeAll(() => setBackend('native'));

  it('linear with a frozen W and a trained bias takes bitfitBackward, with the same gradients as the unfused path', () => {
    const golden = openGolden('bert');
    const inputs = inputsOf('bert', golden);
    const peft = getPeftModel(loadFamily('bert'), new BitFitConfig());
    const kernels = getBackend().kernels;
    const grads = () => {
      for (const t of peft.parameters()) t.grad = null;
      tidy(() => forward(peft.model as never, inputs).loss.backward());
      return peft.trainableParameters().map((t) => t.grad!.toFloat32Array());
    };
    const lookups = jest.spyOn(kernels, 'get');
    const fused = grads();
    // 2 layers x (query, key, value, attention.output.dense, intermediate.dense, output.dense) + pooler + classifier.
    expect(lookups.mock.calls.filter(([name]) => name === 'bitfitBackward')).toHaveLength(14);
    lookups.mockRestore();
    // The unfused path: the same backend as if it had no bitfitBackward kernel.
    const realHas = kernels.has.bind(kernels);
    const has = jest.spyOn(kernels, 'has').mockImplementation((name) => name !== 'bitfitBackward' && realHas(name));
    let plain: Float32Array[];
    try {
      plain = grads();
    } finally {
      has.mockRestore();
    }
    fused.forEach((g, i) => expect(g).toAllClose(plain[i], { atol: 1e-6, rtol: 1e-5 }));
    golden.file.close();
  });

  it('gives linear\'s dx and db on odd shapes (3-D x)', () => {
    for (const [B, S, K, N] of [[1, 1, 1, 1], [2, 3, 17, 5], [1, 7, 33, 1000]]) {
      const x = randn([B, S, K]), w = randn([N, K]), b = randn([N]);
      x.requiresGrad = true;
      b.requiresGrad = true;
      const y = linear(x, w, b);
      const g = randn(y.shape);
      y.backward({ grad: g });
      const dx = noGrad(() => linear(g, w.T));
      expect(x.grad!).toAllClose(dx, { atol: 1e-4, rtol: 1e-4 });
      const db = new Float32Array(N);
      const gd = g.toFloat32Array();
      for (let i = 0; i < gd.length; i++) db[i % N] += gd[i];
      expect(b.grad!).toAllClose(db, { atol: 1e-4, rtol: 1e-4 });
    }
  });

  it('a model without biases, an empty selection, a second selection adapter and corrupted files are clear errors', () => {
    expect(() => getPeftModel(loadFamily('llama'), new BitFitConfig())).toThrow(/no bias parameters/);
    expect(() => getPeftModel(loadFamily('bert'), new BitFitConfig({ targetModules: ['nothing_here'] }))).toThrow(/select no bias/);
    const peft = getPeftModel(loadFamily('bert'), new BitFitConfig());
    expect(() => peft.addAdapter('other', new BitFitConfig())).toThrow(/already holds the selection adapter 'default'/);
    expect(() => new BitFitConfig({ targetModules: [3] as never })).toThrow(/targetModules/);
    const dir = tempDir('bitfit-bad');
    peft.savePretrained(dir);
    const weights = path.join(dir, 'adapter_model.safetensors');
    const good = fs.readFileSync(weights);
    fs.writeFileSync(weights, good.subarray(0, 40));
    expect(() => PeftModel.fromPretrained(loadFamily('bert'), dir)).toThrow(/adapter_model\.safetensors/);
    fs.writeFileSync(weights, good);
    // A file trained with another selection: keys the adapter does not have.
    const small = getPeftModel(loadFamily('bert'), new BitFitConfig({ targetModules: ['query'] }));
    const dir2 = tempDir('bitfit-bad2');
    small.savePretrained(dir2);
    fs.copyFileSync(path.join(dir2, 'adapter_model.safetensors'), weights);
    expect(() => PeftModel.fromPretrained(loadFamily('bert'), dir)).toThrow(/missing \d+ key\(s\): 'bert\.embeddings\.LayerNorm\.bias'/);
    fs.writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'BITFIT', target_modules: 7 }));
    expect(() => PeftModel.fromPretrained(loadFamily('bert'), dir)).toThrow(/adapter_config\.json: 'target_modules' must be a string, a list of strings or null, got 7/);
  });
});

export type { Tensor };
