/**
 * Diff pruning through the peft API: delta = 0 at init (the identity), training with the two parameter
 * groups lowers the loss, the L0 penalty's gradient comes with the weight's backward, merge == unmerged,
 * disabled == base, finalize() reaches the target density, the sparse save (I64 indices + F32 values +
 * shape) loads back to the same outputs, and corrupted adapters are clear errors.
 */
import * as fs from 'fs';
import * as path from 'path';
import {
  AdamW, DiffPrunedLinear, DiffPruningConfig, diffPruningParamGroups, diffPruningPenalty, finalizeDiffPruning, full, tidy,
  getPeftModel, noGrad, PeftModel, randn, saveSafetensors, SafetensorsFile, setBackend, sumAll, zeros,
} from '../../lib';
import { diffPrunedWeight } from '../../lib/ops/diff_prune/op';
import { forward, inputsOf, openGolden } from '../helpers/golden';
import { loadFamily, logitsOf, tempDir } from '../helpers/peft_run';

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

/**
 * Trainable counts by hand. llama tiny, q_proj (32 x 32) and v_proj (16 x 32), per-entry gates: delta and
 * log_alpha each 1024 + 512 per layer -> 2 x 1536 x 2 layers = 6,144.
 * gpt2 tiny, every Conv1D (c_attn 32 x 96, attn.c_proj 32 x 32, c_fc 32 x 128, mlp.c_proj 128 x 32), structured:
 * deltas 3072 + 1024 + 4096 + 4096 = 12,288 per block x 2 = 24,576, plus one log_alpha per tensor (8) -> 24,584.
 * bert tiny, 'all' linear layers except the classifier (query/key/value/attention.output.dense 4 x 1024,
 * intermediate 1536, output 1536 -> 7,168 per layer x 2 = 14,336, pooler 1024 -> 15,360 deltas), structured
 * (13 gates: 6 per layer + the pooler), classifier copy 99 -> 15,472.
 */
const CASES = [
  ['llama', { targetModules: ['q_proj', 'v_proj'] }, 6144, 3072],
  ['gpt2', { structured: true }, 24584, 8],
  ['bert', { targetModules: 'all', structured: true, modulesToSave: ['classifier'] }, 15472, 13],
] as const;

