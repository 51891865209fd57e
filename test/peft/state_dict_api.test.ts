/**
 * HF peft's functional API: getPeftModelStateDict / setPeftModelStateDict (the file's keys, adapter name
 * removed; round trips for LoRA, VeRA, LN tuning and trainable tokens), injectAdapterInModel (the same model
 * object back, adapter layers in it) and hotswapAdapter (weights replaced in place: outputs become the new
 * adapter's, the model and its tensors stay; mismatches are errors naming the key, shape or field, and
 * leave the adapter as it was).
 */
import * as fs from 'fs';
import * as path from 'path';
import {
  getPeftModel, getPeftModelStateDict, hotswapAdapter, IA3Config, injectAdapterInModel, LNTuningConfig, LoraConfig, LoraLinear, PeftModel,
  peftConfigFromJSON, PromptTuningConfig, setBackend, setPeftModelStateDict, type Tensor, TrainableTokensConfig,
} from '../../lib';
import { expectedLogits, load, logitsOf, PEFT_FIXTURES, rawEntries, tmp } from './vera_lycoris_helpers';

beforeAll(() => setBackend('native'));

const fixture = (name: string) => path.join(PEFT_FIXTURES, name);
const configOf = (name: string) => peftConfigFromJSON(JSON.parse(fs.readFileSync(path.join(fixture(name), 'adapter_config.json'), 'utf8')));
const bytes = (t: Tensor) => Buffer.from(t.toFloat32Array().buffer);

function copyFolder(name: string): string {
  const dir = tmp();
  for (const f of fs.readdirSync(fixture(name))) fs.copyFileSync(path.join(fixture(name), f), path.join(dir, f));
  return dir;
}

