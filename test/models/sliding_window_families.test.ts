/**
 * Mistral and Gemma 2 beyond the fixtures (families.test.ts): their configs' HF defaults and checks, the window
 * and soft-caps each layer gets, HF peft's default targets, and cached decoding past the window equal to full
 * forwards (the cache keeps every key; the kernel's window hides the old ones).
 */
import * as path from 'path';
import { AutoModelForCausalLM, KVCache, setBackend, tidy } from '../../lib';
import { Gemma2Config } from '../../lib/nn/models/gemma2/config';
import { Gemma2ForCausalLM } from '../../lib/nn/models/gemma2/model';
import { MistralConfig } from '../../lib/nn/models/mistral/config';
import { MistralForCausalLM } from '../../lib/nn/models/mistral/model';
import { loraDefaultTargets } from '../../lib/peft/target_module_mapping';
import { IA3_DEFAULT_TARGETS } from '../../lib/peft/tuners/ia3/defaults';
import { backendsWithKernels } from '../helpers/backends';

const FAMILIES = path.join(__dirname, '..', 'fixtures', 'model', 'families');

const windows = (m: { model: { layers: Iterable<{ self_attn: { window: number } }> } }) => Array.from(m.model.layers, (l) => l.self_attn.window);

describe('MistralConfig', () => {
  it("has HF's defaults (configuration_mistral.py)", () => {
    const c = new MistralConfig();
    expect([c.vocabSize, c.hiddenSize, c.intermediateSize, c.numHiddenLayers, c.numAttentionHeads, c.numKeyValueHeads, c.headDim])
      .toEqual([32000, 4096, 14336, 32, 32, 8, 128]);
    expect([c.slidingWindow, c.maxPositionEmbeddings, c.ropeTheta, c.rmsNormEps, c.tieWordEmbeddings, c.bosTokenId, c.eosTokenId, c.padTokenId])
      .toEqual([4096, 131072, 10000, 1e-6, false, 1, 2, null]);
    expect(c.toDict()).toMatchObject({ model_type: 'mistral', sliding_window: 4096, num_key_value_heads: 8 });
    expect(c.toDict()).not.toHaveProperty('head_dim');
  });

  it('reads null sliding_window (full attention), null num_key_value_heads and head_dim as HF does', () => {
    const base = { hidden_size: 64, intermediate_size: 32, num_hidden_layers: 2, num_attention_heads: 4, vocab_size: 16 };
    const c = MistralConfig.fromDict({ ...base, sliding_window: null, num_key_value_heads: null, head_dim: null });
    expect([c.slidingWindow, c.numKeyValueHeads, c.headDim]).toEqual([null, 4, 16]);
    const m = new MistralForCausalLM(c);
    expect(windows(m)).toEqual([0, 0]);
    m.dispose();
    const w = new MistralForCausalLM(MistralConfig.fromDict({ ...base, num_key_value_heads: 2, sliding_window: 3 }));
    expect(windows(w)).toEqual([3, 3]);
    expect(w.model.layers.at(0).self_attn.q_proj.bias).toBeNull();
    w.dispose();
  });

  it.each([
    [{ sliding_window: 'x' }, /MistralConfig: 'sliding_window' must be an integer or null, got "x"/],
    [{ sliding_window: 2.5 }, /MistralConfig: 'sliding_window' must be an integer or null, got 2.5/],
    [{ sliding_window: 0 }, /MistralConfig: sliding_window must be a positive integer or null, got 0/],
    [{ num_attention_heads: 3 }, /MistralConfig: hidden_size 4096 is not divisible by num_attention_heads 3/],
  ])('refuses %j by name', (change, message) => {
    expect(() => MistralConfig.fromDict(change)).toThrow(message);
  });
});

