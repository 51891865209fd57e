/**
 * The auto classes: config.json's model_type picks the family's class for each supported type, an unknown
 * one is an error naming it and the supported ones, a field of the wrong type is an error naming the field,
 * a missing or misshapen weight one naming the folder, the tensor and the shapes;
 * the new configs carry HF's defaults; HF peft's default LoRA / IA3 targets for the new families; the CLI's
 * --model loads them.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  AutoConfig, AutoModelForCausalLM, AutoModelForSequenceClassification, BertForSequenceClassification, GemmaConfig, GemmaForCausalLM,
  GemmaForSequenceClassification, getPeftModel, GPT2LMHeadModel, IA3Config, LlamaForCausalLM, LoraConfig, loraDefaultTargets, Qwen2Config,
  Qwen2ForCausalLM, Qwen2ForSequenceClassification, Qwen3Config, Qwen3ForCausalLM, SafetensorsFile, saveSafetensors, SUPPORTED_MODEL_TYPES, type Tensor, tidy,
} from '../../lib';
import { loadModelFlag } from '../../lib/cli/model_files';

const FIXTURES = path.join(__dirname, '..', 'fixtures');
const FOLDERS: Record<string, string> = {
  llama: path.join(FIXTURES, 'models', 'llama'), gpt2: path.join(FIXTURES, 'models', 'gpt2'), bert: path.join(FIXTURES, 'models', 'bert'),
  qwen2: path.join(FIXTURES, 'model', 'families', 'qwen2'), qwen3: path.join(FIXTURES, 'model', 'families', 'qwen3'),
  gemma: path.join(FIXTURES, 'model', 'families', 'gemma'),
};

let tmp: string;
beforeAll(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'peftjs-auto-'))));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A copy of a fixture folder with config.json edited. */
function withConfig(family: string, edit: (c: Record<string, unknown>) => void): string {
  const dir = fs.mkdtempSync(path.join(tmp, `${family}-`));
  for (const f of fs.readdirSync(FOLDERS[family])) fs.copyFileSync(path.join(FOLDERS[family], f), path.join(dir, f));
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  edit(config);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

describe('AutoModelForCausalLM / AutoModelForSequenceClassification', () => {
  it('knows every supported model_type', () => {
    expect([...SUPPORTED_MODEL_TYPES].sort()).toEqual(['bert', 'gemma', 'gemma2', 'gpt2', 'llama', 'mistral', 'phi3', 'qwen2', 'qwen3']);
    expect(AutoModelForCausalLM.supportedModelTypes.sort()).toEqual(['gemma', 'gemma2', 'gpt2', 'llama', 'mistral', 'phi3', 'qwen2', 'qwen3']);
    expect(AutoModelForSequenceClassification.supportedModelTypes.sort()).toEqual(['bert', 'gemma', 'gemma2', 'llama', 'mistral', 'phi3', 'qwen2', 'qwen3']);
  });

  it.each([['llama', LlamaForCausalLM], ['gpt2', GPT2LMHeadModel], ['qwen2', Qwen2ForCausalLM], ['qwen3', Qwen3ForCausalLM], ['gemma', GemmaForCausalLM]] as const)(
    'builds the %s causal LM from its folder', (family, cls) => {
      const m = AutoModelForCausalLM.fromPretrained(FOLDERS[family]);
      expect(m.constructor).toBe(cls);
      expect(m.config.modelType).toBe(family);
      m.dispose();
    });

  it.each([['bert', BertForSequenceClassification], ['qwen2', Qwen2ForSequenceClassification], ['gemma', GemmaForSequenceClassification]] as const)(
    'builds the %s classifier; from a causal LM folder with a new score head', (family, cls) => {
      const m = AutoModelForSequenceClassification.fromPretrained(FOLDERS[family], family === 'bert' ? {} : { numLabels: 3 });
      expect(m.constructor).toBe(cls);
      if (family !== 'bert') {
        expect(m.config.numLabels).toBe(3);
        const names = m.namedParameters().map(([n]) => n);
        expect(names).toContain('score.weight');
        expect(names.some((n) => n.startsWith('lm_head'))).toBe(false);
        tidy(() => {
          const out = m.forward({ inputIds: { data: Int32Array.from([1, 5, 9, 3]), shape: [2, 2] }, labels: { data: Int32Array.from([0, 2]), shape: [2] } });
          expect(out.logits.shape).toEqual([2, 3]);
          expect(Number.isFinite(out.loss!.item())).toBe(true);
        });
      }
      m.dispose();
    });

  it('keeps the base weights in a classifier made from a causal LM folder', () => {
    const lm = AutoModelForCausalLM.fromPretrained(FOLDERS.qwen3);
    const cls = AutoModelForSequenceClassification.fromPretrained(FOLDERS.qwen3, { id2label: { 0: 'ham', 1: 'spam' } });
    expect(cls.config.id2label).toEqual({ 0: 'ham', 1: 'spam' });
    const a = lm.stateDict().get('model.layers.1.self_attn.k_norm.weight')!, b = cls.stateDict().get('model.layers.1.self_attn.k_norm.weight')!;
    expect(b).toAllClose(a, { atol: 0, rtol: 0 });
    lm.dispose();
    cls.dispose();
  });

  it('reads the config class alone (AutoConfig)', () => {
    const c = AutoConfig.fromPretrained(FOLDERS.qwen3);
    expect(c).toBeInstanceOf(Qwen3Config);
    expect((c as Qwen3Config).headDim).toBe(32);
  });

  it('names an unknown model_type and the supported ones', () => {
    const dir = withConfig('qwen2', (c) => (c.model_type = 'mamba'));
    expect(() => AutoModelForCausalLM.fromPretrained(dir)).toThrow(/model_type "mamba" is not supported \(supported: llama, gpt2, bert, qwen2, qwen3, gemma, mistral, gemma2, phi3\)/);
    const none = withConfig('qwen2', (c) => delete c.model_type);
    expect(() => AutoModelForCausalLM.fromPretrained(none)).toThrow(/has no model_type \(supported: llama/);
  });

  it('refuses a task the family lacks', () => {
    expect(() => AutoModelForCausalLM.fromPretrained(FOLDERS.bert)).toThrow(/AutoModelForCausalLM has no model for model_type 'bert' \(model_types it builds: llama, gpt2, qwen2, qwen3, gemma, mistral, gemma2, phi3\)/);
    expect(() => AutoModelForSequenceClassification.fromPretrained(FOLDERS.gpt2)).toThrow(/no model for model_type 'gpt2'/);
    expect(() => AutoModelForCausalLM.fromPretrained(path.join(tmp, 'nowhere'))).toThrow(/does not exist/);
  });

  it('names the folder and the tensor when a weight is missing or misshapen', () => {
    const st = SafetensorsFile.open(path.join(FOLDERS.qwen3, 'model.safetensors'));
    const tensors = new Map(st.list().map((i) => [i.name, st.load(i.name)] as [string, Tensor]));
    st.close();
    const folder = (edit: (t: Map<string, Tensor>) => void) => {
      const dir = withConfig('qwen3', () => undefined), copy = new Map(tensors);
      edit(copy);
      saveSafetensors(path.join(dir, 'model.safetensors'), Object.fromEntries(copy));
      return dir;
    };
    const gone = folder((t) => t.delete('model.layers.1.self_attn.k_norm.weight'));
    expect(() => AutoModelForCausalLM.fromPretrained(gone)).toThrow(new RegExp(`loading ${gone}: 1 missing weights \\(model\\.layers\\.1\\.self_attn\\.k_norm\\.weight\\)`));
    const wrong = folder((t) => t.set('model.layers.1.self_attn.k_norm.weight', tensors.get('model.layers.0.self_attn.q_proj.weight')!));
    expect(() => AutoModelForCausalLM.fromPretrained(wrong))
      .toThrow(new RegExp(`loading ${wrong}: loadStateDict: 'model\\.layers\\.1\\.self_attn\\.k_norm\\.weight' has shape \\[128, 64\\] in the source but \\[32\\] in the model`));
    for (const t of tensors.values()) t.dispose();
  });

  it.each([
    ['qwen2', 'hidden_size', '64', /'hidden_size' must be a number, got "64"/],
    ['qwen2', 'tie_word_embeddings', 'yes', /'tie_word_embeddings' must be true or false/],
    ['qwen2', 'pad_token_id', 'x', /Qwen2Config: 'pad_token_id' must be an integer or null, got "x"/],
    ['qwen2', 'hidden_act', 5, /Qwen2Config: 'hidden_act' must be a string, got 5/],
    ['qwen3', 'sliding_window', 'big', /Qwen3Config: 'sliding_window' must be an integer or null, got "big"/],
    ['qwen3', 'head_dim', 0, /Qwen3Config: head_dim must be a positive integer, got 0/],
    ['qwen3', 'rope_scaling', { type: 'linear', factor: '2' }, /Qwen3Config: rope_scaling.factor must be a number > 0, got "2"/],
    ['qwen2', 'rope_scaling', { rope_type: 'ntk-by-parts', factor: 2 }, /Qwen2Config: rope_scaling's rope_type "ntk-by-parts" is not supported \(supported: default, linear, dynamic, llama3, longrope, yarn\)/],
    ['gemma', 'hidden_activation', 7, /GemmaConfig: 'hidden_activation' must be a string or null, got 7/],
    ['gemma', 'hidden_activation', 'swiglu9', /GemmaConfig: hidden_activation: activation: unknown activation 'swiglu9'/],
    ['gemma', 'eos_token_id', [1, 'a'], /GemmaConfig: 'eos_token_id' must be an integer, a list of integers or null/],
  ])('%s: a bad %s is an error naming the field', (family, key, value, message) => {
    const dir = withConfig(family, (c) => (c[key] = value));
    expect(() => AutoModelForCausalLM.fromPretrained(dir)).toThrow(message);
  });

  it('puts the sliding window on the layers HF does: from max_window_layers on, or layer_types\' sliding layers', () => {
    const windows = (dir: string) => {
      const m = AutoModelForCausalLM.fromPretrained(dir) as Qwen2ForCausalLM;
      const w = Array.from(m.model.layers, (l) => l.self_attn.window);
      m.dispose();
      return w;
    };
    expect(windows(withConfig('qwen2', (c) => Object.assign(c, { use_sliding_window: true, sliding_window: 4, max_window_layers: 1 })))).toEqual([0, 4]);
    expect(windows(withConfig('qwen3', (c) => Object.assign(c, { use_sliding_window: true, sliding_window: 4, layer_types: ['sliding_attention', 'full_attention'] })))).toEqual([4, 0]);
    expect(windows(withConfig('qwen2', (c) => Object.assign(c, { use_sliding_window: true, sliding_window: 4, max_window_layers: 28 })))).toEqual([0, 0]);
    expect(windows(withConfig('qwen2', (c) => Object.assign(c, { use_sliding_window: false, sliding_window: 4, max_window_layers: 0 })))).toEqual([0, 0]);
    expect(windows(withConfig('qwen2', (c) => Object.assign(c, { use_sliding_window: true, sliding_window: null, max_window_layers: 0 })))).toEqual([0, 0]);
    expect(() => AutoModelForCausalLM.fromPretrained(withConfig('qwen2', (c) => Object.assign(c, { use_sliding_window: true, sliding_window: 0 }))))
      .toThrow(/Qwen2Config: sliding_window must be a positive integer or null, got 0/);
  });

  it('loads the new families through the CLI\'s --model', () => {
    for (const [family, cls] of [['qwen2', Qwen2ForCausalLM], ['qwen3', Qwen3ForCausalLM], ['gemma', GemmaForCausalLM]] as const) {
      const m = loadModelFlag('generate', FOLDERS[family]);
      expect(m).toBeInstanceOf(cls);
      m.dispose();
    }
  });
});

describe('the new configs', () => {
  it('carry HF\'s defaults', () => {
    expect(new Qwen2Config().toDict()).toMatchObject({
      model_type: 'qwen2', vocab_size: 151936, hidden_size: 4096, intermediate_size: 22016, num_hidden_layers: 32, num_attention_heads: 32,
      num_key_value_heads: 32, hidden_act: 'silu', max_position_embeddings: 32768, initializer_range: 0.02, rms_norm_eps: 1e-6,
      tie_word_embeddings: false, rope_theta: 10000, use_sliding_window: false, sliding_window: 4096, max_window_layers: 28, attention_dropout: 0,
    });
    expect(new Qwen3Config().toDict()).toMatchObject({ model_type: 'qwen3', head_dim: 128, attention_bias: false, vocab_size: 151936, intermediate_size: 22016 });
    expect(new GemmaConfig().toDict()).toMatchObject({
      model_type: 'gemma', vocab_size: 256000, hidden_size: 3072, intermediate_size: 24576, num_hidden_layers: 28, num_attention_heads: 16,
      num_key_value_heads: 16, head_dim: 256, hidden_act: 'gelu_pytorch_tanh', hidden_activation: null, max_position_embeddings: 8192,
      pad_token_id: 0, eos_token_id: 1, bos_token_id: 2, tie_word_embeddings: true, rope_theta: 10000, attention_bias: false,
    });
    expect(new Qwen2Config().headDim).toBe(128);
    expect('head_dim' in new Qwen2Config().toDict()).toBe(false);
  });

  it('round-trip through config.json', () => {
    const c = new Qwen3Config({ vocabSize: 300, hiddenSize: 48, numAttentionHeads: 6, numKeyValueHeads: 2, headDim: 16, tieWordEmbeddings: true, layerTypes: null });
    const d = Qwen3Config.fromDict(JSON.parse(JSON.stringify(c.toDict())));
    expect(d.toDict()).toEqual(c.toDict());
    const g = GemmaConfig.fromDict({ ...new GemmaConfig({ hiddenSize: 64, headDim: 8 }).toDict(), num_labels: 4 });
    expect(g.numLabels).toBe(4);
  });

  it('build HF\'s module tree (tied heads, q/k/v biases, q_norm/k_norm)', () => {
    const q2 = new Qwen2ForCausalLM(new Qwen2Config({ vocabSize: 32, hiddenSize: 16, intermediateSize: 24, numHiddenLayers: 1, numAttentionHeads: 4, numKeyValueHeads: 2, tieWordEmbeddings: true }));
    const names = q2.namedParameters().map(([n]) => n);
    expect(names).toEqual(expect.arrayContaining(['model.layers.0.self_attn.q_proj.bias', 'model.layers.0.self_attn.k_proj.bias', 'model.layers.0.self_attn.v_proj.bias']));
    expect(names).not.toContain('model.layers.0.self_attn.o_proj.bias');
    expect(q2.lm_head.weight).toBe(q2.model.embed_tokens.weight);
    q2.dispose();
    const g = new GemmaForCausalLM(new GemmaConfig({ vocabSize: 32, hiddenSize: 16, intermediateSize: 24, numHiddenLayers: 1, numAttentionHeads: 4, numKeyValueHeads: 1, headDim: 8 }));
    expect(g.lm_head.weight).toBe(g.model.embed_tokens.weight);
    expect(Array.from(g.model.norm.weight.toFloat32Array())).toEqual(new Array(16).fill(0));  // (1 + weight) norms start at 0
    g.dispose();
  });
});

describe('PEFT defaults for the new families (HF peft constants.py)', () => {
  it('LoRA: q_proj and v_proj', () => {
    for (const t of ['qwen2', 'qwen3', 'gemma']) expect(loraDefaultTargets(t)).toEqual(['q_proj', 'v_proj']);
    expect(loraDefaultTargets('mamba')).toBeNull();
    const m = AutoModelForCausalLM.fromPretrained(FOLDERS.gemma);
    const peft = getPeftModel(m, new LoraConfig({ r: 4, targetModules: loraDefaultTargets(m.config.modelType), taskType: 'CAUSAL_LM' }));
    const trainable = peft.namedParameters().filter(([, p]) => p.requiresGrad).map(([n]) => n);
    expect(trainable).toContain('base_model.model.model.layers.1.self_attn.v_proj.lora_A.default.weight');
    expect(trainable.length).toBe(2 * 2 * 2);
    peft.dispose();
  });

  it.each(['qwen2', 'qwen3', 'gemma'])('IA3 on %s: q_proj, v_proj, down_proj (down_proj feed-forward) when targetModules is unset', (family) => {
    const m = AutoModelForCausalLM.fromPretrained(FOLDERS[family]);
    const config = new IA3Config({ taskType: 'CAUSAL_LM' });
    const peft = getPeftModel(m, config);
    expect(config.targetModules).toEqual(['q_proj', 'v_proj', 'down_proj']);
    expect(config.feedforwardModules).toEqual(['down_proj']);
    peft.dispose();
  });
});