describe.each(['js', 'native'] as const)('diff pruning on %s', (backendName) => {
  beforeAll(() => setBackend(backendName));

  it.each(CASES)('on %s with %j: %d trainable; identity, training, merge, disable, finalize, sparse save/load', (family, fields, expected, gates) => {
    const golden = openGolden(family);
    const inputs = inputsOf(family, golden);
    const config = new DiffPruningConfig({ ...fields, targetDensity: 0.05, l0Lambda: 1e-3 } as never);
    const peft = getPeftModel(loadFamily(family), config);
    expect(peft.getNbTrainableParameters().trainable).toBe(expected);
    // delta = 0: the base model's outputs in training (random gates) and eval alike.
    expect(logitsOf(peft, inputs)).toAllClose(golden.tensor('logits'), { rtol: 1e-4, atol: 1e-5 });
    peft.eval();
    const base = logitsOf(peft, inputs);
    expect(base).toAllClose(golden.tensor('logits'), { rtol: 1e-4, atol: 1e-5 });
    // The penalty of the last forward: one sigmoid(log_alpha - beta log(-gamma / zeta)) = sigmoid(5) per gate.
    expect(diffPruningPenalty(peft)).toBeCloseTo(gates * sigmoid(5), 2);

    peft.train();
    const frozen = peft.model.namedParameters().filter(([, t]) => !t.requiresGrad).map(([n, t]) => [n, t.toFloat32Array()] as const);
    const groups = diffPruningParamGroups(peft, { lr: 1e-2 });
    expect(groups[1].lr).toBe(config.alphaLearningRate);
    expect(groups[0].params.length + groups[1].params.length).toBe(peft.trainableParameters().length);
    const alphaBefore = groups[1].params[0].toFloat32Array();
    const opt = new AdamW(groups.map((g) => ({ ...g, weightDecay: 0 })));
    const trained: number[] = [];
    for (let i = 0; i < 6; i++) {
      opt.zeroGrad();
      trained.push(tidy(() => {
        const loss = forward(peft.model as never, inputs).loss;
        loss.backward();
        return loss.item();
      }));
      opt.step();
    }
    expect(trained[5]).toBeLessThan(trained[0]);
    expect(groups[1].params[0]).not.toAllClose(alphaBefore, { atol: 1e-6 }); // log_alpha trains (the penalty pulls it down)
    for (const [n, before] of frozen) expect(peft.model.getParameter(n)).toAllClose(before, { atol: 0, rtol: 0 });

    peft.eval();
    const adapted = logitsOf(peft, inputs);
    expect(() => expect(adapted).toAllClose(base, { atol: 1e-4 })).toThrow();
    expect(peft.disableAdapter(() => logitsOf(peft, inputs))).toAllClose(base, { atol: 1e-6 });
    peft.merge();
    expect(logitsOf(peft, inputs)).toAllClose(adapted, { atol: 1e-5, rtol: 1e-5 });
    peft.unmerge();
    for (const [n, before] of frozen) expect(peft.model.getParameter(n)).toAllClose(before, { atol: 1e-6, rtol: 1e-6 });

    // Saved before finalize: the effective delta (z * delta with eval gates), loaded as fixed gates.
    const early = tempDir('diff-early');
    peft.savePretrained(early);
    expect(logitsOf(PeftModel.fromPretrained(loadFamily(family), early).eval() as PeftModel, inputs)).toAllClose(adapted, { atol: 1e-6 });

    finalizeDiffPruning(peft);
    const layers = peft.model.namedModules().filter(([, m]) => m instanceof DiffPrunedLinear) as [string, DiffPrunedLinear][];
    for (const [, l] of layers) {
      const d = l.diff_delta.get('default');
      const nnz = d.toFloat32Array().filter((v) => v !== 0).length;
      expect(nnz).toBeLessThanOrEqual(Math.round(0.05 * d.size));
      expect(l.diff_log_alpha.get('default').requiresGrad).toBe(false);
    }
    const final = logitsOf(peft, inputs);
    const dir = tempDir('diff');
    peft.savePretrained(dir);
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({ peft_type: 'DIFF_PRUNING', target_density: 0.05, l0_lambda: 1e-3, log_alpha_init: 5, gamma: -1.5, zeta: 1.5, beta: 1 });
    const st = SafetensorsFile.open(path.join(dir, 'adapter_model.safetensors'));
    const [firstPath, firstLayer] = layers[0];
    const w = firstLayer.base_layer.weight;
    expect(st.info(`base_model.model.${firstPath}.diff_delta.indices`).dtype).toBe('I64');
    expect(st.info(`base_model.model.${firstPath}.diff_delta.values`).dtype).toBe('F32');
    expect(st.info(`base_model.model.${firstPath}.diff_delta.values`).shape[0]).toBeLessThanOrEqual(Math.round(0.05 * w.size));
    expect(Array.from(st.loadRaw(`base_model.model.${firstPath}.diff_delta.shape`).data as BigInt64Array, Number)).toEqual(w.shape);
    st.close();
    const reloaded = PeftModel.fromPretrained(loadFamily(family), dir);
    // (1e-5: peft's W went through merge and unmerge, which restore it to rounding, not bit for bit.)
    reloaded.eval();
    expect(logitsOf(reloaded, inputs)).toAllClose(final, { atol: 1e-5, rtol: 1e-5 });
    reloaded.train();
    expect(logitsOf(reloaded, inputs)).toAllClose(final, { atol: 1e-5, rtol: 1e-5 }); // finalized gates are fixed in training too
    golden.file.close();
  });
});

