/**
 * Adaption prompt, LLaMA-Adapter (HF peft's AdaptionPromptConfig / AdaptionPromptModel / AdaptedAttention):
 * adapter folders in HF's layout written by test/fixtures/peft/make_fourierft_adaption_fixture.py (Llama with
 * grouped kv heads, GPT-2) load to torch's logits; save -> load is byte-identical; the zero gate is the
 * identity; HF's names, shapes and trainable counts; several adapters swap as HF's do; the KV cache gives the
 * full forward's logits; training lowers the loss; bad input is an error naming the field.
 */
import * as fs from 'fs';
import * as path from 'path';
import {
  AdaptedAttention, AdaptionPromptConfig, GPT2Config, GPT2LMHeadModel, getPeftModel, KVCache, LlamaAttention, LlamaConfig, LlamaForCausalLM,
  copyInto, fromArray, MistralConfig, MistralForCausalLM, noGrad, PeftModel, Qwen2Config, Qwen2ForCausalLM, setBackend, type Module,
} from '../../lib';
import { withoutInit } from '../../lib/nn/init';
import { checkFixture, load, logitsOf, PEFT_FIXTURES, rawEntries, tmp, trainSteps } from './vera_lycoris_helpers';
import { forward, inputsOf, openGolden } from '../helpers/golden';

beforeAll(() => setBackend('native'));

/** Loads fixture `name` (checkFixture without merging), adapter_config.json written back as read; HF cannot merge it. */
function checkAdaptionFixture(name: string, family: string): PeftModel {
  const peft = checkFixture(name, family, { merges: false });
  const out = tmp();
  peft.savePretrained(out);
  expect(JSON.parse(fs.readFileSync(path.join(out, 'adapter_config.json'), 'utf8')))
    .toEqual(JSON.parse(fs.readFileSync(path.join(PEFT_FIXTURES, name, 'adapter_config.json'), 'utf8')));
  // HF's AdaptionPromptModel has no merge
  expect(() => peft.merge()).toThrow(/ADAPTION_PROMPT adapters \('default'\) have no weights to fold into the base model/);
  return peft;
}

describe.each(['native', 'js'] as const)('HF-layout adaption prompt folders on %s', (backendName) => {
  beforeAll(() => setBackend(backendName));
  afterAll(() => setBackend('native'));
  it('adaption_prompt_llama (2 layers, 4 heads over 2 kv heads): torch\'s logits, byte-identical round trip', () => {
    const peft = checkAdaptionFixture('adaption_prompt_llama', 'llama');
    expect(peft.model.getSubmodule('model.layers.0.self_attn')).toBeInstanceOf(AdaptedAttention);
    // loaded without isTrainable: frozen
    expect(peft.getNbTrainableParameters().trainable).toBe(0);
  });
  it('adaption_prompt_gpt2 (the top layer only): torch\'s logits, byte-identical round trip', () => {
    const peft = checkAdaptionFixture('adaption_prompt_gpt2', 'gpt2');
    expect(peft.model.getSubmodule('transformer.h.0.attn')).not.toBeInstanceOf(AdaptedAttention);
    expect(peft.model.getSubmodule('transformer.h.1.attn')).toBeInstanceOf(AdaptedAttention);
  });
});