describe('getPeftModelStateDict / setPeftModelStateDict', () => {
  it.each([['lora_llama', 'llama'], ['vera_llama', 'llama'], ['ln_tuning_gpt2', 'gpt2'], ['tokens_gpt2', 'gpt2']])(
    '%s: the file\'s keys and bytes; set into a fresh adapter of another name gives the same logits', (name, family) => {
      const peft = PeftModel.fromPretrained(load(family), fixture(name));
      const sd = getPeftModelStateDict(peft);
      const file = rawEntries(path.join(fixture(name), 'adapter_model.safetensors'));
      expect([...sd.keys()].sort()).toEqual([...file.keys()].sort());
      for (const [k, t] of sd) expect(bytes(t as Tensor).equals(file.get(k)!.bytes)).toBe(true);

      const fresh = getPeftModel(load(family), configOf(name), 'other');
      expect(getPeftModelStateDict(fresh, { adapterName: 'other' }).size).toBe(sd.size);   // no adapter name in the keys
      expect(setPeftModelStateDict(fresh, sd, { adapterName: 'other' })).toEqual({ missingKeys: [], unexpectedKeys: [] });
      expect(logitsOf(fresh.model, family)).toAllClose(expectedLogits(fixture(name)), { atol: 1e-4, rtol: 1e-4 });
      // the values were copied: the source adapter's tensors are not shared
      expect([...getPeftModelStateDict(fresh, { adapterName: 'other' }).values()].some((t) => [...sd.values()].includes(t))).toBe(false);
    });

  it('as HF: missing and unexpected keys are returned (strict: errors); a misshapen one is an error naming key and shapes', () => {
    const sd = getPeftModelStateDict(PeftModel.fromPretrained(load('llama'), fixture('lora_llama')));
    const peft = getPeftModel(load('llama'), configOf('lora_llama'));
    const q = 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight';
    const partial = new Map(sd);
    partial.delete(q);
    partial.set('base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight', sd.get(q)!);
    expect(setPeftModelStateDict(peft, partial)).toEqual({ missingKeys: [q], unexpectedKeys: ['base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight'] });
    expect(() => setPeftModelStateDict(peft, partial, { strict: true })).toThrow(/missing 1 key\(s\): 'model\.layers\.0\.self_attn\.q_proj\.lora_A\.weight'; unexpected 1 key/);
    const wrong = new Map(sd);
    wrong.set(q, sd.get('base_model.model.model.layers.0.mlp.down_proj.lora_A.weight')!);
    expect(() => setPeftModelStateDict(peft, wrong)).toThrow(/'model\.layers\.0\.self_attn\.q_proj\.lora_A\.weight' has shape \[2, 56\], the model's adapter has \[4, 32\]/);
    expect(() => setPeftModelStateDict(peft, sd, { adapterName: 'nope' })).toThrow(/setPeftModelStateDict: adapterName: no adapter named "nope" \(have default\)/);
    expect(() => setPeftModelStateDict(load('llama'), sd)).toThrow(/the model has no adapters/);
    expect(() => setPeftModelStateDict(peft, { a: 3 as never })).toThrow(/stateDict\['a'\] is not a tensor/);
  });
});

describe('injectAdapterInModel', () => {
  it('adapts the plain model in place and returns it; its state dict loads HF\'s weights', () => {
    const model = load('llama');
    const all = model.numParameters();
    const config = configOf('lora_llama');
    config.inferenceMode = false;   // the file says true (saved for inference): then HF's adapters are frozen too
    const out = injectAdapterInModel(config, model);
    expect(out).toBe(model);
    expect(out).not.toBeInstanceOf(PeftModel);
    expect(model.getSubmodule('model.layers.1.self_attn.v_proj')).toBeInstanceOf(LoraLinear);
    // only the adapter trains: q/v [4 x 32 + 32 x 4 | 4 x 32 + 16 x 4], down_proj r=2 [2 x 56 + 32 x 2], two layers
    const trainable = model.numParameters({ trainableOnly: true });
    expect(trainable).toBe(2 * (256 + 192 + 176));
    expect(model.numParameters()).toBe(all + trainable);
    const sd = getPeftModelStateDict(PeftModel.fromPretrained(load('llama'), fixture('lora_llama')));
    expect(setPeftModelStateDict(model, sd)).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect(logitsOf(model, 'llama')).toAllClose(expectedLogits(fixture('lora_llama')), { atol: 1e-4, rtol: 1e-4 });
    expect([...getPeftModelStateDict(model).keys()].sort()).toEqual([...sd.keys()].sort());
    // a second call adds a second adapter to the same model
    injectAdapterInModel(new LoraConfig({ r: 2, targetModules: ['k_proj'] }), model, 'second');
    expect(getPeftModelStateDict(model, { adapterName: 'second' }).size).toBe(4);
  });

  it('refuses prompt learning (as HF), a PeftModel and a non-config', () => {
    expect(() => injectAdapterInModel(new PromptTuningConfig({ numVirtualTokens: 3 }), load('llama'))).toThrow(/injectAdapterInModel: does not support prompt learning methods \(PROMPT_TUNING\)/);
    const peft = getPeftModel(load('llama'), new LNTuningConfig());
    expect(() => injectAdapterInModel(new LNTuningConfig(), peft)).toThrow(/is a PeftModel already; use its addAdapter/);
    expect(() => injectAdapterInModel({} as never, load('llama'))).toThrow(/config must be a PeftConfig/);
  });
});

describe('hotswapAdapter', () => {
  function otherLora(mutate: (c: LoraConfig) => void = () => {}): { dir: string; logits: Tensor } {
    const config = configOf('lora_llama') as LoraConfig;
    config.initLoraWeights = false;   // random A and B: a different adapter of the same shapes
    mutate(config);
    const peft = getPeftModel(load('llama'), config);
    const dir = tmp();
    peft.savePretrained(dir);
    return { dir, logits: logitsOf(peft.model, 'llama') };
  }

  it('replaces the weights in place: the new adapter\'s outputs, the same model, layers and tensors', () => {
    const peft = PeftModel.fromPretrained(load('llama'), fixture('lora_llama'));
    const model = peft.model;
    const layer = model.getSubmodule('model.layers.0.self_attn.q_proj') as LoraLinear;
    const tensorsBefore = [...getPeftModelStateDict(peft).values()];
    const other = otherLora();
    hotswapAdapter(peft, other.dir, 'default');
    expect(peft.model).toBe(model);
    expect(model.getSubmodule('model.layers.0.self_attn.q_proj')).toBe(layer);
    expect([...getPeftModelStateDict(peft).values()]).toEqual(tensorsBefore);
    expect(logitsOf(peft.model, 'llama')).toAllClose(other.logits, { atol: 1e-5, rtol: 1e-5 });
    // and back: the fixture's logits again
    hotswapAdapter(peft, fixture('lora_llama'));
    expect(logitsOf(peft.model, 'llama')).toAllClose(expectedLogits(fixture('lora_llama')), { atol: 1e-4, rtol: 1e-4 });
  });

  it('LoRA: another lora_alpha sets the scaling from the new config (HF\'s _update_scaling)', () => {
    const dir = copyFolder('lora_llama');
    const file = path.join(dir, 'adapter_config.json');
    fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), lora_alpha: 3 }));
    const reference = logitsOf(PeftModel.fromPretrained(load('llama'), dir).model, 'llama');
    const peft = PeftModel.fromPretrained(load('llama'), fixture('lora_llama'));
    hotswapAdapter(peft, dir);
    expect(logitsOf(peft.model, 'llama')).toAllClose(reference, { atol: 1e-6, rtol: 1e-6 });
    expect((peft.peftConfig.get('default') as LoraConfig).loraAlpha).toBe(3);
  });

  it('trainable tokens and LN tuning swap too (same config, other values)', () => {
    for (const [name, family, make] of [
      ['tokens_llama', 'llama', () => new TrainableTokensConfig({ tokenIndices: [10, 42, 83, 5], targetModules: 'model.embed_tokens', initWeights: false })],
      ['ln_tuning_gpt2', 'gpt2', () => new LNTuningConfig({ targetModules: ['ln_1', 'ln_f'] })],
    ] as const) {
      const peft = getPeftModel(load(family), make());
      hotswapAdapter(peft, fixture(name));
      expect(logitsOf(peft.model, family)).toAllClose(expectedLogits(fixture(name)), { atol: 1e-4, rtol: 1e-4 });
    }
  });

  it('mismatches are errors naming the key, the shapes or the field, and change nothing', () => {
    const peft = PeftModel.fromPretrained(load('llama'), fixture('lora_llama'));
    const before = logitsOf(peft.model, 'llama');
    const rank = otherLora((c) => { c.rankPattern = { down_proj: 3 }; });
    expect(() => hotswapAdapter(peft, rank.dir)).toThrow(/'base_model\.model\.model\.layers\.0\.mlp\.down_proj\.lora_A\.weight' has shape \[3, 56\], adapter 'default' has \[2, 56\]; hotswapping needs the same shapes/);
    const extra = otherLora((c) => { c.targetModules = ['q_proj', 'v_proj', 'down_proj', 'k_proj']; });
    expect(() => hotswapAdapter(peft, extra.dir)).toThrow(/unexpected key\(s\) 'base_model\.model\.model\.layers\.0\.self_attn\.k_proj\.lora_A\.weight'/);
    const rs = otherLora((c) => { c.useRslora = false; });
    expect(() => hotswapAdapter(peft, rs.dir)).toThrow(/configs are incompatible: for use_rslora, true != false/);
    const ia3 = tmp();
    getPeftModel(load('llama'), new IA3Config({ targetModules: ['q_proj'], feedforwardModules: [] })).savePretrained(ia3);
    expect(() => hotswapAdapter(peft, ia3)).toThrow(/incompatible PEFT types: adapter 'default' is LORA but .* holds IA3/);
    expect(() => hotswapAdapter(peft, fixture('lora_llama'), 'nope')).toThrow(/hotswapAdapter: adapterName: no adapter named "nope"/);
    expect(logitsOf(peft.model, 'llama')).toAllClose(before, { atol: 0, rtol: 0 });

    const tokens = getPeftModel(load('llama'), new TrainableTokensConfig({ tokenIndices: [1, 2, 3, 4], targetModules: 'model.embed_tokens' }));
    expect(() => hotswapAdapter(tokens, fixture('tokens_llama'))).toThrow(/configs are incompatible: for token_indices, \[1,2,3,4\] != \[10,42,83,5\]/);
    // LN tuning lacks LoRA's zeroing of missing keys: a folder adapting fewer norms is refused
    const ln = getPeftModel(load('gpt2'), new LNTuningConfig({ targetModules: ['ln_1', 'ln_2', 'ln_f'] }));
    expect(() => hotswapAdapter(ln, fixture('ln_tuning_gpt2'))).toThrow(/missing key\(s\) 'base_model\.model\.transformer\.h\.0\.ln_2\.ln_tuning_layers\.weight'/);
  });
});
