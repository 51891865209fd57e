/** LlamaConfig with Hugging Face's defaults (LLaMA-7B's shapes). */
import type { Embedding } from '../../layers/embedding';
import type { RMSNorm } from '../../layers/norm';
import type { Tensor } from '../../../tensor/tensor';
import { checkRopeScaling } from '../../../ops/rope/scaling';
import { camelToSnake, ModelConfig, snakeToCamel } from '../config_base';

/**
 * Where a Llama-like family departs from Llama inside the shared blocks (lib/nn/models/llama/model.ts).
 * Absent fields are Llama's. A config exposes it as a getter (`decoderVariant`), so it is never written to
 * config.json.
 */
export interface DecoderVariant {
  /** Bias on q_proj/k_proj/v_proj and on o_proj (Llama: attention_bias on all four; Qwen2: q, k, v only). */
  attentionBias?: { qkv: boolean; o: boolean };
  /** RMSNorm over each head of q and k (head_dim wide) before RoPE: Qwen3's q_norm / k_norm. */
  qkNorm?: boolean;
  /** The activation of gate_proj in the gated MLP (Llama: silu; Gemma: GeGLU's gelu_tanh). */
  mlpActivation?: (x: Tensor) => Tensor;
  /** Builds every RMSNorm of the model (Gemma's scales by 1 + weight). */
  makeNorm?: (size: number, eps: number) => RMSNorm;
  /** Multiplies the input embeddings before the first layer (Gemma: sqrt(hidden_size)). */
  embedScale?: number;
  /** The embedding table's class. */
  makeEmbedding?: (vocab: number, hidden: number, std: number) => Embedding;
  /**
   * The sliding window of layer i's attention, 0 for full attention (Mistral: sliding_window on every layer;
   * Qwen2/Qwen3: from max_window_layers on when use_sliding_window; Gemma 2: its sliding_attention layers).
   */
  slidingWindow?: (layerIndex: number) => number;
  /** Attention logit soft-capping: scores become c * tanh(scores / c) (Gemma 2's attn_logit_softcapping). */
  attnLogitSoftcap?: number;
  /** The attention's score scale (Gemma 2: query_pre_attn_scalar ** -0.5); default 1 / sqrt(head_dim). */
  attnScale?: number;
  /** Final logit soft-capping of the LM head's logits: c * tanh(logits / c) (Gemma 2's final_logit_softcapping). */
  finalLogitSoftcap?: number;
  /** Builds decoder layer i (Gemma 2's layer with its four norms); default LlamaDecoderLayer. */
  makeLayer?: (layerIndex: number) => import('./model').LlamaDecoderLayer<never>;
}

/** What the Llama building blocks read of a config: LlamaConfig's fields, and those of the families built from them. */
export interface LlamaLikeConfig {
  readonly modelType: string;
  architectures: string[];
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  /** Width of one attention head (q_proj has numAttentionHeads * headDim outputs). */
  readonly headDim: number;
  maxPositionEmbeddings: number;
  initializerRange: number;
  rmsNormEps: number;
  ropeTheta: number;
  /** HF's rope_scaling (null: the default RoPE); lib/ops/rope/scaling.ts computes its frequencies. */
  ropeScaling?: Record<string, unknown> | null;
  /** Rotate only int(head_dim * partial_rotary_factor) dims of each head (Phi-3; default 1). */
  partialRotaryFactor?: number;
  /** Phi-3's top-level original_max_position_embeddings (longrope's switch point). */
  originalMaxPositionEmbeddings?: number | null;
  tieWordEmbeddings: boolean;
  attentionBias?: boolean;
  mlpBias?: boolean;
  ropeInterleaved?: boolean;
  bosTokenId: number | null;
  eosTokenId: number | number[] | null;
  padTokenId: number | null;
  id2label: Record<string, string>;
  label2id: Record<string, number>;
  readonly numLabels: number;
  classifierPooling?: 'last' | 'mean';
  readonly decoderVariant?: DecoderVariant;
  toDict(): Record<string, unknown>;
}

/**
 * The shape checks every Llama-like config makes (positive sizes, heads dividing evenly), naming the
 * config class and HF's key.
 */
