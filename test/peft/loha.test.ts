/**
 * LoHa (HF peft's LoHaConfig / loha.Linear): adapter folders in HF's layout written by
 * test/fixtures/peft/make_lycoris_vera_fixture.py load to torch's logits; save -> load is byte-identical;
 * merged == unmerged; identity at init; HF's parameter names, shapes and trainable counts; bad input.
 */
import * as fs from 'fs';
import * as path from 'path';
import {
  GPT2Config, GPT2LMHeadModel, getPeftModel, LlamaConfig, LlamaForCausalLM, LoHaConfig, LoHaLinear, noGrad, PeftModel, setBackend,
} from '../../lib';
import { withoutInit } from '../../lib/nn/init';
import { checkFixture, checkIdentityAtInit, load, PEFT_FIXTURES, rawEntries, tmp, trainSteps } from './vera_lycoris_helpers';

beforeAll(() => setBackend('native'));

describe.each(['native', 'js'] as const)('HF-layout LoHa folder on %s', (backendName) => {
  beforeAll(() => setBackend(backendName));
  afterAll(() => setBackend('native'));
  it('loha_llama: torch\'s logits, byte-identical round trip, merged == unmerged', () => {
    const peft = checkFixture('loha_llama', 'llama');
    const layer = peft.model.getSubmodule('model.layers.1.mlp.up_proj') as LoHaLinear;
    expect(layer).toBeInstanceOf(LoHaLinear);
    expect(layer.specs.get('default')).toMatchObject({ r: 3, alpha: 4, scaling: 4 / 3 });   // rank_pattern up_proj: 3
    expect((peft.model.getSubmodule('model.layers.0.self_attn.k_proj') as LoHaLinear).specs.get('default')!.scaling).toBe(8 / 2);  // alpha_pattern
  });
});

describe('LoHa adapters as HF peft makes them', () => {
  it('keys and shapes: hada_w1_a [out, r], hada_w1_b [r, in], hada_w2_a [out, r], hada_w2_b [r, in]; config keys', () => {
    const peft = getPeftModel(load('llama'), new LoHaConfig({ r: 4, alpha: 16, targetModules: ['v_proj'] }));
    const dir = tmp();
    peft.savePretrained(dir);
    const e = rawEntries(path.join(dir, 'adapter_model.safetensors'));
    const pre = 'base_model.model.model.layers.0.self_attn.v_proj';
    expect(Object.fromEntries([...e].filter(([k]) => k.startsWith(pre)).map(([k, v]) => [k.slice(pre.length + 1), v.shape]))).toEqual({
      hada_w1_a: [16, 4], hada_w1_b: [4, 32], hada_w2_a: [16, 4], hada_w2_b: [4, 32],
    });
    expect(e.size).toBe(8);
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
    expect(config).toMatchObject({ peft_type: 'LOHA', r: 4, alpha: 16, rank_dropout: 0, module_dropout: 0, use_effective_conv2d: false,
      init_weights: true, target_modules: ['v_proj'], rank_pattern: {}, alpha_pattern: {}, inference_mode: true });
  });

  it('is the identity at init (hada_w2_b = 0), and not with initWeights false', () => {
    checkIdentityAtInit((m) => getPeftModel(m, new LoHaConfig({ targetModules: ['q_proj', 'down_proj'] })));
    const peft = getPeftModel(load('llama'), new LoHaConfig({ targetModules: ['q_proj'], initWeights: false }));
    const w2b = (peft.model.getSubmodule('model.layers.0.self_attn.q_proj') as LoHaLinear).hada_w2_b.get('default');
    expect(w2b.toFloat32Array().some((v) => v !== 0)).toBe(true);
  });

  it('trains: the loss falls, only the hada factors get gradients', () => {
    const peft = getPeftModel(load('llama'), new LoHaConfig({ r: 4, targetModules: ['q_proj', 'v_proj', 'up_proj'] }));
    const { first, last, msPerStep } = trainSteps(peft, 'llama');
    expect(last).toBeLessThan(first);
    expect(peft.trainableParameters().every((t) => t.requiresGrad)).toBe(true);
    expect(peft.model.namedParameters().filter(([, t]) => t.requiresGrad).every(([p]) => p.includes('.hada_w'))).toBe(true);
    process.stdout.write(`loha step (tiny llama, r=4 on q/v/up): ${msPerStep.toFixed(2)} ms\n`);
  });

  it('trainable count of a default LoHaConfig: HF\'s shapes on GPT-2 small dimensions (Llama blocks: HF refuses GPT-2\'s Conv1D)', () => {
    // GPT-2 small itself: HF's default LoHa targets are c_attn, a transformers Conv1D, which HF's LyCORIS tuners refuse.
    const gpt2 = withoutInit(() => new GPT2LMHeadModel(new GPT2Config({ nLayer: 1 })));
    expect(() => getPeftModel(gpt2, new LoHaConfig())).toThrow(/'transformer\.h\.0\.attn\.c_attn' of type Conv1D is not supported/);
    gpt2.dispose();
    // GPT-2 small's width (768, 12 layers, 3072), as a Llama: default targets q_proj and v_proj, each [768, 768].
    const model = withoutInit(() => new LlamaForCausalLM(new LlamaConfig({ hiddenSize: 768, intermediateSize: 3072, numHiddenLayers: 12, numAttentionHeads: 12, numKeyValueHeads: 12, vocabSize: 64 })));
    const all = model.numParameters();
    const peft = getPeftModel(model, new LoHaConfig());
    // HF: hada_w1_a [768, 8] + hada_w1_b [8, 768] + hada_w2_a [768, 8] + hada_w2_b [8, 768] per module.
    const perModule = 4 * 768 * 8;
    expect(peft.getNbTrainableParameters()).toEqual({ trainable: 12 * 2 * perModule, all: all + 12 * 2 * perModule });
    expect(peft.peftConfig.get('default')!.toJSON().target_modules).toEqual(['q_proj', 'v_proj']);
    peft.dispose();
  });
});

