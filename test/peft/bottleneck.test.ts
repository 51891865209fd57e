/**
 * Bottleneck adapters (AdapterConfig, peft_type BOTTLENECK_ADAPTER) on the three golden tiny models:
 * placement, identity at init, disabled == base, trainable counts from the shapes, training, save/load in
 * HF's layout, corrupted folders, merge refused, several adapters, unload.
 */
import * as fs from 'fs';
import * as path from 'path';
import {
  AdapterConfig, fromArray, getPeftModel, isAdapterLayer, noGrad, PeftModel, ResidualAdapterLayer, setBackend, zeros,
} from '../../lib';
import {
  batchOf, BLOCKS, configCopy, expectedSites, FAMILIES, type Family, HIDDEN, loadFamily, logitsOf, rewrittenCopy, savedShapes, tempDir, train, truncatedCopy,
} from './adapter_helpers';

/*
 * Trainable parameters by hand, for hidden h = 32 (all three fixtures) and reductionFactor 4, so the
 * bottleneck b = floor(32 / 4) = 8. One adapter site holds
 *   adapter_down: weight [b, h] = 8 * 32 = 256, bias [b] = 8
 *   adapter_up:   weight [h, b] = 32 * 8 = 256, bias [h] = 32      -> 256 + 8 + 256 + 32 = 552.
 * houlsby has 2 sites per block (attention output, FFN output), pfeiffer 1; the fixtures have 2 blocks:
 *   houlsby: 2 * 2 * 552 = 2208,  pfeiffer: 2 * 1 * 552 = 1104.
 * BERT's classifier, trained through modulesToSave, adds weight [3, 32] + bias [3] = 96 + 3 = 99.
 */
const PER_SITE = 8 * 32 + 8 + 32 * 8 + 32;
const EXPECTED_TRAINABLE = { houlsby: 2208, pfeiffer: 1104 };
const CLASSIFIER = 3 * 32 + 3;

const configFor = (family: Family, adapterType: 'houlsby' | 'pfeiffer', extra: Partial<AdapterConfig> = {}) =>
  new AdapterConfig({ adapterType, reductionFactor: 4, nonLinearity: 'relu', modulesToSave: family === 'bert' ? ['classifier'] : null, ...extra });

describe.each(['js', 'native'] as const)('bottleneck adapters on %s', (backendName) => {
  beforeAll(() => setBackend(backendName));

  describe.each(FAMILIES)('%s', (family) => {
    it.each(['houlsby', 'pfeiffer'] as const)('%s: placement, identity at init, counts, training, disabled == base, save -> load', (adapterType) => {
      const batch = batchOf(family);
      const peft = getPeftModel(loadFamily(family), configFor(family, adapterType));
      const wrapped = peft.model.namedModules().filter(([, m]) => isAdapterLayer(m)).map(([p]) => p);
      expect(wrapped).toEqual(expectedSites(family, adapterType));
      expect(EXPECTED_TRAINABLE[adapterType]).toBe(BLOCKS * (adapterType === 'houlsby' ? 2 : 1) * PER_SITE);

      // Identity at init: the base model's own numbers (the golden logits from PyTorch), and exactly the disabled output.
      const base = peft.disableAdapter(() => logitsOf(peft, batch));
      const atInit = logitsOf(peft, batch);
      expect(base).toAllClose(batch.golden.tensor('logits'), { rtol: 1e-4, atol: 1e-5 });
      expect(atInit).toAllClose(base, { atol: 0, rtol: 0 });

      const { trainable } = peft.getNbTrainableParameters();
      expect(trainable).toBe(EXPECTED_TRAINABLE[adapterType] + (family === 'bert' ? CLASSIFIER : 0));
      const names = peft.model.namedParameters().filter(([, t]) => t.requiresGrad).map(([n]) => n);
      expect(names.every((n) => /\.adapter_(down|up)\.default\.(weight|bias)$|modules_to_save\.default\./.test(n))).toBe(true);
      const l0 = peft.model.getSubmodule(wrapped[0]) as ResidualAdapterLayer;
      expect(l0.adapter_down.get('default').parameters().map((t) => t.shape)).toEqual([[8, HIDDEN], [8]]);
      expect(l0.adapter_up.get('default').parameters().map((t) => t.shape)).toEqual([[HIDDEN, 8], [HIDDEN]]);

      const frozen = peft.model.namedParameters().filter(([, t]) => !t.requiresGrad).map(([n, t]) => [n, t.toFloat32Array()] as const);
      const { before, after } = train(peft, batch, 8, 1e-2);
      expect(after).toBeLessThan(0.95 * before);
      for (const [n, v] of frozen) expect(peft.model.getParameter(n)).toAllClose(v, { atol: 0, rtol: 0 });
      const adapted = logitsOf(peft, batch);
      expect(() => expect(adapted).toAllClose(base, { atol: 1e-4 })).toThrow();
      expect(peft.disableAdapter(() => logitsOf(peft, batch))).toAllClose(base, { atol: 0, rtol: 0 });

      const dir = tempDir('bottleneck');
      peft.savePretrained(dir);
      const json = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
      expect(json).toMatchObject({ peft_type: 'BOTTLENECK_ADAPTER', adapter_type: adapterType, reduction_factor: 4, non_linearity: 'relu', init_std: 0.01 });
      const shapes = savedShapes(dir);
      const site0 = `base_model.model.${wrapped[0]}`;
      expect(shapes[`${site0}.adapter_down.weight`]).toEqual([8, HIDDEN]);
      expect(shapes[`${site0}.adapter_down.bias`]).toEqual([8]);
      expect(shapes[`${site0}.adapter_up.weight`]).toEqual([HIDDEN, 8]);
      expect(shapes[`${site0}.adapter_up.bias`]).toEqual([HIDDEN]);
      expect(Object.keys(shapes).filter((k) => k.includes('.adapter_')).length).toBe(4 * wrapped.length);

      const reloaded = PeftModel.fromPretrained(loadFamily(family), dir);
      expect(reloaded.getNbTrainableParameters().trainable).toBe(0);
      expect(logitsOf(reloaded, batch)).toAllClose(adapted, { atol: 1e-6, rtol: 1e-6 });
      batch.golden.file.close();
    });
  });
});

