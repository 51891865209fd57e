/**
 * Qwen2Config with Hugging Face's defaults (transformers' configuration_qwen2.py: Qwen2-7B's shapes). Qwen2
 * is Llama with biases on q_proj/k_proj/v_proj (none on o_proj or the MLP).
 */
import { activation } from '../../layers/activation';
import { checkRopeScaling, type RotaryConfig } from '../../../ops/rope/scaling';
import { ModelConfig } from '../config_base';
import { checkDecoderShape, checkFieldKinds, type DecoderVariant, type LlamaLikeConfig, takeLooseFields, withNumLabels } from '../llama/config';

/** The sliding-window fields of a Qwen2/Qwen3 config. */
export type QwenWindowFields = ModelConfig & {
  useSlidingWindow: boolean; slidingWindow: number | null; maxWindowLayers: number; numHiddenLayers: number; layerTypes: string[] | null;
};

/** layer_types, when given, lists 'full_attention' or 'sliding_attention' for every layer; a window in force is >= 1. */
export function checkLayerTypes(c: QwenWindowFields): void {
  if (c.layerTypes !== null &&
    (!Array.isArray(c.layerTypes) || c.layerTypes.length !== c.numHiddenLayers || !c.layerTypes.every((t) => t === 'full_attention' || t === 'sliding_attention')))
    throw new TypeError(`${c.constructor.name}: 'layer_types' must list 'full_attention' or 'sliding_attention' for each of the ${c.numHiddenLayers} layers, got ${JSON.stringify(c.layerTypes)}`);
  if (c.useSlidingWindow && c.slidingWindow !== null && c.slidingWindow < 1)
    throw new RangeError(`${c.constructor.name}: sliding_window must be a positive integer or null, got ${c.slidingWindow}`);
}

/**
 * Each layer's sliding window (0: full attention), as HF's Qwen2/Qwen3 configs set it (configuration_qwen2.py
 * at 008e574: sliding_window = sliding_window if use_sliding_window else None; layer_types, when absent,
 * 'sliding_attention' for layers i >= max_window_layers when sliding_window is not None; transformers
 * v4.44.2's Qwen2Attention had the same rule: use_sliding_window and layer_idx >= max_window_layers).
 */
export function qwenSlidingWindow(c: QwenWindowFields): (layerIndex: number) => number {
  const window = c.useSlidingWindow && c.slidingWindow !== null ? c.slidingWindow : 0;
  const types = c.layerTypes;
  return (i) => {
    if (window === 0) return 0;
    const sliding = types !== null ? types[i] === 'sliding_attention' : i >= c.maxWindowLayers;
    return sliding ? window : 0;
  };
}

export class Qwen2Config extends ModelConfig implements LlamaLikeConfig {
  readonly modelType = 'qwen2';
  architectures: string[] = ['Qwen2ForCausalLM'];
  vocabSize = 151936;
  hiddenSize = 4096;
  intermediateSize = 22016;
  numHiddenLayers = 32;
  numAttentionHeads = 32;
  numKeyValueHeads = 32;
  hiddenAct = 'silu';
  maxPositionEmbeddings = 32768;
  initializerRange = 0.02;
  rmsNormEps = 1e-6;
  useCache = true;
  tieWordEmbeddings = false;
  ropeTheta = 10000;
  /** RoPE scaling (rope_scaling: linear, dynamic, llama3, longrope, yarn), checked by checkRopeScaling. */
  ropeScaling: Record<string, unknown> | null = null;
  useSlidingWindow = false;
  slidingWindow: number | null = 4096;
  maxWindowLayers = 28;
  layerTypes: string[] | null = null;
  attentionDropout = 0;
  bosTokenId: number | null = null;
  eosTokenId: number | number[] | null = null;
  padTokenId: number | null = null;
  id2label: Record<string, string> = { 0: 'LABEL_0', 1: 'LABEL_1' };
  label2id: Record<string, number> = { LABEL_0: 0, LABEL_1: 1 };
  /**
   * Width of one head: hidden_size / num_attention_heads unless config.json gives head_dim (newer HF
   * reads it with that fallback); written back only when it differs from the quotient.
   */
  headDim = 0;

  constructor(fields: Partial<Omit<Qwen2Config, 'modelType' | 'extra' | 'numLabels' | 'decoderVariant'>> = {}) {
    super();
    Object.assign(this, fields);
    if (fields.numKeyValueHeads === undefined && fields.numAttentionHeads !== undefined) this.numKeyValueHeads = this.numAttentionHeads;
    if (fields.headDim === undefined) this.headDim = this.hiddenSize / this.numAttentionHeads;
    this.validate();
  }

  static fromDict(dict: Record<string, unknown>, file?: string): Qwen2Config {
    const c = new Qwen2Config();
    c.assign(dict, file);
    if (dict.num_key_value_heads === undefined || dict.num_key_value_heads === null) c.numKeyValueHeads = c.numAttentionHeads;
    if (dict.head_dim === undefined || dict.head_dim === null) c.headDim = c.hiddenSize / c.numAttentionHeads;
    c.validate();
    return c;
  }

  protected override assign(dict: Record<string, unknown>, file?: string): void {
    // sliding_window may be null (HF writes None when use_sliding_window is off), eos_token_id a list.
    super.assign(takeLooseFields(this, withNumLabels(dict, file), ['sliding_window', 'bos_token_id', 'eos_token_id', 'pad_token_id']), file);
  }

  get numLabels(): number {
    return Object.keys(this.id2label).length;
  }

  get decoderVariant(): DecoderVariant {
    return { attentionBias: { qkv: true, o: false }, mlpActivation: activation(this.hiddenAct), slidingWindow: qwenSlidingWindow(this) };
  }

  override toDict(): Record<string, unknown> {
    const d = super.toDict();
    if (this.layerTypes === null) delete d.layer_types;
    if (this.headDim === this.hiddenSize / this.numAttentionHeads) delete d.head_dim;
    return { ...d, model_type: this.modelType };
  }

  private validate(): void {
    checkDecoderShape(this, this.headDim !== this.hiddenSize / this.numAttentionHeads);
    checkDecoderFields(this);
    checkLayerTypes(this);
  }
}

/** What Qwen2, Qwen3 and Gemma check alike: field types, the activation, rope_scaling (lib/ops/rope/scaling.ts). */
export function checkDecoderFields(c: ModelConfig & RotaryConfig & { hiddenAct: string; ropeScaling: Record<string, unknown> | null }, extra: Parameters<typeof checkFieldKinds>[1] = {}): void {
  checkFieldKinds(c, {
    architectures: 'string[]', hiddenAct: 'string', bosTokenId: 'int?', eosTokenId: 'int|int[]?', padTokenId: 'int?', id2label: 'object', label2id: 'object', ...extra,
  });
  if ('slidingWindow' in c) checkFieldKinds(c, { slidingWindow: 'int?' });
  checkRopeScaling(c.constructor.name, c);
  try {
    activation(c.hiddenAct);
  } catch (e) {
    throw new RangeError(`${c.constructor.name}: hidden_act: ${(e as Error).message}`);
  }
}
