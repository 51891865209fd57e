/**
 * OFT (HF peft's OFTConfig / oft.Linear at 5d602fd): adapter folders in HF's layout written by
 * test/fixtures/peft/make_oft_boft_fixture.py load to torch's logits (Neumann series, exact Cayley with
 * block_share and an adjusted r, coft's projection); save -> load is byte-identical; merged == unmerged;
 * identity at init; HF's parameter names, shapes and trainable counts; gradients; bad input.
 */
import * as fs from 'fs';
import * as path from 'path';
import {
  GPT2Config, GPT2LMHeadModel, getPeftModel, LlamaConfig, LlamaForCausalLM, noGrad, OFTConfig, OFTLinear, PeftModel, SafetensorsFile, setBackend,
  type Tensor,
} from '../../lib';
import { withoutInit } from '../../lib/nn/init';
import { checkGradients, interleavedRoundTrip } from './oft_boft_helpers';
import { checkFixture, checkIdentityAtInit, expectedLogits, load, logitsOf, PEFT_FIXTURES, rawEntries, tmp, trainSteps } from './vera_lycoris_helpers';

const quiet = () => jest.spyOn(console, 'warn').mockImplementation(() => undefined);

beforeAll(() => setBackend('native'));
afterEach(() => jest.restoreAllMocks());

describe.each(['native', 'js'] as const)('HF-layout OFT folders on %s', (backendName) => {
  beforeAll(() => setBackend(backendName));
  afterAll(() => setBackend('native'));

  it('oft_llama (Neumann series, blocks of 8): torch\'s logits, byte-identical round trip, merged == unmerged', () => {
    const peft = checkFixture('oft_llama', 'llama');
    const down = peft.model.getSubmodule('model.layers.0.mlp.down_proj') as OFTLinear;
    expect(down).toBeInstanceOf(OFTLinear);
    expect(down.specs.get('default')).toMatchObject({ r: 7, blockSize: 8, useCayleyNeumann: true, numCayleyNeumannTerms: 5 });
  });

  it('oft_exact_llama (exact Cayley, block_share, r = 3 adjusted to 2 with HF\'s warning)', () => {
    const warn = quiet();
    const peft = checkFixture('oft_exact_llama', 'llama');
    expect(warn).toHaveBeenCalledWith('peft: Invalid `r` (3)! Adjusted `r` to (2).');
    const k = peft.model.getSubmodule('model.layers.1.self_attn.k_proj') as OFTLinear;
    expect(k.specs.get('default')).toMatchObject({ r: 2, blockSize: 16, blockShare: true, useCayleyNeumann: false });
    expect(k.oft_R.get('default').weight.shape).toEqual([1, 120]);
    expect((peft.model.getSubmodule('model.layers.0.mlp.down_proj') as OFTLinear).specs.get('default')!.blockSize).toBe(28);
  });

  it('oft_coft_llama: coft projects the large blocks into the eps ball and writes them back, as HF', () => {
    const dir = path.join(PEFT_FIXTURES, 'oft_coft_llama');
    const peft = PeftModel.fromPretrained(load('llama'), dir);
    expect(logitsOf(peft.model, 'llama')).toAllClose(expectedLogits(dir), { atol: 1e-4, rtol: 1e-4 });
    const out = tmp();
    peft.savePretrained(out);
    const saved = SafetensorsFile.open(path.join(out, 'adapter_model.safetensors'));
    const expected = SafetensorsFile.open(path.join(dir, 'expected.safetensors'));
    const original = SafetensorsFile.open(path.join(dir, 'adapter_model.safetensors'));
    for (const key of saved.names()) {
      expect(saved.load(key)).toAllClose(expected.load(`projected.${key}`), { atol: 1e-6, rtol: 1e-5 });
      expect(() => expect(saved.load(key)).toAllClose(original.load(key), { atol: 1e-3 })).toThrow();
    }
    original.close();
    saved.close();
    expected.close();
    // projected weights are (nearly) fixed points: a second forward gives the same logits
    expect(logitsOf(peft.model, 'llama')).toAllClose(expectedLogits(dir), { atol: 1e-4, rtol: 1e-4 });
    peft.merge();
    expect(logitsOf(peft.model, 'llama')).toAllClose(expectedLogits(dir), { atol: 1e-4, rtol: 1e-4 });
  });
});

