/**
 * Compacter (CompacterConfig, peft_type COMPACTER) on the three golden tiny models: PHM weights as the
 * Kronecker sum of the definition, one shared rule per adapter, identity at init, disabled == base,
 * trainable counts from the shapes, training, save/load, corrupted folders, merge refused.
 */
import * as fs from 'fs';
import * as path from 'path';
import {
  CompacterConfig, getPeftModel, isAdapterLayer, PeftModel, PHMLinear, type ResidualAdapterLayer, setBackend, zeros,
} from '../../lib';
import {
  batchOf, BLOCKS, configCopy, expectedSites, FAMILIES, type Family, HIDDEN, loadFamily, logitsOf, rewrittenCopy, savedShapes, tempDir, train, truncatedCopy,
} from './adapter_helpers';

/*
 * Trainable parameters by hand, for hidden h = 32, reductionFactor 4 (bottleneck b = 8), phmDim n = 4 and
 * phmRank r = 1. A PHM layer [in -> out] holds W_left [n, in/n, r], W_right [n, r, out/n] and b [out]:
 *   adapter_down (32 -> 8): W_left [4, 8, 1] = 32, W_right [4, 1, 2] = 8,  b [8]  = 8   -> 48
 *   adapter_up   (8 -> 32): W_left [4, 2, 1] = 8,  W_right [4, 1, 8] = 32, b [32] = 32  -> 72
 * so one site holds 48 + 72 = 120, and the model one shared rule phm_rule [n, n, n] = 64 per adapter:
 *   houlsby (2 sites x 2 blocks): 4 * 120 + 64 = 544;  pfeiffer (1 site x 2 blocks): 2 * 120 + 64 = 304.
 * (The same adapters with plain Linear projections hold 552 per site.) BERT's classifier adds 3 * 32 + 3 = 99.
 */
const PER_SITE = (32 + 8 + 8) + (8 + 32 + 32);
const RULE = 4 * 4 * 4;
const EXPECTED_TRAINABLE = { houlsby: 544, pfeiffer: 304 };
const CLASSIFIER = 3 * 32 + 3;

const configFor = (family: Family, adapterType: 'houlsby' | 'pfeiffer') =>
  new CompacterConfig({ adapterType, reductionFactor: 4, modulesToSave: family === 'bert' ? ['classifier'] : null });

/** H [in, out] = sum_m A_m (x) (s_m t_m), written as the definition from the factors' host values. */
function phmReference(layer: PHMLinear): Float32Array {
  const n = layer.phmDim, r = layer.rank, p = layer.inFeatures / n, q = layer.outFeatures / n;
  const A = layer.rule.toFloat32Array(), s = layer.W_left.toFloat32Array(), t = layer.W_right.toFloat32Array();
  const H = new Float32Array(layer.inFeatures * layer.outFeatures);
  for (let m = 0; m < n; m++) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < p; k++) for (let l = 0; l < q; l++) {
    let b = 0;
    for (let c = 0; c < r; c++) b += s[(m * p + k) * r + c] * t[(m * r + c) * q + l];
    H[(i * p + k) * layer.outFeatures + j * q + l] += A[(m * n + i) * n + j] * b;
  }
  return H;
}

