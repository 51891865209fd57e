/**
 * LN tuning (HF peft's LNTuningConfig / LNTuningLayer): adapter folders in HF's layout written by
 * test/fixtures/peft/make_ln_tokens_fixture.py (Llama's RMSNorms by the default targets, GPT-2's LayerNorms
 * with their biases) load to torch's logits on js and native; save -> load byte-identical; merged ==
 * unmerged; identity at init; HF's trainable counts; HF's one-adapter rules; bad input.
 */
import * as fs from 'fs';
import * as path from 'path';
import { GPT2Config, GPT2LMHeadModel, getPeftModel, LNTuningConfig, LNTuningLayer, PeftModel, RMSNorm, setBackend } from '../../lib';
import { withoutInit } from '../../lib/nn/init';
import { checkFixture, checkIdentityAtInit, load, logitsOf, PEFT_FIXTURES, rawEntries, tmp, trainSteps } from './vera_lycoris_helpers';

beforeAll(() => setBackend('native'));

describe.each(['native', 'js'] as const)('HF-layout LN tuning folders on %s', (backendName) => {
  beforeAll(() => setBackend(backendName));
  afterAll(() => setBackend('native'));
  it.each([['ln_tuning_llama', 'llama'], ['ln_tuning_gpt2', 'gpt2']])(
    '%s: torch\'s logits, byte-identical round trip, merged == unmerged', (name, family) => {
      const peft = checkFixture(name, family);
      expect(peft.model.getSubmodule(family === 'llama' ? 'model.norm' : 'transformer.ln_f')).toBeInstanceOf(LNTuningLayer);
    });
});

describe('LN tuning as HF peft makes it', () => {
  it('default targets are HF\'s norms of the architecture; keys <norm>.ln_tuning_layers.weight; trainable = the norms\' sizes', () => {
    const model = load('llama');
    const all = model.numParameters();
    const peft = getPeftModel(model, new LNTuningConfig());
    expect(peft.peftConfig.get('default')!.toJSON().target_modules).toEqual(['input_layernorm', 'post_attention_layernorm', 'norm']);
    // 2 layers x (input_layernorm 32 + post_attention_layernorm 32) + model.norm 32: HF's copies, all trainable
    expect(peft.getNbTrainableParameters()).toEqual({ trainable: 160, all: all + 160 });
    const dir = tmp();
    peft.savePretrained(dir);
    const keys = [...rawEntries(path.join(dir, 'adapter_model.safetensors')).keys()].sort();
    expect(keys).toEqual([
      'base_model.model.model.layers.0.input_layernorm.ln_tuning_layers.weight', 'base_model.model.model.layers.0.post_attention_layernorm.ln_tuning_layers.weight',
      'base_model.model.model.layers.1.input_layernorm.ln_tuning_layers.weight', 'base_model.model.model.layers.1.post_attention_layernorm.ln_tuning_layers.weight',
      'base_model.model.model.norm.ln_tuning_layers.weight',
    ]);
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
    expect(config).toMatchObject({ peft_type: 'LN_TUNING', exclude_modules: null, modules_to_save: null });
  });

  it('is the identity at init (the copies equal the norms)', () => {
    checkIdentityAtInit((m) => getPeftModel(m, new LNTuningConfig()));
    checkIdentityAtInit((m) => getPeftModel(m, new LNTuningConfig()), 'gpt2');
  });

  it('trainable count of a default LNTuningConfig on GPT-2 small (ln_1, ln_2, ln_f): HF\'s shapes', () => {
    const model = withoutInit(() => new GPT2LMHeadModel(new GPT2Config()));
    const peft = getPeftModel(model, new LNTuningConfig());
    // 12 x (ln_1 + ln_2) + ln_f = 25 LayerNorms of weight [768] + bias [768]; GPT-2 small has 124,439,808 parameters
    expect(peft.getNbTrainableParameters()).toEqual({ trainable: 25 * 1536, all: 124_439_808 + 25 * 1536 });
  });

  it('trains the copies only; mergeAndUnload leaves the trained norms in the model', () => {
    const model = load('llama');
    const before = (model.getSubmodule('model.norm') as RMSNorm).weight.toFloat32Array();
    const peft = getPeftModel(model, new LNTuningConfig());
    const { first, last } = trainSteps(peft, 'llama');
    expect(last).toBeLessThan(first);
    const layer = peft.model.getSubmodule('model.norm') as LNTuningLayer;
    expect([...(layer.base_layer as RMSNorm).weight.toFloat32Array()]).toEqual([...before]);
    const trained = (layer.ln_tuning_layers.get('default') as RMSNorm).weight.toFloat32Array();
    const logits = logitsOf(peft.model, 'llama');
    const merged = peft.mergeAndUnload();
    const norm = merged.getSubmodule('model.norm');
    expect(norm).toBeInstanceOf(RMSNorm);
    expect([...(norm as RMSNorm).weight.toFloat32Array()]).toEqual([...trained]);
    expect(logitsOf(merged, 'llama')).toAllClose(logits, { atol: 0, rtol: 0 });
  });

  it('HF\'s one-adapter rules: several active adapters do not run, several do not merge; disabled unmerges', () => {
    const peft = PeftModel.fromPretrained(load('llama'), path.join(PEFT_FIXTURES, 'ln_tuning_llama'));
    const adapted = logitsOf(peft.model, 'llama');
    const base = peft.disableAdapter(() => logitsOf(peft.model, 'llama'));
    peft.addAdapter('second', new LNTuningConfig({ targetModules: ['norm'] }));
    expect(peft.activeAdapter).toBe('second');
    peft.setAdapter(['default', 'second']);
    expect(() => logitsOf(peft.model, 'llama')).toThrow(/2 active adapters, but LN tuning does not allow inference with more than one adapter/);
    expect(() => peft.merge()).toThrow(/trying to merge 2 adapters, but LN tuning does not allow merging more than one adapter/);
    peft.setAdapter('default');
    peft.merge();
    expect(logitsOf(peft.model, 'llama')).toAllClose(adapted, { atol: 1e-6, rtol: 1e-6 });
    expect(peft.disableAdapter(() => logitsOf(peft.model, 'llama'))).toAllClose(base, { atol: 1e-6, rtol: 1e-6 });
    expect((peft.model.getSubmodule('model.norm') as LNTuningLayer).mergedAdapters).toEqual([]);
    expect(logitsOf(peft.model, 'llama')).toAllClose(adapted, { atol: 1e-6, rtol: 1e-6 });
  });
});