describe('OFT adapters as HF peft makes them', () => {
  it('keys and shapes: oft_R.weight [r, bs (bs - 1) / 2]; config keys', () => {
    const peft = getPeftModel(load('llama'), new OFTConfig({ oftBlockSize: 8, targetModules: ['v_proj', 'down_proj'] }));
    const dir = tmp();
    peft.savePretrained(dir);
    const e = rawEntries(path.join(dir, 'adapter_model.safetensors'));
    expect(Object.fromEntries([...e].map(([k, v]) => [k, v.shape]))).toEqual({
      'base_model.model.model.layers.0.self_attn.v_proj.oft_R.weight': [4, 28],
      'base_model.model.model.layers.1.self_attn.v_proj.oft_R.weight': [4, 28],
      'base_model.model.model.layers.0.mlp.down_proj.oft_R.weight': [7, 28],
      'base_model.model.model.layers.1.mlp.down_proj.oft_R.weight': [7, 28],
    });
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
    expect(config).toMatchObject({ peft_type: 'OFT', r: 0, oft_block_size: 8, module_dropout: 0, fan_in_fan_out: false, bias: 'none',
      init_weights: true, coft: false, eps: 6e-5, block_share: false, use_cayley_neumann: true, num_cayley_neumann_terms: 5, target_modules: ['v_proj', 'down_proj'] });
  });

  it('is the identity at init (oft_R = 0), and not with initWeights false', () => {
    const warn = quiet();
    // default oft_block_size 32: q/v one block of 32; HF's adjust_oft_parameters would apply to 56-wide layers
    checkIdentityAtInit((m) => getPeftModel(m, new OFTConfig()));
    checkIdentityAtInit((m) => getPeftModel(m, new OFTConfig({ r: 2, oftBlockSize: 0, useCayleyNeumann: false, targetModules: ['q_proj', 'down_proj'] })));
    expect(warn).not.toHaveBeenCalled();
    const peft = getPeftModel(load('llama'), new OFTConfig({ oftBlockSize: 8, targetModules: ['q_proj'], initWeights: false }));
    const w = (peft.model.getSubmodule('model.layers.0.self_attn.q_proj') as OFTLinear).oft_R.get('default').weight.toFloat32Array();
    expect(w.some((v) => v !== 0)).toBe(true);
    expect(Math.sqrt(w.reduce((a, v) => a + v * v, 0) / w.length)).toBeGreaterThan(0.05);
  });

  it('oft_block_size 48 on 56-wide down_proj: adjusted to 56 with HF\'s warning (adjust_oft_parameters)', () => {
    const warn = quiet();
    const peft = getPeftModel(load('llama'), new OFTConfig({ oftBlockSize: 48, targetModules: ['down_proj'] }));
    expect(warn).toHaveBeenCalledWith('peft: Invalid `oft_block_size` (48)! Adjusted `oft_block_size` to (56).');
    expect((peft.model.getSubmodule('model.layers.0.mlp.down_proj') as OFTLinear).specs.get('default')).toMatchObject({ r: 1, blockSize: 56 });
  });

  it.each([
    ['Neumann', { useCayleyNeumann: true }],
    ['exact Cayley', { useCayleyNeumann: false }],
    ['block_share', { blockShare: true, numCayleyNeumannTerms: 7 }],
  ])('gradients of oft_R match finite differences (%s)', (_n, extra) => {
    checkGradients((base) => {
      const l = new OFTLinear(base);
      l.addAdapter('default', new OFTConfig({ oftBlockSize: 4, initWeights: false, ...extra }));
      l.setActiveAdapters(['default']);
      return l;
    }, (l) => (l as OFTLinear).oft_R.get('default').weight, 8, 3);
  });

  it('trains: the loss falls, only oft_R gets gradients (Neumann and exact)', () => {
    for (const useCayleyNeumann of [true, false]) {
      const peft = getPeftModel(load('llama'), new OFTConfig({ oftBlockSize: 8, useCayleyNeumann, targetModules: ['q_proj', 'v_proj', 'up_proj'] }));
      const { first, last, msPerStep } = trainSteps(peft, 'llama');
      expect(last).toBeLessThan(first);
      expect(peft.model.namedParameters().filter(([, t]) => t.requiresGrad).every(([p]) => p.includes('.oft_R.'))).toBe(true);
      process.stdout.write(`oft step (tiny llama, blocks of 8 on q/v/up, neumann ${useCayleyNeumann}): ${msPerStep.toFixed(2)} ms\n`);
    }
  });

  it('bias "oft_only" trains and saves the targeted layers\' base biases; module_dropout is inert as in HF', () => {
    const gpt2ish = new LlamaForCausalLM(new LlamaConfig({ vocabSize: 64, hiddenSize: 32, intermediateSize: 48, numHiddenLayers: 1, numAttentionHeads: 4, attentionBias: true }));
    const peft = getPeftModel(gpt2ish, new OFTConfig({ oftBlockSize: 8, targetModules: ['q_proj'], bias: 'oft_only', moduleDropout: 0.5 }));
    expect(peft.model.namedParameters().filter(([, t]) => t.requiresGrad).map(([p]) => p).sort()).toEqual([
      'model.layers.0.self_attn.q_proj.base_layer.bias', 'model.layers.0.self_attn.q_proj.oft_R.default.weight']);
    const ids = { inputIds: { data: Int32Array.from([1, 5, 9, 33]), shape: [1, 4] } };
    const run = () => noGrad(() => (peft.model as unknown as { forward(i: unknown): { logits: Tensor } }).forward(ids).logits.toFloat32Array());
    peft.train();
    const training = run();
    peft.eval();
    expect(run()).toEqual(training);
    const dir = tmp();
    peft.savePretrained(dir);
    expect([...rawEntries(path.join(dir, 'adapter_model.safetensors')).keys()].sort()).toEqual([
      'base_model.model.model.layers.0.self_attn.q_proj.base_layer.bias', 'base_model.model.model.layers.0.self_attn.q_proj.oft_R.weight']);
  });

  it('adapts a llama2.c-layout (interleaved RoPE) model: saved in HF\'s order, loads on the HF folder', () => {
    interleavedRoundTrip(new OFTConfig({ oftBlockSize: 8, targetModules: ['q_proj', 'k_proj', 'v_proj'] }), 5e-2);
  });

  it('trainable count of a default OFTConfig: HF\'s shapes on GPT-2 small dimensions (Llama blocks: HF refuses GPT-2\'s Conv1D)', () => {
    const gpt2 = withoutInit(() => new GPT2LMHeadModel(new GPT2Config({ nLayer: 1 })));
    expect(() => getPeftModel(gpt2, new OFTConfig())).toThrow(/OFT: target module 'transformer\.h\.0\.attn\.c_attn' of type Conv1D is not supported/);
    gpt2.dispose();
    const model = withoutInit(() => new LlamaForCausalLM(new LlamaConfig({ hiddenSize: 768, intermediateSize: 3072, numHiddenLayers: 12, numAttentionHeads: 12, numKeyValueHeads: 12, vocabSize: 64 })));
    const all = model.numParameters();
    const peft = getPeftModel(model, new OFTConfig());
    // HF: q_proj and v_proj (in 768), oft_block_size 32 -> r = 24 blocks of 32 * 31 / 2 = 496 parameters.
    const perModule = 24 * 496;
    expect(peft.getNbTrainableParameters()).toEqual({ trainable: 12 * 2 * perModule, all: all + 12 * 2 * perModule });
    peft.dispose();
  });
});

