/**
 * BOFT (HF peft's BOFTConfig / boft.Linear at 5d602fd): adapter folders in HF's layout written by
 * test/fixtures/peft/make_oft_boft_fixture.py load to torch's logits (2 and 3 butterfly factors, block size
 * or block count given, BERT's biases trained with bias 'boft_only'); save -> load is byte-identical;
 * merged == unmerged; identity at init; HF's parameter names, shapes and trainable counts; gradients;
 * bad input with HF's messages.
 */
import * as fs from 'fs';
import * as path from 'path';
import {
  BOFTConfig, BOFTLinear, GPT2Config, GPT2LMHeadModel, getPeftModel, LlamaConfig, LlamaForCausalLM, PeftModel, setBackend,
} from '../../lib';
import { withoutInit } from '../../lib/nn/init';
import { checkGradients, interleavedRoundTrip } from './oft_boft_helpers';
import { checkFixture, checkIdentityAtInit, load, PEFT_FIXTURES, rawEntries, tmp, trainSteps } from './vera_lycoris_helpers';

beforeAll(() => setBackend('native'));

describe.each(['native', 'js'] as const)('HF-layout BOFT folders on %s', (backendName) => {
  beforeAll(() => setBackend(backendName));
  afterAll(() => setBackend('native'));

  it('boft_llama (blocks of 4, 2 butterfly factors): torch\'s logits, byte-identical round trip, merged == unmerged', () => {
    const peft = checkFixture('boft_llama', 'llama');
    const down = peft.model.getSubmodule('model.layers.1.mlp.down_proj') as BOFTLinear;
    expect(down.specs.get('default')).toMatchObject({ blockSize: 4, blockNum: 14, factors: 2 });
  });

  it('boft_num_llama (4 blocks per layer, 3 factors, boft_dropout inert in eval)', () => {
    const peft = checkFixture('boft_num_llama', 'llama');
    expect((peft.model.getSubmodule('model.layers.0.mlp.down_proj') as BOFTLinear).specs.get('default')).toMatchObject({ blockSize: 14, blockNum: 4, factors: 3 });
  });

  it('boft_bert (bias boft_only: the trained biases come with the adapter)', () => {
    const peft = checkFixture('boft_bert', 'bert');
    const keys = [...rawEntries(path.join(PEFT_FIXTURES, 'boft_bert', 'adapter_model.safetensors')).keys()];
    expect(keys).toContain('base_model.model.bert.encoder.layer.0.attention.self.query.base_layer.bias');
    expect(peft.adapterParameters('default').length).toBe(keys.length);
  });
});

