/**
 * AdaLoRA (HF peft's AdaLoraConfig / SVDLinear / RankAllocator / AdaLoraModel): adapter folders in HF's
 * layout written by test/fixtures/peft/make_adalora_fixture.py load to torch's logits, loss (with the
 * orthogonal regulariser) and gradients; save -> load is byte-identical (a rank_pattern folder too);
 * merged == unmerged; identity at init; HF's names, shapes and trainable counts; the rank allocator's
 * budgets, masks and rank patterns step by step equal the transcription's; the Trainer allocates; bad input.
 */
import * as fs from 'fs';
import * as path from 'path';
import {
  AdaLoraConfig, fromArray, getPeftModel, LlamaConfig, LlamaForCausalLM, LoraConfig, noGrad, orthogonalRegularizer, PeftModel,
  peftConfigFromJSON, rankAllocatorOf, SafetensorsFile, saveSafetensors, setBackend, setLoraWarningHandler, SVDLinear, Trainer, type Tensor,
} from '../../lib';
import { withoutInit } from '../../lib/nn/init';
import { copyInto } from '../../lib/nn/module';
import { inputsOf, openGolden } from '../helpers/golden';
import { checkFixture, checkIdentityAtInit, expectedLogits, load, logitsOf, PEFT_FIXTURES, rawEntries, tmp } from './vera_lycoris_helpers';

beforeAll(() => setBackend('native'));

function readAll(file: string): Map<string, Tensor> {
  const st = SafetensorsFile.open(file);
  try {
    return new Map(st.list().map((i) => [i.name, st.load(i.name)]));
  } finally {
    st.close();
  }
}

const layerAt = (peft: PeftModel, p: string) => peft.model.getSubmodule(p) as SVDLinear;

describe.each(['native', 'js'] as const)('HF-layout AdaLoRA folders on %s', (backendName) => {
  beforeAll(() => setBackend(backendName));
  afterAll(() => setBackend('native'));

  it('adalora_llama: torch\'s logits, byte-identical round trip, merged == unmerged', () => {
    const peft = checkFixture('adalora_llama', 'llama');
    const layer = layerAt(peft, 'model.layers.1.mlp.down_proj');
    expect(layer).toBeInstanceOf(SVDLinear);
    expect(layer.specs.get('default')).toMatchObject({ r: 4, alpha: 16, scaling: 16 });
    expect(layer.ranknum.get('default').toFloat32Array()).toEqual(new Float32Array([4]));
  });

  it('adalora_pattern_llama: the rank_pattern resizes the layers (one to rank 0) before loading; round trip byte-identical', () => {
    const peft = checkFixture('adalora_pattern_llama', 'llama');
    const ranks = ['0.self_attn.q_proj', '0.self_attn.v_proj', '1.self_attn.q_proj', '1.self_attn.v_proj']
      .map((p) => layerAt(peft, `model.layers.${p}`))
      .map((l) => [l.specs.get('default')!.r, l.ranknum.get('default').item(), l.lora_A.get('default').shape[0]]);
    // HF keeps ranknum = init_r on a resized layer (the scale stays), 0 on a layer pruned to rank 0.
    expect(ranks).toEqual([[3, 4, 3], [1, 4, 1], [4, 4, 4], [0, 0, 0]]);
  });

  it('adalora_gpt2: Conv1D layers (fan_in_fan_out), torch\'s logits, round trip, merge', () => {
    const peft = checkFixture('adalora_gpt2', 'gpt2');
    expect(layerAt(peft, 'transformer.h.0.attn.c_attn').fanInFanOut).toBe(true);
  });

  it('the training loss adds orth_reg_weight * the regulariser; loss, regulariser and gradients as torch\'s', () => {
    const dir = path.join(PEFT_FIXTURES, 'adalora_llama');
    const peft = PeftModel.fromPretrained(load('llama'), dir, { isTrainable: true });
    const expected = readAll(path.join(dir, 'expected.safetensors'));
    const golden = openGolden('llama');
    try {
      const out = peft.forward(inputsOf('llama', golden)) as { logits: Tensor; loss: Tensor };
      expect(out.loss.item()).toBeCloseTo(expected.get('loss')!.item(), 4);
      const reg = noGrad(() => orthogonalRegularizer(peft, 'default')!);
      expect(reg.item()).toBeCloseTo(expected.get('orth_reg')!.item(), 4);
      out.loss.backward();
      for (const [p, t] of peft.adapterParameters('default')) {
        const key = `base_model.model.${p.replace(/\.default$/, '')}`;
        expect(t.grad).not.toBeNull();
        expect(t.grad!).toAllClose(expected.get(`grad.${key}`)!, { atol: 1e-4, rtol: 1e-3 });
      }
      // and without the adapter training (inference mode), HF's forward has no trainable adapter: no regulariser
      const frozen = PeftModel.fromPretrained(load('llama'), dir);
      const plain = noGrad(() => (frozen.forward(inputsOf('llama', golden)) as { loss: Tensor }).loss.item());
      expect(plain).toBeCloseTo(expected.get('loss')!.item() - 0.3 * expected.get('orth_reg')!.item(), 4);
    } finally {
      golden.file.close();
    }
  });
});