describe('diff pruning: the penalty gradient, configs and corrupted adapters', () => {
  beforeAll(() => setBackend('native'));

  it('log_alpha\'s gradient carries lambda * dPenalty/dlog_alpha (delta = 0 leaves only that term)', () => {
    for (const structured of [false, true]) {
      const w = randn([3, 17]), delta = zeros([3, 17]);
      const la = full(structured ? [1] : [3, 17], 2);
      delta.requiresGrad = true;
      la.requiresGrad = true;
      const { weight, penalty } = diffPrunedWeight(w, delta, la, { training: true, seed: 9, lambda: 0.5 });
      const gates = structured ? 1 : 51;
      const s = sigmoid(2);
      expect(penalty).toBeCloseTo(gates * s, 4);
      sumAll(weight).backward();
      expect(la.grad!).toAllClose(new Float32Array(gates).fill(0.5 * s * (1 - s)), { atol: 1e-6 });
      // d delta = dW' * z, z in [0, 1]; with log_alpha 2 most gates are open.
      const dd = delta.grad!.toFloat32Array();
      expect(dd.every((v) => v >= 0 && v <= 1)).toBe(true);
    }
  });

  it('bad configs are errors naming the field', () => {
    expect(() => new DiffPruningConfig({ targetDensity: 2 })).toThrow(/targetDensity must be in \[0, 1\], got 2/);
    expect(() => new DiffPruningConfig({ gamma: 0.5 })).toThrow(/gamma must be negative/);
    expect(() => new DiffPruningConfig({ beta: 0 })).toThrow(/beta must be positive/);
    expect(() => new DiffPruningConfig({ structured: 1 as never })).toThrow(/structured must be a boolean/);
    const c = new DiffPruningConfig();
    expect([c.gamma, c.zeta, c.beta, c.logAlphaInit]).toEqual([-1.5, 1.5, 1, 5]);
  });

  it('a truncated file, a missing key, a wrong shape, float indices, out-of-range indices and a bad config are clear errors', () => {
    const peft = getPeftModel(loadFamily('llama'), new DiffPruningConfig({ targetModules: ['q_proj'] }));
    noGrad(() => {
      for (const [, m] of peft.model.namedModules()) if (m instanceof DiffPrunedLinear) m.setFinalized('default', Float32Array.from({ length: 1024 }, (_, i) => (i % 7 === 0 ? i / 100 : 0)));
    });
    const dir = tempDir('diff-bad');
    peft.savePretrained(dir);
    const weights = path.join(dir, 'adapter_model.safetensors');
    const good = fs.readFileSync(weights);
    const reload = () => PeftModel.fromPretrained(loadFamily('llama'), dir);
    expect(() => reload()).not.toThrow();

    fs.writeFileSync(weights, good.subarray(0, good.length - 3));
    expect(() => reload()).toThrow(/adapter_model\.safetensors/);

    const entries = (() => {
      fs.writeFileSync(weights, good);
      const f = SafetensorsFile.open(weights);
      const out: Record<string, { dtype: string; shape: number[]; data: unknown }> = {};
      for (const n of f.names()) out[n] = f.loadRaw(n) as never;
      f.close();
      return out;
    })();
    const P = 'base_model.model.model.layers.0.self_attn.q_proj.diff_delta';
    const write = (edit: (e: typeof entries) => void) => {
      const copy = { ...entries };
      edit(copy);
      saveSafetensors(weights, copy as never);
    };
    write((e) => { delete e[`${P}.values`]; });
    expect(() => reload()).toThrow(/missing 1 key\(s\): 'model\.layers\.0\.self_attn\.q_proj\.diff_delta\.values'/);
    write((e) => { e[`${P}.shape`] = { dtype: 'I64', shape: [2], data: BigInt64Array.from([32n, 16n]) }; });
    expect(() => reload()).toThrow(/diff_delta\.shape' says \[32, 16\], the model's weight is \[32, 32\]/);
    write((e) => { e[`${P}.indices`] = { dtype: 'F32', shape: [146], data: new Float32Array(146) }; });
    expect(() => reload()).toThrow(/diff_delta\.indices' must be an integer tensor/);
    write((e) => { const idx = BigInt64Array.from(e[`${P}.indices`].data as BigInt64Array); idx[idx.length - 1] = 5000n; e[`${P}.indices`] = { dtype: 'I64', shape: [idx.length], data: idx }; });
    expect(() => reload()).toThrow(/entry 145 is 5000; indices must increase and lie in \[0, 1024\)/);
    write((e) => { e[`${P}.values`] = { dtype: 'F32', shape: [3], data: new Float32Array(3) }; });
    expect(() => reload()).toThrow(/diff_delta\.values' must be \[146\]/);
    fs.writeFileSync(weights, good);
    const cfg = path.join(dir, 'adapter_config.json');
    fs.writeFileSync(cfg, fs.readFileSync(cfg, 'utf8').replace('"target_density": 0.005', '"target_density": -1'));
    expect(() => reload()).toThrow(/targetDensity must be in \[0, 1\], got -1/);
  });
});