describe('bad LoHa input is an error naming the field', () => {
  it('in the constructor', () => {
    expect(() => new LoHaConfig({ r: 0 })).toThrow(/LoHaConfig: r must be a positive integer, got 0/);
    expect(() => new LoHaConfig({ r: 2.5 })).toThrow(/\br must be a positive integer/);
    expect(() => new LoHaConfig({ alpha: '8' as never })).toThrow(/alpha must be a number/);
    expect(() => new LoHaConfig({ rankDropout: 2 })).toThrow(/rankDropout must be a number in \[0, 1\]/);
    expect(() => new LoHaConfig({ initWeights: 'gaussian' as never })).toThrow(/initWeights must be a boolean/);
    expect(() => new LoHaConfig({ useEffectiveConv2d: true })).toThrow(/useEffectiveConv2d/);
    expect(() => new LoHaConfig({ targetModules: [3] as never })).toThrow(/targetModules must be a list of names/);
    expect(() => new LoHaConfig({ rankPattern: { q_proj: 0 } })).toThrow(/rankPattern\['q_proj'\]/);
    expect(() => new LoHaConfig({ layersPattern: 'layers' })).toThrow(/layersToTransform must also be specified/);
    expect(() => getPeftModel(load('llama'), new LoHaConfig({ targetModules: ['nope'] }))).toThrow(/LoHa: target modules \["nope"\] not found/);
  });

  it('in adapter_config.json: the file and the key named', () => {
    const dir = tmp();
    for (const f of fs.readdirSync(path.join(PEFT_FIXTURES, 'loha_llama'))) fs.copyFileSync(path.join(PEFT_FIXTURES, 'loha_llama', f), path.join(dir, f));
    const file = path.join(dir, 'adapter_config.json');
    const good = JSON.parse(fs.readFileSync(file, 'utf8'));
    const withField = (k: string, v: unknown) => fs.writeFileSync(file, JSON.stringify({ ...good, [k]: v }));
    withField('r', '2');
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/adapter_config\.json.*'r' must be a number, got "2"/);
    withField('r', 0);
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/adapter_config\.json: LoHaConfig: r must be a positive integer, got 0/);
    withField('rank_dropout', 'high');
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/'rank_dropout' must be a number/);
    withField('target_modules', 42);
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/'target_modules' must be a string, a list of strings or null/);
    withField('peft_type', 'LOHB');
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/peft_type "LOHB" is not supported/);
    withField('r', 3);  // the tensors were made with r = 2
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/hada_w1_a' has shape \[32, 2\], the model's adapter has \[32, 3\]/);
  });
});