describe('adaption prompts as HF peft makes them', () => {
  it('names and shapes: the top adapter_layers attentions wrapped, the original weights under `.model.`, prompt [1, len, hidden] and gate [1] saved', () => {
    const peft = getPeftModel(load('llama'), new AdaptionPromptConfig({ adapterLen: 5, adapterLayers: 1 }));
    expect(peft.peftConfig.get('default')!.toJSON()).toMatchObject({ peft_type: 'ADAPTION_PROMPT', adapter_len: 5, adapter_layers: 1, target_modules: 'self_attn' });
    const names = peft.namedParameters().map(([p]) => p);
    expect(names).toContain('base_model.model.model.layers.1.self_attn.model.q_proj.weight');
    expect(names).toContain('base_model.model.model.layers.0.self_attn.q_proj.weight');
    expect(peft.namedParameters().filter(([, t]) => t.requiresGrad).map(([p, t]) => [p, t.shape])).toEqual([
      ['base_model.model.model.layers.1.self_attn.adaption_prompt', [1, 5, 32]],
      ['base_model.model.model.layers.1.self_attn.adaption_gate', [1]],
    ]);
    const dir = tmp();
    peft.savePretrained(dir);
    const e = rawEntries(path.join(dir, 'adapter_model.safetensors'));
    expect(Object.fromEntries([...e].map(([k, v]) => [k, v.shape]))).toEqual({
      'base_model.model.model.layers.1.self_attn.adaption_prompt': [1, 5, 32],
      'base_model.model.model.layers.1.self_attn.adaption_gate': [1],
    });
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
    expect(config).toMatchObject({ peft_type: 'ADAPTION_PROMPT', adapter_len: 5, adapter_layers: 1, target_modules: 'self_attn', inference_mode: true });
    // unload() gives the attention modules back
    const model = peft.unload();
    expect(model.getSubmodule('model.layers.1.self_attn')).toBeInstanceOf(LlamaAttention);
  });

  it('is the identity at init (the gate is zero) while the prompt is N(0, 1); disabling gives the base logits', () => {
    for (const family of ['llama', 'gpt2']) {
      const base = logitsOf(load(family), family);
      const peft = getPeftModel(load(family), new AdaptionPromptConfig({ adapterLen: 6, adapterLayers: 2 }));
      expect(logitsOf(peft.model, family)).toAllClose(base, { atol: 0, rtol: 0 });
      const prompt = peft.namedParameters().find(([p]) => p.endsWith('adaption_prompt'))![1].toFloat32Array();
      expect(prompt.some((v) => Math.abs(v) > 1)).toBe(true);
      expect(peft.namedParameters().find(([p]) => p.endsWith('adaption_gate'))![1].toFloat32Array()).toEqual(new Float32Array([0]));
    }
    const loaded = PeftModel.fromPretrained(load('llama'), path.join(PEFT_FIXTURES, 'adaption_prompt_llama'));
    expect(loaded.disableAdapter(() => logitsOf(loaded.model, 'llama'))).toAllClose(logitsOf(load('llama'), 'llama'), { atol: 0, rtol: 0 });
  });

  it('incremental decoding with a KV cache gives the full forward\'s logits (the prompt\'s queries use the cached positions)', () => {
    const peft = PeftModel.fromPretrained(load('llama'), path.join(PEFT_FIXTURES, 'adaption_prompt_llama'));
    const model = peft.model as unknown as LlamaForCausalLM;
    const golden = openGolden('llama');
    const ids = inputsOf('llama', golden).inputIds as { data: Int32Array; shape: number[] };
    golden.file.close();
    const t = ids.shape[1];
    const row = (r: number, from: number, to: number) => ({ data: Int32Array.from({ length: to - from }, (_, i) => ids.data[r * t + from + i]), shape: [1, to - from] });
    const full = noGrad(() => model.forward({ inputIds: row(0, 0, t) }).logits.toFloat32Array());
    const cache = new KVCache();
    const first = noGrad(() => model.forward({ inputIds: row(0, 0, t - 2), cache }).logits);
    expect(first.shape).toEqual([1, t - 2, 97]);
    for (const step of [t - 2, t - 1]) {
      const logits = noGrad(() => model.forward({ inputIds: row(0, step, step + 1), cache }).logits.toFloat32Array());
      const want = full.slice(step * 97, (step + 1) * 97);
      for (let i = 0; i < 97; i++) expect(Math.abs(logits[i] - want[i])).toBeLessThan(1e-5);
    }
    cache.dispose();
  });

  it('trains: the loss falls; only the prompts and gates get gradients, and the gates leave zero', () => {
    for (const family of ['llama', 'gpt2']) {
      const peft = getPeftModel(load(family), new AdaptionPromptConfig({ adapterLen: 4, adapterLayers: 2 }));
      const { first, last, msPerStep } = trainSteps(peft, family);
      expect(last).toBeLessThan(first);
      const trained = peft.model.namedParameters().filter(([, t]) => t.requiresGrad);
      expect(trained.every(([p]) => /\.adaption_(prompt|gate)$/.test(p))).toBe(true);
      expect(trained.filter(([p]) => p.endsWith('adaption_gate')).every(([, t]) => t.toFloat32Array()[0] !== 0)).toBe(true);
      process.stdout.write(`adaption prompt step (tiny ${family}, len 4 on 2 layers): ${msPerStep.toFixed(2)} ms\n`);
    }
  });

  it('gradient checkpointing recomputes the wrapped blocks to the same gradients', () => {
    const grads = (checkpoint: boolean) => {
      const peft = PeftModel.fromPretrained(load('llama'), path.join(PEFT_FIXTURES, 'adaption_prompt_llama'), { isTrainable: true });
      if (checkpoint) peft.model.gradientCheckpointingEnable();
      const golden = openGolden('llama');
      const { loss } = forward(peft.model as never, inputsOf('llama', golden));
      loss.backward();
      golden.file.close();
      return peft.model.namedParameters().filter(([, t]) => t.requiresGrad).map(([p, t]) => [p, [...t.grad!.toFloat32Array()]] as const);
    };
    const plain = grads(false), recomputed = grads(true);
    expect(plain.map(([p]) => p)).toEqual(recomputed.map(([p]) => p));
    expect(plain.length).toBe(4);
    plain.forEach(([, g], i) => g.forEach((v, j) => expect(Math.abs(v - recomputed[i][1][j])).toBeLessThan(1e-6)));
    expect(plain.every(([, g]) => g.some((v) => v !== 0))).toBe(true);
  });

  it('several adapters: the active one is the model\'s (named and counted as HF\'s swapped-in modules), the others held aside', () => {
    const peft = getPeftModel(load('llama'), new AdaptionPromptConfig({ adapterLen: 3, adapterLayers: 2 }));
    const all = peft.getNbTrainableParameters().all;
    peft.addAdapter('top', new AdaptionPromptConfig({ adapterLen: 7, adapterLayers: 1 }));
    expect(peft.activeAdapter).toBe('top');
    // only 'top' (layer 1) is in the model now, as in HF after add_adapter
    expect(peft.namedParameters().filter(([p]) => p.includes('adaption_')).map(([p, t]) => [p, t.shape])).toEqual([
      ['base_model.model.model.layers.1.self_attn.adaption_prompt', [1, 7, 32]],
      ['base_model.model.model.layers.1.self_attn.adaption_gate', [1]],
    ]);
    expect(peft.getNbTrainableParameters()).toEqual({ trainable: 7 * 32 + 1, all: all - 2 * (3 * 32 + 1) + 7 * 32 + 1 });
    peft.setAdapter('default');
    expect(peft.getNbTrainableParameters().trainable).toBe(2 * (3 * 32 + 1));
    expect(() => peft.setAdapter(['default', 'top'])).toThrow(/only one adaption prompt can be active at a time/);
    // each saved on its own, under HF's keys
    peft.setAdapter('default');
    const dir = tmp();
    peft.savePretrained(dir);
    expect([...rawEntries(path.join(dir, 'top', 'adapter_model.safetensors'))].map(([k, v]) => [k, v.shape])).toEqual([
      ['base_model.model.model.layers.1.self_attn.adaption_gate', [1]],
      ['base_model.model.model.layers.1.self_attn.adaption_prompt', [1, 7, 32]],
    ]);
    expect(rawEntries(path.join(dir, 'adapter_model.safetensors')).size).toBe(4);
    peft.deleteAdapter('top');
    expect([...peft.peftConfig.keys()]).toEqual(['default']);
    expect(peft.getNbTrainableParameters().trainable).toBe(2 * (3 * 32 + 1));
  });

  it('Mistral (HF\'s llama path, a sliding window) is adapted; grouped kv heads as HF\'s factor', () => {
    const model = noGrad(() => new MistralForCausalLM(new MistralConfig({ vocabSize: 97, hiddenSize: 32, intermediateSize: 48, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 1 })));
    const golden = openGolden('llama');
    const inputs = inputsOf('llama', golden);
    const base = noGrad(() => forward(model as never, inputs).logits.toFloat32Array());
    const peft = getPeftModel(model as Module, new AdaptionPromptConfig({ adapterLen: 2, adapterLayers: 1 }));
    expect(noGrad(() => forward(peft.model as never, inputs).logits.toFloat32Array())).toEqual(base);
    // a non-zero gate: the prompt's keys and values (one kv head for four query heads) now count
    const gate = peft.namedParameters().find(([p]) => p.endsWith('adaption_gate'))![1];
    copyInto(gate, fromArray([1], [1]));
    const adapted = noGrad(() => forward(peft.model as never, inputs).logits.toFloat32Array());
    expect(adapted.every(Number.isFinite)).toBe(true);
    expect(adapted.some((v, i) => Math.abs(v - base[i]) > 1e-4)).toBe(true);
    golden.file.close();
  });

  it('trainable counts: HF\'s adapter_layers * (adapter_len * hidden + 1), on GPT-2 small and a Llama of its width', () => {
    const gpt2 = withoutInit(() => new GPT2LMHeadModel(new GPT2Config()));
    const peft = getPeftModel(gpt2, new AdaptionPromptConfig({ adapterLen: 10, adapterLayers: 2 }));
    expect(peft.getNbTrainableParameters()).toEqual({ trainable: 2 * (10 * 768 + 1), all: 124439808 + 2 * (10 * 768 + 1) });
    const lines: string[] = [];
    peft.printTrainableParameters((l) => lines.push(l));
    expect(lines).toEqual(['trainable params: 15,362 || all params: 124,455,170 || trainable%: 0.0123']);
    peft.dispose();
    const llama = withoutInit(() => new LlamaForCausalLM(new LlamaConfig({ hiddenSize: 768, intermediateSize: 3072, numHiddenLayers: 12, numAttentionHeads: 12, numKeyValueHeads: 12, vocabSize: 64 })));
    const all = llama.numParameters();
    const p2 = getPeftModel(llama, new AdaptionPromptConfig({ adapterLen: 10, adapterLayers: 12 }));
    expect(p2.getNbTrainableParameters()).toEqual({ trainable: 12 * (10 * 768 + 1), all: all + 12 * (10 * 768 + 1) });
    p2.dispose();
  });
});