export function checkDecoderShape(config: LlamaLikeConfig & ModelConfig, headDimFromConfig: boolean): void {
  const name = config.constructor.name;
  const self = config as unknown as Record<string, unknown>;
  for (const f of ['vocabSize', 'hiddenSize', 'intermediateSize', 'numHiddenLayers', 'numAttentionHeads', 'numKeyValueHeads', ...(headDimFromConfig ? ['headDim'] : [])]) {
    const v = self[f];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new RangeError(`${name}: ${camelToSnake(f)} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  if (!headDimFromConfig && config.hiddenSize % config.numAttentionHeads !== 0)
    throw new RangeError(`${name}: hidden_size ${config.hiddenSize} is not divisible by num_attention_heads ${config.numAttentionHeads}`);
  if (config.numAttentionHeads % config.numKeyValueHeads !== 0)
    throw new RangeError(`${name}: num_attention_heads ${config.numAttentionHeads} is not divisible by num_key_value_heads ${config.numKeyValueHeads}`);
  if (config.headDim % 2 !== 0) throw new RangeError(`${name}: head_dim ${config.headDim} must be even for rotary embeddings`);
}

export class LlamaConfig extends ModelConfig {
  readonly modelType = 'llama';
  architectures: string[] = ['LlamaForCausalLM'];
  vocabSize = 32000;
  hiddenSize = 4096;
  intermediateSize = 11008;
  numHiddenLayers = 32;
  numAttentionHeads = 32;
  numKeyValueHeads = 32;
  hiddenAct = 'silu';
  maxPositionEmbeddings = 2048;
  initializerRange = 0.02;
  rmsNormEps = 1e-6;
  ropeTheta = 10000;
  /** RoPE scaling (rope_scaling: linear, dynamic, llama3, longrope, yarn), validated by checkRopeScaling. */
  ropeScaling: Record<string, unknown> | null = null;
  tieWordEmbeddings = false;
  attentionBias = false;
  mlpBias = false;
  attentionDropout = 0;
  bosTokenId = 1;
  eosTokenId = 2;
  padTokenId: number | null = null;
  /** Labels of a sequence-classification head (LlamaForSequenceClassification); HF's default has 2. */
  id2label: Record<string, string> = { 0: 'LABEL_0', 1: 'LABEL_1' };
  label2id: Record<string, number> = { LABEL_0: 0, LABEL_1: 1 };
  /**
   * Not HF's: true for llama2.c checkpoints, whose q/k rows are not permuted for HF's rotate_half, so RoPE
   * must rotate interleaved pairs (2i, 2i+1). Written to config.json only when true.
   */
  ropeInterleaved = false;
  /**
   * Not HF's: what LlamaForSequenceClassification feeds its head. 'last' is HF's (the hidden state of each
   * row's last real token); 'mean' averages the hidden states of the real tokens, which keeps every token's
   * evidence in reach of the head (a small or briefly pretrained base summarises a message poorly in its
   * last position). Written to config.json only when 'mean'.
   */
  classifierPooling: 'last' | 'mean' = 'last';

  constructor(fields: Partial<Omit<LlamaConfig, 'modelType' | 'extra'>> = {}) {
    super();
    Object.assign(this, fields);
    if (fields.numKeyValueHeads === undefined && fields.numAttentionHeads !== undefined) this.numKeyValueHeads = this.numAttentionHeads;
    this.validate();
  }

  static fromDict(dict: Record<string, unknown>, file?: string): LlamaConfig {
    const c = new LlamaConfig();
    c.assign(dict, file);
    if (dict.num_key_value_heads === undefined || dict.num_key_value_heads === null) c.numKeyValueHeads = c.numAttentionHeads;
    c.validate();
    return c;
  }

  get numLabels(): number {
    return Object.keys(this.id2label).length;
  }

  get headDim(): number {
    return this.hiddenSize / this.numAttentionHeads;
  }

  override toDict(): Record<string, unknown> {
    const d = super.toDict();
    if (!this.ropeInterleaved) delete d.rope_interleaved;
    if (this.classifierPooling === 'last') delete d.classifier_pooling;
    return { ...d, model_type: this.modelType };
  }

  private validate(): void {
    this.requirePositive('vocabSize', 'hiddenSize', 'intermediateSize', 'numHiddenLayers', 'numAttentionHeads', 'numKeyValueHeads');
    if (this.classifierPooling !== 'last' && this.classifierPooling !== 'mean')
      throw new RangeError(`LlamaConfig: classifier_pooling must be 'last' or 'mean', got ${JSON.stringify(this.classifierPooling)}`);
    if (this.hiddenSize % this.numAttentionHeads !== 0)
      throw new RangeError(`LlamaConfig: hidden_size ${this.hiddenSize} is not divisible by num_attention_heads ${this.numAttentionHeads}`);
    if (this.numAttentionHeads % this.numKeyValueHeads !== 0)
      throw new RangeError(`LlamaConfig: num_attention_heads ${this.numAttentionHeads} is not divisible by num_key_value_heads ${this.numKeyValueHeads}`);
    checkRopeScaling('LlamaConfig', this);
  }
}

/**
 * Type checks of config.json fields that ModelConfig's number/boolean checks cannot make (fields whose
 * default is null, strings, lists): an error naming the class and HF's key.
 */
export function checkFieldKinds(config: ModelConfig, kinds: Record<string, 'int?' | 'int|int[]?' | 'string' | 'string?' | 'string[]' | 'object'>): void {
  const self = config as unknown as Record<string, unknown>;
  const isInt = (v: unknown) => typeof v === 'number' && Number.isInteger(v);
  for (const [field, kind] of Object.entries(kinds)) {
    const v = self[field];
    const ok = kind === 'int?' ? v === null || isInt(v)
      : kind === 'int|int[]?' ? v === null || isInt(v) || (Array.isArray(v) && v.every(isInt))
      : kind === 'string' ? typeof v === 'string'
      : kind === 'string?' ? v === null || typeof v === 'string'
      : kind === 'string[]' ? Array.isArray(v) && v.every((x) => typeof x === 'string')
      : v !== null && typeof v === 'object' && !Array.isArray(v);
    const expected = { 'int?': 'an integer or null', 'int|int[]?': 'an integer, a list of integers or null', string: 'a string', 'string?': 'a string or null', 'string[]': 'a list of strings', object: 'an object' }[kind];
    if (!ok) throw new TypeError(`${config.constructor.name}: '${camelToSnake(field)}' must be ${expected}, got ${JSON.stringify(v)}`);
  }
}

/**
 * A config.json object with HF's num_labels turned into id2label / label2id (LABEL_0 ...), as
 * PretrainedConfig does when id2label is absent, so a config class needs no num_labels field.
 */
export function withNumLabels(dict: Record<string, unknown>, file = 'config'): Record<string, unknown> {
  if (dict === null || typeof dict !== 'object' || Array.isArray(dict) || !('num_labels' in dict)) return dict;
  const { num_labels: n, ...rest } = dict;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) throw new TypeError(`${file}: 'num_labels' must be a positive integer, got ${JSON.stringify(n)}`);
  // HF's num_labels setter: an id2label of that length stays, any other is replaced by LABEL_i.
  if (rest.id2label !== null && typeof rest.id2label === 'object' && Object.keys(rest.id2label).length === n) return rest;
  const names = Array.from({ length: n }, (_, i) => `LABEL_${i}`);
  return { ...rest, id2label: Object.fromEntries(names.map((l, i) => [String(i), l])), label2id: Object.fromEntries(names.map((l, i) => [l, i])) };
}

/**
 * Sets the config.json keys whose HF type is wider than their default's (a nullable number such as
 * sliding_window or pad_token_id, a list-or-number eos_token_id) without ModelConfig's number check,
 * returning the other keys; checkFieldKinds then checks them.
 */
export function takeLooseFields(config: ModelConfig, dict: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  const rest: Record<string, unknown> = {};
  const self = config as unknown as Record<string, unknown>;
  for (const [k, v] of Object.entries(dict)) {
    if (keys.includes(k)) self[snakeToCamel(k)] = v;
    else rest[k] = v;
  }
  return rest;
}