describe('BOFT adapters as HF peft makes them', () => {
  it('keys and shapes: boft_R [N, D, H, H], boft_s [out, 1], no boft_P; config keys', () => {
    const peft = getPeftModel(load('llama'), new BOFTConfig({ boftBlockSize: 8, boftNButterflyFactor: 2, targetModules: ['k_proj'] }));
    const dir = tmp();
    peft.savePretrained(dir);
    const e = rawEntries(path.join(dir, 'adapter_model.safetensors'));
    expect(Object.fromEntries([...e].map(([k, v]) => [k, v.shape]))).toEqual({
      'base_model.model.model.layers.0.self_attn.k_proj.boft_R': [2, 4, 8, 8],
      'base_model.model.model.layers.0.self_attn.k_proj.boft_s': [16, 1],
      'base_model.model.model.layers.1.self_attn.k_proj.boft_R': [2, 4, 8, 8],
      'base_model.model.model.layers.1.self_attn.k_proj.boft_s': [16, 1],
    });
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
    expect(config).toMatchObject({ peft_type: 'BOFT', boft_block_size: 8, boft_block_num: 0, boft_n_butterfly_factor: 2, boft_dropout: 0,
      fan_in_fan_out: false, bias: 'none', init_weights: true, target_modules: ['k_proj'] });
  });

  it('is the identity at init (boft_R = 0, boft_s = 1), and not with initWeights false', () => {
    checkIdentityAtInit((m) => getPeftModel(m, new BOFTConfig()));
    checkIdentityAtInit((m) => getPeftModel(m, new BOFTConfig({ boftBlockSize: 4, boftNButterflyFactor: 2, targetModules: ['q_proj', 'down_proj'] })));
    checkIdentityAtInit((m) => getPeftModel(m, new BOFTConfig({ boftBlockSize: 4, boftNButterflyFactor: 2, targetModules: ['query', 'intermediate.dense'], bias: 'boft_only' })), 'bert');
    const peft = getPeftModel(load('llama'), new BOFTConfig({ targetModules: ['q_proj'], initWeights: false }));
    const layer = peft.model.getSubmodule('model.layers.0.self_attn.q_proj') as BOFTLinear;
    expect(layer.boft_R.get('default').toFloat32Array().some((v) => v !== 0)).toBe(true);
    expect(layer.boft_s.get('default').toFloat32Array().some((v) => v !== 1)).toBe(true);
  });

  it.each([
    ['one factor', { boftBlockSize: 2 }],
    ['three factors', { boftBlockSize: 2, boftNButterflyFactor: 3 }],
  ])('gradients of boft_R and boft_s match finite differences (%s)', (_n, extra) => {
    for (const which of ['boft_R', 'boft_s'] as const) {
      checkGradients((base) => {
        const l = new BOFTLinear(base);
        l.addAdapter('default', new BOFTConfig({ initWeights: false, ...extra }), 'test');
        l.setActiveAdapters(['default']);
        return l;
      }, (l) => (l as BOFTLinear)[which].get('default'), 8, 3);
    }
  });

  it('trains: the loss falls, only boft_R and boft_s get gradients (also with boft_dropout)', () => {
    for (const boftDropout of [0, 0.5]) {
      const peft = getPeftModel(load('llama'), new BOFTConfig({ boftBlockSize: 4, boftNButterflyFactor: 2, boftDropout, targetModules: ['q_proj', 'v_proj', 'up_proj'] }));
      const { first, last, msPerStep } = trainSteps(peft, 'llama');
      expect(last).toBeLessThan(first);
      expect(peft.model.namedParameters().filter(([, t]) => t.requiresGrad).every(([p]) => /\.boft_[Rs]\./.test(p))).toBe(true);
      process.stdout.write(`boft step (tiny llama, blocks of 4, 2 factors on q/v/up, dropout ${boftDropout}): ${msPerStep.toFixed(2)} ms\n`);
    }
  });

  it('adapts a llama2.c-layout (interleaved RoPE) model: boft_s follows q/k\'s rows to HF\'s order', () => {
    interleavedRoundTrip(new BOFTConfig({ boftBlockSize: 4, boftNButterflyFactor: 2, targetModules: ['q_proj', 'k_proj'] }), 5e-2);
  });

  it('trainable count of a default BOFTConfig: HF\'s shapes on GPT-2 small dimensions (Llama blocks: HF refuses GPT-2\'s Conv1D)', () => {
    const gpt2 = withoutInit(() => new GPT2LMHeadModel(new GPT2Config({ nLayer: 1 })));
    expect(() => getPeftModel(gpt2, new BOFTConfig())).toThrow(/BOFT: target module 'transformer\.h\.0\.attn\.c_attn' of type Conv1D is not supported/);
    gpt2.dispose();
    const model = withoutInit(() => new LlamaForCausalLM(new LlamaConfig({ hiddenSize: 768, intermediateSize: 3072, numHiddenLayers: 12, numAttentionHeads: 12, numKeyValueHeads: 12, vocabSize: 64 })));
    const all = model.numParameters();
    const peft = getPeftModel(model, new BOFTConfig());
    // HF: q_proj and v_proj, boft_R [1, 768 / 4, 4, 4] and boft_s [768, 1].
    const perModule = 192 * 16 + 768;
    expect(peft.getNbTrainableParameters()).toEqual({ trainable: 12 * 2 * perModule, all: all + 12 * 2 * perModule });
    peft.dispose();
  });
});