describe('bad adaption prompt input is an error naming the field', () => {
  it('in the constructor', () => {
    expect(() => new AdaptionPromptConfig({})).toThrow(/AdaptionPromptConfig: adapterLen must be a positive integer, got null/);
    expect(() => new AdaptionPromptConfig({ adapterLen: 4 })).toThrow(/AdaptionPromptConfig: adapterLayers must be a positive integer, got null/);
    expect(() => new AdaptionPromptConfig({ adapterLen: 0, adapterLayers: 1 })).toThrow(/adapterLen must be a positive integer, got 0/);
    expect(() => new AdaptionPromptConfig({ adapterLen: 2, adapterLayers: 1.5 })).toThrow(/adapterLayers must be a positive integer, got 1\.5/);
    expect(() => new AdaptionPromptConfig({ adapterLen: 2, adapterLayers: 1, targetModules: ['self_attn'] as never })).toThrow(/AdaptionPromptConfig: targetModules must be the attention submodule's name \(a string\) or null, got \["self_attn"\]/);
  });

  it('on the model: more layers than it has, an unsupported model type, a target that is no attention', () => {
    expect(() => getPeftModel(load('llama'), new AdaptionPromptConfig({ adapterLen: 2, adapterLayers: 3 })))
      .toThrow(/Config specifies more adapter layers '3' than the model has '2'/);
    const qwen = noGrad(() => new Qwen2ForCausalLM(new Qwen2Config({ vocabSize: 97, hiddenSize: 32, intermediateSize: 48, numHiddenLayers: 1, numAttentionHeads: 4, numKeyValueHeads: 2 })));
    expect(() => getPeftModel(qwen as Module, new AdaptionPromptConfig({ adapterLen: 2, adapterLayers: 1 }))).toThrow(/Unsupported model type for adaption prompt: 'qwen2'/);
    expect(() => getPeftModel(load('llama'), new AdaptionPromptConfig({ adapterLen: 2, adapterLayers: 1, targetModules: 'mlp' })))
      .toThrow(/'model\.layers\.1\.mlp' is a LlamaMLP; adaption prompts wrap the llama attention \(LlamaAttention\)/);
    expect(() => getPeftModel(load('llama'), new AdaptionPromptConfig({ adapterLen: 2, adapterLayers: 1, targetModules: 'nope' })))
      .toThrow(/more adapter layers '1' than the model has '0'/);
  });

  it('in adapter_config.json and the weights: the file and the key named', () => {
    const dir = tmp();
    const src = path.join(PEFT_FIXTURES, 'adaption_prompt_llama');
    for (const f of fs.readdirSync(src)) fs.copyFileSync(path.join(src, f), path.join(dir, f));
    const file = path.join(dir, 'adapter_config.json');
    const good = JSON.parse(fs.readFileSync(file, 'utf8'));
    const withField = (k: string, v: unknown) => fs.writeFileSync(file, JSON.stringify({ ...good, [k]: v }));
    withField('adapter_len', '3');
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/adapter_config\.json: AdaptionPromptConfig: adapterLen must be a positive integer, got "3"/);
    withField('adapter_layers', null);
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/adapter_config\.json: AdaptionPromptConfig: adapterLayers must be a positive integer, got null/);
    withField('adapter_len', 4);
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/'model\.layers\.0\.self_attn\.adaption_prompt' has shape \[1, 3, 32\], the model's adapter has \[1, 4, 32\]/);
    withField('adapter_layers', 1);
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/unexpected 2 key\(s\): 'model\.layers\.0\.self_attn\.adaption_gate', 'model\.layers\.0\.self_attn\.adaption_prompt'/);
  });
});