describe('bad LN tuning input is an error naming the field', () => {
  it('in the constructor and on the model', () => {
    expect(() => new LNTuningConfig({ targetModules: 42 as never })).toThrow(/LNTuningConfig: targetModules must be a list of names/);
    expect(() => new LNTuningConfig({ modulesToSave: 'lm_head' as never })).toThrow(/LNTuningConfig: modulesToSave must be a list of names or null/);
    expect(() => getPeftModel(load('bert'), new LNTuningConfig())).toThrow(/LN tuning: no default target modules for model type 'bert'.*set targetModules/);
    expect(() => getPeftModel(load('llama'), new LNTuningConfig({ targetModules: ['layer_norm'] }))).toThrow(/LN tuning: target modules \["layer_norm"\] not found/);
  });

  it('in adapter_config.json and the weights: the file and the key named', () => {
    const dir = tmp();
    for (const f of fs.readdirSync(path.join(PEFT_FIXTURES, 'ln_tuning_llama'))) fs.copyFileSync(path.join(PEFT_FIXTURES, 'ln_tuning_llama', f), path.join(dir, f));
    const file = path.join(dir, 'adapter_config.json');
    const good = JSON.parse(fs.readFileSync(file, 'utf8'));
    fs.writeFileSync(file, JSON.stringify({ ...good, target_modules: 7 }));
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/adapter_config\.json.*'target_modules' must be a string, a list of strings or null, got 7/);
    fs.writeFileSync(file, JSON.stringify({ ...good, target_modules: ['input_layernorm', 'post_attention_layernorm'] }));
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/unexpected 1 key\(s\): 'model\.norm\.ln_tuning_layers\.weight'/);
  });
});
