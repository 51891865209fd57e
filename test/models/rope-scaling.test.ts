/**
 * RoPE scaling and Phi-3 against PyTorch's numbers (test/fixtures/model/make_rope_phi3_golden.py transcribes
 * HF's modeling_rope_utils.py, modeling_llama.py and modeling_phi3.py): a tiny Llama with llama3 rope
 * scaling, one with linear scaling (the legacy 'type' key), and a tiny Phi-3 with LongRoPE, a partial rotary
 * width (partial_rotary_factor 0.5), fused qkv_proj / gate_up_proj and a sliding window, each loaded from its
 * HF folder through AutoModelForCausalLM: logits, loss and every parameter's gradient on a padded batch match
 * to 1e-4 relative on every CPU backend (CUDA too where present), 16 greedy tokens through the KV cache equal
 * the script's, and Phi-3's forward over 40 positions (past original_max_position_embeddings 32: the long
 * factors; past the window 24) matches too.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  AutoModelForCausalLM, AutoModelForSequenceClassification, getPeftModel, IA3Config, LlamaConfig, LlamaForCausalLM, LoraConfig,
  Phi3Config, Phi3ForCausalLM, Phi3ForSequenceClassification, SafetensorsFile, setBackend, tidy,
} from '../../lib';
import { backendsWithKernels } from '../helpers/backends';
import { describeFamilyGoldens, goldenIds } from '../helpers/family_goldens';

const ROOT = path.join(__dirname, '..', 'fixtures', 'model', 'rope_scaling');
const CLASSES = { llama3: LlamaForCausalLM, linear: LlamaForCausalLM, phi3: Phi3ForCausalLM } as const;


describe.each(backendsWithKernels('rmsNormForward', 'rmsNormBackward', 'embeddingForward', 'rope', 'attentionForward', 'attentionBackward', 'crossEntropyForward'))('RoPE scaling and Phi-3 against PyTorch on %s', (backendName) => {
  beforeAll(() => setBackend(backendName));
  afterAll(() => setBackend('js'));

  describeFamilyGoldens(ROOT, CLASSES, (name, get) => {
    if (name !== 'phi3') return;
    it('matches a forward past original_max_position_embeddings (long factors) and past the sliding window', () => {
      const { model, golden } = get();
      model.eval();
      tidy(() => {
        const { logits } = model.forward({ inputIds: goldenIds(golden, 'long_input_ids') });
        expect(logits).toAllClose(golden.load('long_logits'), { rtol: 1e-4, atol: 1e-5 });
      });
    });
  });
});

describe('configs with rope_scaling', () => {
  it('LlamaConfig reads, validates and writes rope_scaling; the default stays null', () => {
    expect(new LlamaConfig().ropeScaling).toBeNull();
    const rs = { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };
    const c = LlamaConfig.fromDict({ hidden_size: 64, num_attention_heads: 4, rope_scaling: rs, max_position_embeddings: 131072 });
    expect(c.ropeScaling).toEqual(rs);
    expect(c.toDict().rope_scaling).toEqual(rs);
    expect(() => LlamaConfig.fromDict({ hidden_size: 64, num_attention_heads: 4, rope_scaling: { rope_type: 'llama3', factor: 8 } }))
      .toThrow(/LlamaConfig: rope_scaling.low_freq_factor is required for rope_type 'llama3'/);
    expect(() => LlamaConfig.fromDict({ rope_scaling: { type: 'linear', factor: 0 } })).toThrow(/LlamaConfig: rope_scaling.factor must be a number > 0, got 0/);
  });

  it('Phi3Config has HF\'s defaults, maps the legacy su/yarn types to longrope and checks the factor lists', () => {
    const c = new Phi3Config();
    expect([c.vocabSize, c.hiddenSize, c.intermediateSize, c.numHiddenLayers, c.numAttentionHeads, c.numKeyValueHeads, c.maxPositionEmbeddings,
      c.originalMaxPositionEmbeddings, c.rmsNormEps, c.partialRotaryFactor, c.bosTokenId, c.eosTokenId, c.padTokenId, c.slidingWindow, c.tieWordEmbeddings])
      .toEqual([32064, 3072, 8192, 32, 32, 32, 4096, 4096, 1e-5, 1, 1, 32000, 32000, null, false]);
    const base = { hidden_size: 64, num_attention_heads: 4, partial_rotary_factor: 0.5 };
    const su = Phi3Config.fromDict({ ...base, rope_scaling: { type: 'su', short_factor: [1, 1, 1, 1], long_factor: [2, 2, 2, 2] } });
    expect(su.ropeScaling!.type).toBe('longrope');
    expect(() => Phi3Config.fromDict({ ...base, rope_scaling: { type: 'longrope', short_factor: [1, 1], long_factor: [2, 2, 2, 2] } }))
      .toThrow(/Phi3Config: rope_scaling.short_factor must have rotary width \/ 2 = 4 values, got 2/);
    expect(() => Phi3Config.fromDict({ ...base, rope_scaling: { type: 'linear', factor: 2 } })).toThrow(/Phi3Config: rope_scaling's type must be 'longrope'/);
    expect(() => Phi3Config.fromDict({ ...base, sliding_window: 0 })).toThrow(/Phi3Config: sliding_window must be a positive integer or null, got 0/);
    expect(() => Phi3Config.fromDict({ ...base, partial_rotary_factor: '0.5' })).toThrow(/'partial_rotary_factor' must be a number/);
  });

  it('Qwen2 accepts rope_scaling (yarn) and its model runs it', () => {
    const { Qwen2Config, Qwen2ForCausalLM } = jest.requireActual('../../lib');
    const c = new Qwen2Config({ vocabSize: 32, hiddenSize: 16, intermediateSize: 32, numHiddenLayers: 1, numAttentionHeads: 2, numKeyValueHeads: 1,
      ropeScaling: { rope_type: 'yarn', factor: 4, original_max_position_embeddings: 32 } });
    setBackend('js');
    const m = new Qwen2ForCausalLM(c);
    tidy(() => expect(Number.isFinite(m.forward({ inputIds: { data: Int32Array.of(1, 2, 3), shape: [1, 3] } }).logits.toFloat32Array()[0])).toBe(true));
    m.dispose();
  });
});

describe('Phi-3 with PEFT', () => {
  it('LoRA on qkv_proj / gate_up_proj saves HF\'s module paths; no default targets (HF peft has no phi3 entry)', () => {
    setBackend('js');
    const model = AutoModelForCausalLM.fromPretrained(path.join(ROOT, 'phi3'));
    expect(() => getPeftModel(model, new LoraConfig({ r: 4, taskType: 'CAUSAL_LM' }))).toThrow(/no default target modules for model type 'phi3'/);
    expect(() => getPeftModel(model, new IA3Config({ taskType: 'CAUSAL_LM' }))).toThrow(/IA3: no default target modules for model type 'phi3'/);
    const peft = getPeftModel(model, new LoraConfig({ r: 4, targetModules: ['qkv_proj', 'o_proj', 'gate_up_proj', 'down_proj'], taskType: 'CAUSAL_LM' }));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'phi3-lora-'));
    try {
      peft.savePretrained(dir);
      const saved = SafetensorsFile.open(path.join(dir, 'adapter_model.safetensors'));
      expect(saved.names()).toContain('base_model.model.model.layers.0.self_attn.qkv_proj.lora_A.weight');
      expect(saved.names()).toContain('base_model.model.model.layers.1.mlp.gate_up_proj.lora_B.weight');
      saved.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      model.dispose();
    }
  });
});

describe('Phi-3 as a classifier', () => {
  it('AutoModelForSequenceClassification builds Phi3ForSequenceClassification from the causal folder', () => {
    setBackend('js');
    const model = AutoModelForSequenceClassification.fromPretrained(path.join(ROOT, 'phi3'), { numLabels: 3 });
    expect(model).toBeInstanceOf(Phi3ForSequenceClassification);
    tidy(() => {
      const { logits, loss } = model.forward({ inputIds: { data: Int32Array.of(1, 5, 9, 0, 1, 7, 8, 9), shape: [2, 4] }, labels: { data: Int32Array.of(0, 2), shape: [2] } });
      expect(logits.shape).toEqual([2, 3]);
      expect(Number.isFinite(loss!.item())).toBe(true);
    });
    model.dispose();
  });
});