describe.each(['js', 'native'] as const)('Compacter on %s', (backendName) => {
  beforeAll(() => setBackend(backendName));

  describe.each(FAMILIES)('%s', (family) => {
    it.each(['houlsby', 'pfeiffer'] as const)('%s: one shared rule, identity at init, counts, training, disabled == base, save -> load', (adapterType) => {
      const batch = batchOf(family);
      const peft = getPeftModel(loadFamily(family), configFor(family, adapterType));
      const wrapped = peft.model.namedModules().filter(([, m]) => isAdapterLayer(m)).map(([p]) => p);
      expect(wrapped).toEqual(expectedSites(family, adapterType));
      expect(EXPECTED_TRAINABLE[adapterType]).toBe(BLOCKS * (adapterType === 'houlsby' ? 2 : 1) * PER_SITE + RULE);

      // One rule, registered once on the adapted model, referenced by every down and up projection.
      const rule = peft.getParameter('base_model.model.compacter_shared.default.phm_rule');
      expect(rule.shape).toEqual([4, 4, 4]);
      const phms = wrapped.flatMap((p) => {
        const l = peft.model.getSubmodule(p) as ResidualAdapterLayer;
        return [l.adapter_down.get('default'), l.adapter_up.get('default')] as PHMLinear[];
      });
      expect(phms.every((m) => m instanceof PHMLinear && m.rule === rule)).toBe(true);
      const down0 = phms[0], up0 = phms[1];
      expect([down0.W_left.shape, down0.W_right.shape, down0.b.shape]).toEqual([[4, 8, 1], [4, 1, 2], [8]]);
      expect([up0.W_left.shape, up0.W_right.shape, up0.b.shape]).toEqual([[4, 2, 1], [4, 1, 8], [HIDDEN]]);
      expect(down0.weight()).toAllClose(phmReference(down0), { atol: 1e-9, rtol: 1e-6 });
      expect(up0.weight()).toAllClose(new Float32Array(8 * HIDDEN), { atol: 0, rtol: 0 }); // W_right = 0: the identity at init

      const base = peft.disableAdapter(() => logitsOf(peft, batch));
      expect(base).toAllClose(batch.golden.tensor('logits'), { rtol: 1e-4, atol: 1e-5 });
      expect(logitsOf(peft, batch)).toAllClose(base, { atol: 0, rtol: 0 });

      expect(peft.getNbTrainableParameters().trainable).toBe(EXPECTED_TRAINABLE[adapterType] + (family === 'bert' ? CLASSIFIER : 0));
      const names = peft.model.namedParameters().filter(([, t]) => t.requiresGrad).map(([n]) => n);
      expect(names.filter((n) => n.includes('phm_rule'))).toEqual(['compacter_shared.default.phm_rule']);
      expect(names.every((n) => /\.adapter_(down|up)\.default\.(W_left|W_right|b)$|^compacter_shared\.default\.phm_rule$|modules_to_save\.default\./.test(n))).toBe(true);

      const ruleBefore = rule.toFloat32Array();
      const frozen = peft.model.namedParameters().filter(([, t]) => !t.requiresGrad).map(([n, t]) => [n, t.toFloat32Array()] as const);
      const { before, after } = train(peft, batch, 10, 2e-2);
      expect(after).toBeLessThan(0.95 * before);
      for (const [n, v] of frozen) expect(peft.model.getParameter(n)).toAllClose(v, { atol: 0, rtol: 0 });
      expect(() => expect(rule).toAllClose(ruleBefore, { atol: 1e-4 })).toThrow(); // the shared rule trains too
      expect(up0.weight()).toAllClose(phmReference(up0), { atol: 1e-7, rtol: 1e-5 });
      const adapted = logitsOf(peft, batch);
      expect(() => expect(adapted).toAllClose(base, { atol: 1e-4 })).toThrow();
      expect(peft.disableAdapter(() => logitsOf(peft, batch))).toAllClose(base, { atol: 0, rtol: 0 });

      const dir = tempDir('compacter');
      peft.savePretrained(dir);
      const json = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
      expect(json).toMatchObject({
        peft_type: 'COMPACTER', adapter_type: adapterType, reduction_factor: 4, non_linearity: 'gelu', phm_dim: 4, phm_rank: 1,
        hypercomplex_nonlinearity: 'glorot-uniform', phm_c_init: 'normal', phm_init_range: 0.0001,
      });
      const shapes = savedShapes(dir);
      expect(shapes['base_model.model.compacter_shared.phm_rule']).toEqual([4, 4, 4]);
      const site0 = `base_model.model.${wrapped[0]}`;
      expect(shapes[`${site0}.adapter_down.W_left`]).toEqual([4, 8, 1]);
      expect(shapes[`${site0}.adapter_up.W_right`]).toEqual([4, 1, 8]);
      expect(Object.keys(shapes).filter((k) => k.includes('.adapter_')).length).toBe(6 * wrapped.length);

      const reloaded = PeftModel.fromPretrained(loadFamily(family), dir);
      expect(logitsOf(reloaded, batch)).toAllClose(adapted, { atol: 1e-6, rtol: 1e-6 });
      batch.golden.file.close();
    });
  });
});