describe('bad OFT input is an error naming the field', () => {
  it('in the constructor (HF\'s __post_init__ checks among them)', () => {
    expect(() => new OFTConfig({ r: 8 })).toThrow(/OFTConfig: you can only specify either r \(8\) or oftBlockSize \(32\), but not both simultaneously/);
    expect(() => new OFTConfig({ oftBlockSize: 0 })).toThrow(/OFTConfig: either r or oftBlockSize must be non-zero; currently r = 0 and oftBlockSize = 0/);
    expect(() => new OFTConfig({ r: -1, oftBlockSize: 0 })).toThrow(/OFTConfig: r must be a non-negative integer, got -1/);
    expect(() => new OFTConfig({ oftBlockSize: 2.5 })).toThrow(/oftBlockSize must be a non-negative integer/);
    expect(() => new OFTConfig({ moduleDropout: 1.5 })).toThrow(/moduleDropout must be a number in \[0, 1\]/);
    expect(() => new OFTConfig({ bias: 'lora_only' as never })).toThrow(/bias must be 'none', 'all' or 'oft_only', got "lora_only"/);
    expect(() => new OFTConfig({ eps: -1 })).toThrow(/eps must be a non-negative number/);
    expect(() => new OFTConfig({ coft: 'yes' as never })).toThrow(/coft must be a boolean/);
    expect(() => new OFTConfig({ numCayleyNeumannTerms: 0 })).toThrow(/numCayleyNeumannTerms must be a positive integer/);
    expect(() => new OFTConfig({ layersPattern: 'layers' })).toThrow(/layersToTransform must also be specified/);
    expect(() => getPeftModel(load('llama'), new OFTConfig({ targetModules: ['nope'] }))).toThrow(/OFT: target modules \["nope"\] not found/);
  });

  it('in adapter_config.json: the file and the key named; pre-0.14 configs refused as HF refuses them', () => {
    const dir = tmp();
    for (const f of fs.readdirSync(path.join(PEFT_FIXTURES, 'oft_llama'))) fs.copyFileSync(path.join(PEFT_FIXTURES, 'oft_llama', f), path.join(dir, f));
    const file = path.join(dir, 'adapter_config.json');
    const good = JSON.parse(fs.readFileSync(file, 'utf8'));
    const withField = (k: string, v: unknown) => fs.writeFileSync(file, JSON.stringify({ ...good, [k]: v }));
    withField('oft_block_size', '8');
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/adapter_config\.json.*'oft_block_size' must be a number, got "8"/);
    withField('r', 4);
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/adapter_config\.json: OFTConfig: you can only specify either r \(4\) or oftBlockSize \(8\)/);
    const { oft_block_size: _drop, ...old } = good;
    fs.writeFileSync(file, JSON.stringify(old));
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/OFT has been updated since PEFT 0\.14\.0/);
    const warn = quiet();
    fs.writeFileSync(file, JSON.stringify({ ...good, peft_version: '0.17.0' }));
    PeftModel.fromPretrained(load('llama'), dir).dispose();
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/cayley-neumann parameterization has been slightly changed .* PEFT 0\.18\.0/));
    withField('oft_block_size', 4);  // the tensors were made with blocks of 8
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/oft_R\.weight' has shape \[4, 28\], the model's adapter has \[8, 6\]/);
  });
});