describe('Gemma2Config', () => {
  it("has HF's defaults (configuration_gemma2.py) and alternates sliding and full layers from layer 0", () => {
    const c = new Gemma2Config();
    expect([c.vocabSize, c.hiddenSize, c.intermediateSize, c.numHiddenLayers, c.numAttentionHeads, c.numKeyValueHeads, c.headDim])
      .toEqual([256000, 2304, 9216, 26, 8, 4, 256]);
    expect([c.queryPreAttnScalar, c.slidingWindow, c.finalLogitSoftcapping, c.attnLogitSoftcapping, c.hiddenActivation, c.tieWordEmbeddings])
      .toEqual([256, 4096, 30, 50, 'gelu_pytorch_tanh', true]);
    expect([0, 1, 2, 3, 25].map((i) => c.layerWindow(i))).toEqual([4096, 0, 4096, 0, 0]);
    const v = c.decoderVariant;
    expect([v.attnScale, v.attnLogitSoftcap, v.finalLogitSoftcap]).toEqual([1 / 16, 50, 30]);
    expect(c.toDict()).not.toHaveProperty('layer_types');
  });

  it('follows layer_types, null soft-caps and null sliding_window; keeps hidden_act verbatim', () => {
    const base = { hidden_size: 16, intermediate_size: 32, num_hidden_layers: 3, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 8, vocab_size: 16 };
    const c = Gemma2Config.fromDict({ ...base, hidden_act: 'gelu_pytorch_tanh', layer_types: ['full_attention', 'sliding_attention', 'sliding_attention'], sliding_window: 5, attn_logit_softcapping: null, final_logit_softcapping: null });
    const m = new Gemma2ForCausalLM(c);
    expect(windows(m)).toEqual([0, 5, 5]);
    expect(Array.from(m.model.layers, (l) => l.self_attn.softcap)).toEqual([0, 0, 0]);
    expect(m.namedParameters().map(([n]) => n).filter((n) => n.startsWith('model.layers.0.') && n.includes('norm')).sort()).toEqual([
      'model.layers.0.input_layernorm.weight', 'model.layers.0.post_attention_layernorm.weight',
      'model.layers.0.post_feedforward_layernorm.weight', 'model.layers.0.pre_feedforward_layernorm.weight',
    ]);
    m.dispose();
    expect(c.toDict()).toMatchObject({ hidden_act: 'gelu_pytorch_tanh', hidden_activation: 'gelu_pytorch_tanh', attn_logit_softcapping: null });
    const none = new Gemma2ForCausalLM(Gemma2Config.fromDict({ ...base, sliding_window: null }));
    expect(windows(none)).toEqual([0, 0, 0]);
    none.dispose();
  });

  it.each([
    [{ final_logit_softcapping: 'x' }, /Gemma2Config: 'final_logit_softcapping' must be a number > 0 or null, got "x"/],
    [{ attn_logit_softcapping: -1 }, /Gemma2Config: 'attn_logit_softcapping' must be a number > 0 or null, got -1/],
    [{ query_pre_attn_scalar: 0 }, /Gemma2Config: query_pre_attn_scalar must be a number > 0, got 0/],
    [{ sliding_window: 0 }, /Gemma2Config: sliding_window must be a positive integer or null, got 0/],
    [{ layer_types: ['sliding_attention'] }, /Gemma2Config: 'layer_types' must list 'full_attention' or 'sliding_attention' for each of the 26 layers/],
    [{ use_bidirectional_attention: true }, /Gemma2Config: use_bidirectional_attention true is not supported/],
  ])('refuses %j by name', (change, message) => {
    expect(() => Gemma2Config.fromDict(change)).toThrow(message);
  });
});

describe("HF peft's default targets", () => {
  it('for mistral and gemma2 (peft constants.py)', () => {
    expect(loraDefaultTargets('mistral')).toEqual(['q_proj', 'v_proj']);
    expect(loraDefaultTargets('gemma2')).toEqual(['q_proj', 'v_proj']);
    expect(IA3_DEFAULT_TARGETS.mistral).toEqual({ targetModules: ['k_proj', 'v_proj', 'down_proj'], feedforwardModules: ['down_proj'] });
    expect(IA3_DEFAULT_TARGETS.gemma2).toEqual({ targetModules: ['q_proj', 'v_proj', 'down_proj'], feedforwardModules: ['down_proj'] });
  });
});

describe.each(backendsWithKernels('attentionForward', 'rope'))('cached decoding past the window on %s', (backendName) => {
  beforeAll(() => setBackend(backendName));

  it.each(['mistral', 'gemma2'])('%s: each cached step\'s logits equal the full forward\'s at that position', (family) => {
    const model = AutoModelForCausalLM.fromPretrained(path.join(FAMILIES, family));
    model.eval();
    const tokens = Int32Array.from({ length: 13 }, (_, i) => (i * 37 + 5) % 256);
    tidy(() => {
      const full = model.forward({ inputIds: { data: tokens, shape: [1, 13] } }).logits;
      const cache = new KVCache();
      // A prompt of 3, then one token at a time: the window (4) slides over the cached keys.
      const first = model.forward({ inputIds: { data: tokens.slice(0, 3), shape: [1, 3] }, cache }).logits;
      expect(first).toAllClose(full.slice(1, 0, 3), { rtol: 1e-4, atol: 1e-5 });
      for (let t = 3; t < 13; t++) {
        const step = model.forward({ inputIds: { data: tokens.slice(t, t + 1), shape: [1, 1] }, cache }).logits;
        expect(step).toAllClose(full.slice(1, t, t + 1), { rtol: 1e-4, atol: 1e-5 });
      }
      cache.dispose();
    });
    model.dispose();
  });
});