describe('Compacter: errors, several adapters, unload', () => {
  beforeAll(() => setBackend('native'));

  it('merge() refuses, naming the method', () => {
    const peft = getPeftModel(loadFamily('gpt2'), new CompacterConfig({ reductionFactor: 4 }));
    expect(() => peft.merge()).toThrow(/merge: COMPACTER adapters cannot be merged into the base weights/);
  });

  it('a corrupted adapter folder is a clear error: truncated file, missing shared rule, wrong shape, bad config', () => {
    const peft = getPeftModel(loadFamily('bert'), new CompacterConfig({ reductionFactor: 4 }));
    const dir = tempDir('compacter');
    peft.savePretrained(dir);
    const load = (d: string) => PeftModel.fromPretrained(loadFamily('bert'), d);
    expect(() => load(truncatedCopy(dir))).toThrow(/adapter_model\.safetensors/);
    const noRule = rewrittenCopy(dir, (ts) => {
      const { ['base_model.model.compacter_shared.phm_rule']: _, ...rest } = ts;
      return rest;
    });
    expect(() => load(noRule)).toThrow(/missing 1 key\(s\): 'compacter_shared\.phm_rule'/);
    const key = 'base_model.model.bert.encoder.layer.1.output.dense.adapter_down.W_left';
    expect(() => load(rewrittenCopy(dir, (ts) => ({ ...ts, [key]: zeros([4, 8, 2]) })))).toThrow(/'bert\.encoder\.layer\.1\.output\.dense\.adapter_down\.W_left' has shape \[4, 8, 2\], the model's adapter has \[4, 8, 1\]/);
    expect(() => load(configCopy(dir, (j) => (j.phm_dim = 3)))).toThrow(/CompacterConfig: phmDim 3 must divide the hidden size \(32\) and the bottleneck \(8/);
    expect(() => load(configCopy(dir, (j) => (j.phm_rank = 0)))).toThrow(/CompacterConfig: phmRank must be a positive integer, got 0/);
    expect(() => load(configCopy(dir, (j) => (j.phm_c_init = 'zeros')))).toThrow(/phmCInit must be 'normal' or 'uniform', got 'zeros'/);
  });

  it('a config that does not fit leaves the model untouched', () => {
    const model = loadFamily('llama');
    expect(() => getPeftModel(model, new CompacterConfig({ reductionFactor: 4, phmDim: 5 }))).toThrow(/phmDim 5 must divide the hidden size \(32\)/);
    expect(model.namedModules().some(([, m]) => isAdapterLayer(m))).toBe(false);
  });

  it('phmRank 2 and a second adapter: its own rule; deleting and unloading remove the shared rules', () => {
    const batch = batchOf('llama');
    const peft = getPeftModel(loadFamily('llama'), new CompacterConfig({ reductionFactor: 4, adapterType: 'pfeiffer' }));
    peft.addAdapter('wide', new CompacterConfig({ reductionFactor: 2, phmRank: 2, adapterType: 'pfeiffer', phmCInit: 'uniform' }));
    // 'wide': b = 16, r = 2, n = 4: down W_left [4, 8, 2] = 64, W_right [4, 2, 4] = 32, b 16; up W_left [4, 4, 2] = 32,
    // W_right [4, 2, 8] = 64, b 32 -> 240 per site, 2 sites, + its own rule 64.
    expect(peft.getNbTrainableParameters().trainable).toBe(304 + 2 * (64 + 32 + 16 + 32 + 64 + 32) + 64);
    const rules = peft.model.namedParameters().filter(([n]) => n.includes('phm_rule')).map(([n]) => n);
    expect(rules).toEqual(['compacter_shared.default.phm_rule', 'compacter_shared.wide.phm_rule']);
    train(peft, batch, 3, 2e-2);
    const wide = logitsOf(peft, batch);
    const dir = tempDir('compacter-two');
    peft.savePretrained(dir);
    expect(Object.keys(savedShapes(path.join(dir, 'wide'))).filter((k) => k.includes('phm_rule'))).toEqual(['base_model.model.compacter_shared.phm_rule']);
    const again = PeftModel.fromPretrained(loadFamily('llama'), path.join(dir, 'wide'), { adapterName: 'wide' });
    expect(logitsOf(again, batch)).toAllClose(wide, { atol: 1e-6, rtol: 1e-6 });

    peft.deleteAdapter('default');
    expect(peft.model.namedParameters().filter(([n]) => n.includes('phm_rule')).map(([n]) => n)).toEqual(['compacter_shared.wide.phm_rule']);
    expect(logitsOf(peft, batch)).toAllClose(wide, { atol: 1e-6, rtol: 1e-6 });
    const unloaded = peft.unload();
    expect(unloaded.namedModules().some(([p, m]) => isAdapterLayer(m) || p.startsWith('compacter_shared'))).toBe(false);
    expect(unloaded.numParameters()).toBe(loadFamily('llama').numParameters());
    batch.golden.file.close();
  });
});