describe('AdaLoRA adapters as HF peft makes them', () => {
  it('keys and shapes: lora_A [r, in], lora_E [r, 1], lora_B [out, r], no ranknum; config keys (deltaT spelled as HF)', () => {
    const peft = getPeftModel(load('llama'), new AdaLoraConfig({ initR: 6, targetModules: ['v_proj'], totalStep: 10 }));
    const dir = tmp();
    peft.savePretrained(dir);
    const e = rawEntries(path.join(dir, 'adapter_model.safetensors'));
    const pre = 'base_model.model.model.layers.0.self_attn.v_proj';
    expect(Object.fromEntries([...e].filter(([k]) => k.startsWith(pre)).map(([k, v]) => [k.slice(pre.length + 1), v.shape]))).toEqual({
      lora_A: [6, 32], lora_B: [16, 6], lora_E: [6, 1],
    });
    expect(e.size).toBe(6);
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
    expect(config).toMatchObject({ peft_type: 'ADALORA', target_r: 8, init_r: 6, tinit: 0, tfinal: 0, deltaT: 1, beta1: 0.85, beta2: 0.85,
      orth_reg_weight: 0.5, total_step: 10, rank_pattern: null, lora_alpha: 8, target_modules: ['v_proj'], inference_mode: true });
    expect('delta_t' in config).toBe(false);
    // the ranknum parameter: [1] holding init_r, frozen
    const ranknum = layerAt(peft, 'model.layers.0.self_attn.v_proj').ranknum.get('default');
    expect([ranknum.shape, ranknum.item(), ranknum.requiresGrad]).toEqual([[1], 6, false]);
    expect(peft.model.namedParameters().map(([p]) => p).filter((p) => p.includes('layers.0.self_attn.v_proj.'))).toEqual([
      'model.layers.0.self_attn.v_proj.base_layer.weight', 'model.layers.0.self_attn.v_proj.lora_A.default',
      'model.layers.0.self_attn.v_proj.lora_B.default', 'model.layers.0.self_attn.v_proj.lora_E.default',
      'model.layers.0.self_attn.v_proj.ranknum.default',
    ]);
  });

  it('a file of an older peft that saved `<module>.ranknum` loads (the value goes into ranknum)', () => {
    const src = path.join(PEFT_FIXTURES, 'adalora_llama');
    const dir = tmp();
    fs.copyFileSync(path.join(src, 'adapter_config.json'), path.join(dir, 'adapter_config.json'));
    const tensors = readAll(path.join(src, 'adapter_model.safetensors'));
    const withRanknum: Record<string, Tensor> = Object.fromEntries(tensors);
    for (const k of tensors.keys()) if (k.endsWith('.lora_A')) withRanknum[k.replace(/lora_A$/, 'ranknum')] = fromArray([4], [1]);
    withRanknum['base_model.model.model.layers.0.self_attn.q_proj.ranknum'] = fromArray([2], [1]);
    saveSafetensors(path.join(dir, 'adapter_model.safetensors'), withRanknum, { format: 'pt' });
    const peft = PeftModel.fromPretrained(load('llama'), dir);
    expect(layerAt(peft, 'model.layers.0.self_attn.q_proj').ranknum.get('default').item()).toBe(2);
    expect(layerAt(peft, 'model.layers.0.self_attn.v_proj').ranknum.get('default').item()).toBe(4);
    // ranknum 2 instead of 4 doubles that layer's term: the logits move
    expect(() => expect(logitsOf(peft.model, 'llama')).toAllClose(expectedLogits(src), { atol: 1e-3 })).toThrow();
  });

  it('is the identity at init (lora_E = 0, A and B ~ N(0, 0.02^2)), and not with initLoraWeights false', () => {
    checkIdentityAtInit((m) => getPeftModel(m, new AdaLoraConfig({ targetModules: ['q_proj', 'down_proj'], totalStep: 10 })));
    const peft = getPeftModel(load('llama'), new AdaLoraConfig({ targetModules: ['q_proj'], totalStep: 10 }));
    const a = layerAt(peft, 'model.layers.0.self_attn.q_proj').lora_A.get('default').toFloat32Array();
    const std = Math.sqrt(a.reduce((s, v) => s + v * v, 0) / a.length);
    expect(std).toBeGreaterThan(0.015);
    expect(std).toBeLessThan(0.025);
    const random = getPeftModel(load('llama'), new AdaLoraConfig({ targetModules: ['q_proj'], totalStep: 10, initLoraWeights: false }));
    expect(layerAt(random, 'model.layers.0.self_attn.q_proj').lora_E.get('default').toFloat32Array().some((v) => v !== 0)).toBe(true);
  });

  it('trainable count of a default AdaLoraConfig on GPT-2 small dimensions (as Llama blocks): HF\'s shapes', () => {
    const model = withoutInit(() => new LlamaForCausalLM(new LlamaConfig({ hiddenSize: 768, intermediateSize: 3072, numHiddenLayers: 12, numAttentionHeads: 12, numKeyValueHeads: 12, vocabSize: 64 })));
    const all = model.numParameters();
    const peft = getPeftModel(model, new AdaLoraConfig({ totalStep: 100 }));
    // HF: default targets q_proj, v_proj ([768, 768]); lora_A [12, 768] + lora_E [12, 1] + lora_B [768, 12]
    // trainable per module, and ranknum [1], a frozen parameter, in the total.
    const perModule = 12 * 768 + 12 + 768 * 12;
    expect(peft.getNbTrainableParameters()).toEqual({ trainable: 24 * perModule, all: all + 24 * (perModule + 1) });
    expect(peft.peftConfig.get('default')!.toJSON().target_modules).toEqual(['q_proj', 'v_proj']);
    peft.dispose();
  });

  it('updateAndAllocate is an error on a model without a rank allocator, and HF\'s add_weighted_adapter is refused', () => {
    const lora = getPeftModel(load('llama'), new LoraConfig({ targetModules: ['q_proj'] }));
    expect(() => lora.updateAndAllocate(0)).toThrow(/updateAndAllocate: this model has no rank allocation \(LORA adapters/);
    const frozen = PeftModel.fromPretrained(load('llama'), path.join(PEFT_FIXTURES, 'adalora_llama'));
    expect(() => frozen.updateAndAllocate(0)).toThrow(/no rank allocation/);
    expect(() => frozen.addWeightedAdapter(['default'], [1], 'w', 'linear')).toThrow(/ADALORA adapters cannot be combined/);
  });
});

describe.each(['native', 'js'] as const)('RankAllocator on %s: the transcription\'s budgets, masks and rank patterns step by step', (backendName) => {
  beforeAll(() => setBackend(backendName));
  afterAll(() => setBackend('native'));

  it('adalora_schedule_llama', () => {
    const dir = path.join(PEFT_FIXTURES, 'adalora_schedule_llama');
    const plan = JSON.parse(fs.readFileSync(path.join(dir, 'schedule.json'), 'utf8'));
    const data = readAll(path.join(dir, 'schedule.safetensors'));
    const config = peftConfigFromJSON(plan.config) as AdaLoraConfig;
    const peft = getPeftModel(load('llama'), config);
    const allocator = rankAllocatorOf(peft)!;
    expect([allocator.initBgt, allocator.targetBgt]).toEqual([plan.init_bgt, plan.target_bgt]);
    const params = new Map(peft.model.namedParameters());
    let masks = 0, written = 0, compared = 0;
    for (const s of plan.steps) {
      for (const [p, t] of params) {
        const given = data.get(`step${s.step}.${p}`);
        if (!given) continue;
        written++;
        noGrad(() => {
          t.grad?.dispose();
          t.grad = fromArray(data.get(`step${s.step}.${p}.grad`)!.toFloat32Array(), t.shape);
          const v = fromArray(given.toFloat32Array(), t.shape);
          copyInto(t, v);
          v.dispose();
        });
      }
      expect({ step: s.step, ...allocator.budgetSchedule(s.step) }).toEqual({ step: s.step, budget: s.budget, maskInd: s.mask_ind });
      peft.updateAndAllocate(s.step);
      for (const [p, t] of params) {
        const after = data.get(`after${s.step}.${p}`);
        if (!after) continue;
        expect({ step: s.step, p, e: [...t.toFloat32Array()] }).toEqual({ step: s.step, p, e: [...after.toFloat32Array()] });
        compared++;
      }
      const pattern = config.rankPattern;
      const ranks = pattern === null ? null : Object.fromEntries(Object.entries(pattern).map(([k, v]) => [k, v.filter(Boolean).length]));
      expect({ step: s.step, ranks, pattern }).toEqual({ step: s.step, ranks: s.ranks, pattern: s.rank_pattern });
      if (s.rank_pattern) masks++;
    }
    // 4 layers x (A, B, E) written and 4 lora_E compared at each of the 10 steps; masks from step 2 on
    expect([written, compared, masks]).toEqual([10 * 12, 10 * 4, 8]);
    for (const t of params.values()) {
      t.grad?.dispose();
      t.grad = null;
    }
  });
});

describe('AdaLoRA through the Trainer', () => {
  it('calls updateAndAllocate after each step: ranks shrink to target_r on average; the saved adapter, cut by its rank_pattern, gives the same logits', () => {
    const config = new AdaLoraConfig({ targetModules: ['q_proj', 'v_proj'], initR: 4, targetR: 2, tinit: 1, tfinal: 1, deltaT: 1, totalStep: 6 });
    const peft = getPeftModel(load('llama'), config);
    const calls: number[] = [];
    const bound = peft.rankAllocation()!;
    jest.spyOn(peft, 'rankAllocation').mockImplementation(() => (step: number) => {
      calls.push(step);
      bound(step);
    });
    const data = Array.from({ length: 12 }, (_, i) => ({ inputIds: Array.from({ length: 8 }, (_, j) => (i * 7 + j * 3) % 97) }));
    new Trainer(peft, { trainDataset: data, batchSize: 2, maxSteps: 6, lr: 1e-2, progress: false }).train();
    expect(calls).toEqual([0, 1, 2, 3, 4, 5]);
    const pattern = config.rankPattern!;
    const kept = Object.values(pattern).map((v) => v.filter(Boolean).length);
    expect(kept.length).toBe(4);
    expect(kept.reduce((a, b) => a + b, 0)).toBe(2 * 4);  // target_bgt = target_r * layers, from 16
    for (const [key, keep] of Object.entries(pattern)) {
      const e = peft.model.getParameter(key).toFloat32Array();
      keep.forEach((k, i) => { if (!k) expect(e[i]).toBe(0); });
    }
    peft.eval();
    const logits = logitsOf(peft.model, 'llama');
    const dir = tmp();
    peft.savePretrained(dir);
    const saved = rawEntries(path.join(dir, 'adapter_model.safetensors'));
    for (const [key, keep] of Object.entries(JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8')).rank_pattern as Record<string, boolean[]>))
      expect(saved.get(`base_model.model.${key}`)!.shape).toEqual([keep.filter(Boolean).length, 1]);
    const again = PeftModel.fromPretrained(load('llama'), dir);
    expect(logitsOf(again.model, 'llama')).toAllClose(logits, { atol: 1e-5, rtol: 1e-5 });
  });

  it('resumes from a checkpoint taken after masking began: checkpoints keep the full-rank adapters (pruned E are zeros)', () => {
    const make = () => getPeftModel(load('llama'), new AdaLoraConfig({ targetModules: ['q_proj', 'v_proj'], initR: 4, targetR: 2, tinit: 1, tfinal: 1, deltaT: 1, totalStep: 8 }));
    const data = Array.from({ length: 16 }, (_, i) => ({ inputIds: Array.from({ length: 8 }, (_, j) => (i * 5 + j * 3) % 97) }));
    const outputDir = tmp();
    const opts = { trainDataset: data, batchSize: 2, lr: 1e-2, progress: false, outputDir, saveSteps: 4 };
    const first = make();
    new Trainer(first, { ...opts, maxSteps: 8 }).train();
    const ckpt = path.join(outputDir, 'checkpoint-4');
    const saved = rawEntries(path.join(ckpt, 'adapter_model.safetensors'));
    expect(saved.get('base_model.model.model.layers.0.self_attn.q_proj.lora_E')!.shape).toEqual([4, 1]);
    expect(JSON.parse(fs.readFileSync(path.join(ckpt, 'adapter_config.json'), 'utf8')).rank_pattern).toBeNull();
    const masked = (first.peftConfig.get('default') as AdaLoraConfig).rankPattern;
    expect(masked).not.toBeNull();  // the live config keeps its pattern through the checkpoint
    const resumed = make();
    new Trainer(resumed, { ...opts, maxSteps: 8, resumeFromCheckpoint: ckpt }).train();
    const kept = Object.values((resumed.peftConfig.get('default') as AdaLoraConfig).rankPattern!).map((v) => v.filter(Boolean).length);
    expect(kept.reduce((a, b) => a + b, 0)).toBe(2 * 4);
  });
});

describe('AdaLoRA in Trainer checkpoints', () => {
  const make = () => getPeftModel(load('llama'), new AdaLoraConfig({ targetModules: ['q_proj', 'v_proj'], initR: 4, targetR: 2, tinit: 1, tfinal: 2, deltaT: 2, totalStep: 10 }));
  const data = Array.from({ length: 20 }, (_, i) => ({ inputIds: Array.from({ length: 8 }, (_, j) => (i * 7 + j * 5) % 97) }));
  const adapterWeights = (peft: PeftModel) => new Map(peft.model.namedParameters().filter(([p]) => /lora_[ABE]\./.test(p)).map(([p, t]) => [p, t.toFloat32Array()]));
  const pattern = (peft: PeftModel) => JSON.stringify((peft.peftConfig.get('default') as AdaLoraConfig).rankPattern);

  it('a run resumed mid-budgeting equals the uninterrupted run bit for bit, importance averages included; without the file they restart from zero', () => {
    const outputDir = tmp();
    const opts = { trainDataset: data, batchSize: 2, lr: 1e-2, progress: false, outputDir, saveSteps: 4 };
    const whole = make();
    new Trainer(whole, { ...opts, maxSteps: 10 }).train();
    const ckpt = path.join(outputDir, 'checkpoint-4');
    expect(fs.existsSync(path.join(ckpt, 'adalora_allocator.safetensors'))).toBe(true);
    expect(rawEntries(path.join(ckpt, 'adalora_allocator.safetensors')).has('model.layers.0.self_attn.q_proj.lora_E.default.exp_avg_unc')).toBe(true);

    // Each run writes checkpoint-8 (budgeting still on: the averages are live there; the last step resets them).
    const averagesAt8 = (dir: string) => fs.readFileSync(path.join(dir, 'checkpoint-8', 'adalora_allocator.safetensors'));
    const resumeFrom = (dir: string) => {
      const peft = make(), out = tmp();
      new Trainer(peft, { ...opts, outputDir: out, maxSteps: 10, resumeFromCheckpoint: dir }).train();
      return { peft, out };
    };
    const same = (a: Map<string, Float32Array>, b: Map<string, Float32Array>) =>
      a.size === b.size && [...a].every(([k, v]) => b.has(k) && Buffer.from(v.buffer, v.byteOffset, v.byteLength).equals(Buffer.from(b.get(k)!.buffer, b.get(k)!.byteOffset, b.get(k)!.byteLength)));
    const resumed = resumeFrom(ckpt);
    expect(pattern(resumed.peft)).toBe(pattern(whole));
    expect(same(adapterWeights(resumed.peft), adapterWeights(whole))).toBe(true);
    expect(rawEntries(path.join(outputDir, 'checkpoint-8', 'adalora_allocator.safetensors')).size).toBe(3 * 2 * 2 * 2);  // A, B, E of q and v in 2 layers, two averages each
    expect(averagesAt8(resumed.out).equals(averagesAt8(outputDir))).toBe(true);

    // the control: the same checkpoint without the file restarts the averages from zero, and they differ at step 8
    const bare = tmp();
    fs.cpSync(ckpt, bare, { recursive: true });
    fs.rmSync(path.join(bare, 'adalora_allocator.safetensors'));
    expect(averagesAt8(resumeFrom(bare).out).equals(averagesAt8(outputDir))).toBe(false);
  });

  it('a bad allocator file is an error naming the file and the key', () => {
    const outputDir = tmp();
    new Trainer(make(), { trainDataset: data, batchSize: 2, lr: 1e-2, progress: false, outputDir, saveSteps: 2, maxSteps: 4 }).train();
    const ckpt = path.join(outputDir, 'checkpoint-2'), file = path.join(ckpt, 'adalora_allocator.safetensors');
    const tensors = rawEntries(file);
    const [first] = [...tensors.keys()];
    saveSafetensors(file, { [first.replace('exp_avg_unc', 'exp_avg_x').replace('exp_avg_ipt', 'exp_avg_x')]: fromArray([1, 2], [2]) }, { format: 'pt' });
    expect(() => new Trainer(make(), { trainDataset: data, batchSize: 2, progress: false, outputDir: tmp(), maxSteps: 4, resumeFromCheckpoint: ckpt }).train())
      .toThrow(/adalora_allocator\.safetensors.*exp_avg_x' is not an importance average of an AdaLoRA parameter/);
    saveSafetensors(file, { 'model.layers.0.self_attn.q_proj.lora_E.default.exp_avg_ipt': fromArray([1, 2], [2]) }, { format: 'pt' });
    expect(() => new Trainer(make(), { trainDataset: data, batchSize: 2, progress: false, outputDir: tmp(), maxSteps: 4, resumeFromCheckpoint: ckpt }).train())
      .toThrow(/adalora_allocator\.safetensors.*has 2 values, the parameter has 4/);
  });
});

describe('bad AdaLoRA input is an error naming the field', () => {
  it('in the constructor', () => {
    expect(() => new AdaLoraConfig()).toThrow(/AdaLoraConfig: totalStep: AdaLoRA does not work when totalStep is null, supply an integer > 0/);
    expect(() => new AdaLoraConfig({ totalStep: 0 })).toThrow(/totalStep/);
    expect(() => new AdaLoraConfig({ totalStep: 10, orthRegWeight: -1 })).toThrow(/orthRegWeight should be greater than or equal to 0, got -1/);
    expect(() => new AdaLoraConfig({ totalStep: 10, tinit: 5, tfinal: 5 })).toThrow(/tinit = 5, tfinal = 5, totalStep = 10: .*budgeting phase/);
    expect(() => new AdaLoraConfig({ totalStep: 10, useDora: true })).toThrow(/useDora: ADALORA does not support DoRA/);
    expect(() => new AdaLoraConfig({ totalStep: 10, initR: -1 })).toThrow(/initR must be an integer >= 0, got -1/);
    expect(() => new AdaLoraConfig({ totalStep: 10, targetR: 1.5 })).toThrow(/targetR must be an integer/);
    expect(() => new AdaLoraConfig({ totalStep: 10, deltaT: 0 })).toThrow(/deltaT must be an integer >= 1, got 0/);
    expect(() => new AdaLoraConfig({ totalStep: 10, beta1: 'x' as never })).toThrow(/beta1 must be a number/);
    expect(() => new AdaLoraConfig({ totalStep: 10, loraDropout: 1 })).toThrow(/loraDropout must be in \[0, 1\)/);
    expect(() => new AdaLoraConfig({ totalStep: 10, targetModules: 'q_proj', layersToTransform: 0 })).toThrow(/layersToTransform cannot be used when targetModules is a str/);
    expect(() => new AdaLoraConfig({ totalStep: 10, rankPattern: { 'a.lora_E': [1, 0] as never } })).toThrow(/rankPattern\['a\.lora_E'\] must be a list of booleans/);
    const warnings: string[] = [];
    const before = setLoraWarningHandler((m) => warnings.push(m));
    try {
      new AdaLoraConfig({ totalStep: 10, r: 4 });
    } finally {
      setLoraWarningHandler(before);
    }
    expect(warnings).toEqual([expect.stringMatching(/`r` is not used in AdaLora/)]);
  });

  it('on the model: beta out of (0, 1) for a trained adapter, two trainable adapters, unsupported targets, a budget that cannot shrink', () => {
    expect(() => getPeftModel(load('llama'), new AdaLoraConfig({ totalStep: 10, beta1: 1 }))).toThrow(/AdaLoraConfig: beta1 must be in \(0, 1\) to train, got 1/);
    const peft = getPeftModel(load('llama'), new AdaLoraConfig({ totalStep: 10 }));
    expect(() => peft.addAdapter('second', new AdaLoraConfig({ totalStep: 10 }))).toThrow(/supports only 1 trainable adapter/);
    peft.addAdapter('frozen', new AdaLoraConfig({ totalStep: 10, inferenceMode: true }));
    expect(() => getPeftModel(load('llama'), new AdaLoraConfig({ totalStep: 10, targetModules: ['embed_tokens'] }))).toThrow(/AdaLoRA: target module 'model\.embed_tokens' \(Embedding\) is not supported/);
    // target_r = init_r: the first mask would prune nothing (torch.kthvalue with k = 0 fails in HF)
    const flat = getPeftModel(load('llama'), new AdaLoraConfig({ totalStep: 10, initR: 2, targetR: 2, targetModules: ['q_proj'] }));
    const golden = openGolden('llama');
    try {
      (flat.forward(inputsOf('llama', golden)) as { loss: Tensor }).loss.backward();
    } finally {
      golden.file.close();
    }
    expect(() => flat.updateAndAllocate(1)).toThrow(/AdaLoraConfig: targetR 2 and initR 2 give a budget of 4 .* targetR must be below initR/);
  });

  it('in adapter_config.json: the file and the key named', () => {
    const dir = tmp();
    for (const f of fs.readdirSync(path.join(PEFT_FIXTURES, 'adalora_pattern_llama'))) fs.copyFileSync(path.join(PEFT_FIXTURES, 'adalora_pattern_llama', f), path.join(dir, f));
    const file = path.join(dir, 'adapter_config.json');
    const good = JSON.parse(fs.readFileSync(file, 'utf8'));
    const withField = (k: string, v: unknown) => fs.writeFileSync(file, JSON.stringify({ ...good, [k]: v }));
    withField('total_step', null);
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/adapter_config\.json: AdaLoraConfig: totalStep/);
    withField('deltaT', '2');
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/adapter_config\.json.*'deltaT' must be a number, got "2"/);
    withField('rank_pattern', { 'model.layers.0.self_attn.q_proj.lora_E': [1, 0, 1, 1] });
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/adapter_config\.json: AdaLoraConfig: rankPattern\['model\.layers\.0\.self_attn\.q_proj\.lora_E'\] must be a list of booleans/);
    withField('rank_pattern', { 'model.layers.0.self_attn.q_proj.lora_E': [true, false] });
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/rank_pattern\['model\.layers\.0\.self_attn\.q_proj\.lora_E'\] lists 2 triplets \(1 kept\), the layer has rank 4/);
    withField('rank_pattern', { 'model.layers.0.mlp.nope.lora_E': [true] });
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/rank_pattern key 'model\.layers\.0\.mlp\.nope\.lora_E' names no AdaLoRA layer/);
    withField('rank_pattern', null);  // the tensors were cut by the pattern
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/lora_A' has shape \[3, 32\], the model's adapter has \[4, 32\]/);
    withField('use_dora', true);
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/AdaLoraConfig: useDora: ADALORA does not support DoRA/);
  });

});