describe('bottleneck adapters: errors, several adapters, unload', () => {
  beforeAll(() => setBackend('native'));

  it('merge() and mergeAndUnload() refuse, naming the method', () => {
    const peft = getPeftModel(loadFamily('llama'), new AdapterConfig({ reductionFactor: 4 }));
    expect(() => peft.merge()).toThrow(/merge: BOTTLENECK_ADAPTER adapters cannot be merged into the base weights/);
    expect(() => peft.mergeAndUnload()).toThrow(/BOTTLENECK_ADAPTER adapters cannot be merged/);
  });

  it('a corrupted adapter folder is a clear error: truncated file, wrong key, wrong shape, bad config', () => {
    const peft = getPeftModel(loadFamily('gpt2'), new AdapterConfig({ reductionFactor: 4 }));
    const dir = tempDir('bottleneck');
    peft.savePretrained(dir);
    const key = 'base_model.model.transformer.h.0.mlp.c_proj.adapter_up.weight';
    expect(() => PeftModel.fromPretrained(loadFamily('gpt2'), truncatedCopy(dir))).toThrow(/adapter_model\.safetensors/);
    const renamed = rewrittenCopy(dir, (ts) => {
      const { [key]: moved, ...rest } = ts;
      return { ...rest, [key.replace('adapter_up', 'adapter_upp')]: moved };
    });
    expect(() => PeftModel.fromPretrained(loadFamily('gpt2'), renamed)).toThrow(/missing 1 key\(s\): 'transformer\.h\.0\.mlp\.c_proj\.adapter_up\.weight'; unexpected 1 key/);
    const reshaped = rewrittenCopy(dir, (ts) => ({ ...ts, [key]: zeros([HIDDEN, 4]) }));
    expect(() => PeftModel.fromPretrained(loadFamily('gpt2'), reshaped)).toThrow(/'transformer\.h\.0\.mlp\.c_proj\.adapter_up\.weight' has shape \[32, 4\], the model's adapter has \[32, 8\]/);
    expect(() => PeftModel.fromPretrained(loadFamily('gpt2'), configCopy(dir, (j) => (j.adapter_type = 'sideways')))).toThrow(/AdapterConfig: adapterType must be 'houlsby' or 'pfeiffer', got 'sideways'/);
    expect(() => PeftModel.fromPretrained(loadFamily('gpt2'), configCopy(dir, (j) => (j.reduction_factor = 'four')))).toThrow(/'reduction_factor' must be a number/);
    expect(() => PeftModel.fromPretrained(loadFamily('gpt2'), configCopy(dir, (j) => (j.non_linearity = 'softmax')))).toThrow(/nonLinearity must be one of relu, gelu, swish, silu, tanh, got 'softmax'/);
    expect(() => PeftModel.fromPretrained(loadFamily('gpt2'), configCopy(dir, (j) => (j.reduction_factor = 64)))).toThrow(/reductionFactor 64 leaves no bottleneck for hidden size 32/);
  });

  it('bad configs name the field; a model without known sites is named', () => {
    expect(() => new AdapterConfig({ reductionFactor: 0 })).toThrow(/AdapterConfig: reductionFactor must be a positive number, got 0/);
    expect(() => new AdapterConfig({ layersToTransform: [0.5] })).toThrow(/layersToTransform must be block indices/);
    expect(() => getPeftModel(loadFamily('llama'), new AdapterConfig({ reductionFactor: 4, layersToTransform: 7 }))).toThrow(/found no attention or FFN output modules in LlamaForCausalLM in blocks \[7\]/);
  });

  it('layersToTransform adapts only the named blocks', () => {
    const peft = getPeftModel(loadFamily('llama'), new AdapterConfig({ reductionFactor: 4, layersToTransform: [1] }));
    expect(peft.model.namedModules().filter(([, m]) => isAdapterLayer(m)).map(([p]) => p)).toEqual(['model.layers.1.self_attn.o_proj', 'model.layers.1.mlp.down_proj']);
    expect(peft.getNbTrainableParameters().trainable).toBe(2 * PER_SITE);
  });

  it('several adapters: the active one runs, each saves and loads on its own, deleting one leaves the other', () => {
    const batch = batchOf('llama');
    const peft = getPeftModel(loadFamily('llama'), new AdapterConfig({ reductionFactor: 4 }));
    peft.addAdapter('other', new AdapterConfig({ reductionFactor: 8, nonLinearity: 'tanh' }));
    expect(peft.activeAdapter).toBe('other');
    // Give both adapters non-zero up-projections so that each changes the output.
    noGrad(() => {
      for (const [n, t] of peft.model.namedParameters()) if (/adapter_up\.(default|other)\.weight$/.test(n)) t.data.set(fromArray(Array.from({ length: t.size }, (_, i) => Math.sin(i + (n.includes('other') ? 1 : 2)) * 0.3)).data);
    });
    const base = peft.disableAdapter(() => logitsOf(peft, batch));
    const withOther = logitsOf(peft, batch);
    peft.setAdapter('default');
    const withDefault = logitsOf(peft, batch);
    expect(() => expect(withOther).toAllClose(base, { atol: 1e-4 })).toThrow();
    expect(() => expect(withDefault).toAllClose(withOther, { atol: 1e-4 })).toThrow();
    // 'other' has b = 32 / 8 = 4: 4*32 + 4 + 32*4 + 32 = 292 per site, 4 sites; both adapters train.
    expect(peft.getNbTrainableParameters().trainable).toBe(4 * PER_SITE + 4 * (4 * 32 + 4 + 32 * 4 + 32));

    const dir = tempDir('bottleneck-two');
    peft.savePretrained(dir);
    expect(fs.existsSync(path.join(dir, 'other', 'adapter_model.safetensors'))).toBe(true);
    const again = PeftModel.fromPretrained(loadFamily('llama'), path.join(dir, 'other'), { adapterName: 'other' });
    expect(logitsOf(again, batch)).toAllClose(withOther, { atol: 1e-6, rtol: 1e-6 });
    again.loadAdapter(dir, 'default');
    expect(logitsOf(again, batch)).toAllClose(withDefault, { atol: 1e-6, rtol: 1e-6 });

    peft.deleteAdapter('default');
    expect(peft.activeAdapter).toBe('other');
    expect(peft.model.namedParameters().some(([n]) => n.includes('.default.'))).toBe(false);
    expect(logitsOf(peft, batch)).toAllClose(withOther, { atol: 1e-6, rtol: 1e-6 });

    const unloaded = peft.unload();
    expect(unloaded.namedModules().some(([, m]) => isAdapterLayer(m))).toBe(false);
    expect(unloaded.namedParameters().some(([n]) => n.includes('adapter_'))).toBe(false);
    batch.golden.file.close();
  });
});