describe('bad BOFT input is an error naming the field', () => {
  it('in the constructor (HF\'s __post_init__ checks)', () => {
    expect(() => new BOFTConfig({ boftBlockNum: 4 })).toThrow(/BOFTConfig: you can only specify either boftBlockSize \(4\) or boftBlockNum \(4\), but not both simultaneously/);
    expect(() => new BOFTConfig({ boftBlockSize: 0 })).toThrow(/BOFTConfig: either boftBlockSize or boftBlockNum must be non-zero/);
    expect(() => new BOFTConfig({ boftNButterflyFactor: 0 })).toThrow(/BOFTConfig: boftNButterflyFactor must be a positive integer, got 0/);
    expect(() => new BOFTConfig({ boftBlockSize: -2 })).toThrow(/boftBlockSize must be a non-negative integer, got -2/);
    expect(() => new BOFTConfig({ boftDropout: 2 })).toThrow(/boftDropout must be a number in \[0, 1\]/);
    expect(() => new BOFTConfig({ bias: 'oft_only' as never })).toThrow(/bias must be 'none', 'all' or 'boft_only'/);
    expect(() => new BOFTConfig({ targetModules: [1] as never })).toThrow(/targetModules must be a list of names/);
  });

  it('per layer, with BOFTLayer.update_layer\'s messages', () => {
    const bad = (fields: ConstructorParameters<typeof BOFTConfig>[0], re: RegExp) => expect(() => getPeftModel(load('llama'), new BOFTConfig(fields))).toThrow(re);
    bad({ boftBlockSize: 5, targetModules: ['q_proj'] }, /BOFT: at 'model\.layers\.0\.self_attn\.q_proj': in_features \(32\) must be divisible by boft_block_size \(5\)!/);
    bad({ boftBlockSize: 0, boftBlockNum: 3, targetModules: ['q_proj'] }, /in_features \(32\) must be divisible by boft_block_num \(3\)!/);
    bad({ boftBlockSize: 8, boftNButterflyFactor: 4, targetModules: ['q_proj'] }, /Invalid combination of in_features \(32\), boft_n_butterfly_factor \(4\) and boft_block_size \(8\)!/);
    bad({ boftBlockSize: 0, boftBlockNum: 2, boftNButterflyFactor: 3, targetModules: ['q_proj'] }, /Invalid combination of boft_n_butterfly_factor \(3\) and boft_block_num \(2\)!/);
    bad({ boftBlockSize: 7, boftNButterflyFactor: 2, targetModules: ['down_proj'] }, /boft_block_size \(7\) must be an even number!/);
  });

  it('in adapter_config.json: the file and the key named', () => {
    const dir = tmp();
    for (const f of fs.readdirSync(path.join(PEFT_FIXTURES, 'boft_llama'))) fs.copyFileSync(path.join(PEFT_FIXTURES, 'boft_llama', f), path.join(dir, f));
    const file = path.join(dir, 'adapter_config.json');
    const good = JSON.parse(fs.readFileSync(file, 'utf8'));
    const withField = (k: string, v: unknown) => fs.writeFileSync(file, JSON.stringify({ ...good, [k]: v }));
    withField('boft_n_butterfly_factor', '2');
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/adapter_config\.json.*'boft_n_butterfly_factor' must be a number, got "2"/);
    withField('boft_block_num', 8);
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/adapter_config\.json: BOFTConfig: you can only specify either boftBlockSize \(4\) or boftBlockNum \(8\)/);
    withField('boft_n_butterfly_factor', 1);  // the tensors were made with 2 factors
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/boft_R' has shape \[2, 8, 4, 4\], the model's adapter has \[1, 8, 4, 4\]/);
  });
});
