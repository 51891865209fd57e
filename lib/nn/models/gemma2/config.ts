/**
 * Gemma2Config with Hugging Face's defaults (transformers' configuration_gemma2.py at 008e574: Gemma-2-2B's
 * shapes). Gemma 2 is Gemma (GeGLU, (1 + weight) RMSNorms, embeddings scaled by sqrt(hidden_size), head_dim from
 * the config, tied LM head) with:
 *  - layers alternating sliding-window and full attention (layer_types; absent: 'sliding_attention' for even
 *    layers, HF's bool((i + 1) % 2), as v4.44.2's Gemma2Attention had `not bool(layer_idx % 2)`); a sliding
 *    layer's query i sees keys j with i - sliding_window < j <= i (v4.44.2's Gemma2DecoderLayer: tril(ones,
 *    diagonal=-sliding_window) hides j <= i - sliding_window);
 *  - attention scores scaled by query_pre_attn_scalar ** -0.5 and soft-capped, attn_logit_softcapping *
 *    tanh(scores / attn_logit_softcapping), before the mask;
 *  - a norm after the attention (post_attention_layernorm, before the residual add) and two around the MLP
 *    (pre_feedforward_layernorm, post_feedforward_layernorm);
 *  - the LM head's logits soft-capped by final_logit_softcapping.
 */
import { activation } from '../../layers/activation';
import { ModelConfig } from '../config_base';
import { GemmaRMSNorm } from '../gemma/norm';
import { checkDecoderShape, type DecoderVariant, type LlamaLikeConfig, takeLooseFields, withNumLabels } from '../llama/config';
import { checkDecoderFields } from '../qwen2/config';
import { Gemma2DecoderLayer } from './layer';

export class Gemma2Config extends ModelConfig implements LlamaLikeConfig {
  readonly modelType = 'gemma2';
  architectures: string[] = ['Gemma2ForCausalLM'];
  vocabSize = 256000;
  hiddenSize = 2304;
  intermediateSize = 9216;
  numHiddenLayers = 26;
  numAttentionHeads = 8;
  numKeyValueHeads = 4;
  headDim = 256;
  /** The MLP's activation (HF's Gemma2MLP: ACT2FN[hidden_activation]). */
  hiddenActivation = 'gelu_pytorch_tanh';
  maxPositionEmbeddings = 8192;
  initializerRange = 0.02;
  rmsNormEps = 1e-6;
  useCache = true;
  padTokenId: number | null = 0;
  eosTokenId: number | number[] | null = 1;
  bosTokenId: number | null = 2;
  tieWordEmbeddings = true;
  ropeTheta = 10000;
  /** RoPE scaling (rope_scaling), checked as the other families' (checkDecoderFields). */
  ropeScaling: Record<string, unknown> | null = null;
  attentionBias = false;
  attentionDropout = 0;
  /** The attention's scores are scaled by query_pre_attn_scalar ** -0.5. */
  queryPreAttnScalar = 256;
  /** Keys a sliding layer's query sees, itself included (null: none). */
  slidingWindow: number | null = 4096;
  /** 'sliding_attention' or 'full_attention' per layer; null: alternating, layer 0 sliding. */
  layerTypes: string[] | null = null;
  finalLogitSoftcapping: number | null = 30;
  attnLogitSoftcapping: number | null = 50;
  /** Gemma 3's bidirectional attention switch; only null or false (causal) is supported. */
  useBidirectionalAttention: boolean | null = null;
  id2label: Record<string, string> = { 0: 'LABEL_0', 1: 'LABEL_1' };
  label2id: Record<string, number> = { LABEL_0: 0, LABEL_1: 1 };

  constructor(fields: Partial<Omit<Gemma2Config, 'modelType' | 'extra' | 'numLabels' | 'decoderVariant' | 'hiddenAct' | 'layerWindow'>> = {}) {
    super();
    Object.assign(this, fields);
    this.validate();
  }

  static fromDict(dict: Record<string, unknown>, file?: string): Gemma2Config {
    const c = new Gemma2Config();
    c.assign(dict, file);
    c.validate();
    return c;
  }

  protected override assign(dict: Record<string, unknown>, file?: string): void {
    // Nullable fields (HF's None) and eos_token_id as a list pass without the number check; checkFieldKinds checks them.
    // hidden_act (older Gemma 2 folders write it beside hidden_activation, which the MLP uses) is kept verbatim.
    const d = withNumLabels(dict, file);
    const rest = d !== null && typeof d === 'object' && !Array.isArray(d) ? { ...d } : d;
    if (rest !== d && 'hidden_act' in rest) {
      this.extra.hidden_act = rest.hidden_act;
      delete rest.hidden_act;
    }
    super.assign(takeLooseFields(this, rest, [
      'sliding_window', 'bos_token_id', 'eos_token_id', 'pad_token_id', 'final_logit_softcapping', 'attn_logit_softcapping',
      'use_bidirectional_attention', 'layer_types',
    ]), file);
  }

  get numLabels(): number {
    return Object.keys(this.id2label).length;
  }

  /** What checkDecoderFields reads as the activation's name. */
  get hiddenAct(): string {
    return this.hiddenActivation;
  }

  /** Layer i's sliding window (0: full attention). */
  layerWindow(i: number): number {
    if (this.slidingWindow === null) return 0;
    const sliding = this.layerTypes !== null ? this.layerTypes[i] === 'sliding_attention' : (i + 1) % 2 === 1;
    return sliding ? this.slidingWindow : 0;
  }

  get decoderVariant(): DecoderVariant {
    return {
      mlpActivation: activation(this.hiddenActivation),
      makeNorm: (size, eps) => new GemmaRMSNorm(size, eps),
      // HF: hidden_states * torch.tensor(hidden_size ** 0.5, dtype=hidden_states.dtype): the float32 rounding of sqrt.
      embedScale: Math.fround(Math.sqrt(this.hiddenSize)),
      slidingWindow: (i) => this.layerWindow(i),
      attnLogitSoftcap: this.attnLogitSoftcapping ?? 0,
      attnScale: this.queryPreAttnScalar ** -0.5,
      finalLogitSoftcap: this.finalLogitSoftcapping ?? 0,
      makeLayer: (i) => new Gemma2DecoderLayer(this, i) as never,
    };
  }

  override toDict(): Record<string, unknown> {
    const d = super.toDict();
    if (this.layerTypes === null) delete d.layer_types;
    if (this.useBidirectionalAttention === null) delete d.use_bidirectional_attention;
    return { ...d, model_type: this.modelType };
  }

  private validate(): void {
    checkDecoderShape(this, true);
    checkDecoderFields(this, {});
    const name = 'Gemma2Config';
    const self = this as unknown as Record<string, unknown>;
    for (const [field, key] of [['finalLogitSoftcapping', 'final_logit_softcapping'], ['attnLogitSoftcapping', 'attn_logit_softcapping']]) {
      const v = self[field];
      if (v !== null && (typeof v !== 'number' || !Number.isFinite(v) || v <= 0))
        throw new TypeError(`${name}: '${key}' must be a number > 0 or null, got ${JSON.stringify(v)}`);
    }
    if (typeof this.queryPreAttnScalar !== 'number' || !(this.queryPreAttnScalar > 0))
      throw new RangeError(`${name}: query_pre_attn_scalar must be a number > 0, got ${JSON.stringify(this.queryPreAttnScalar)}`);
    if (this.slidingWindow !== null && !(Number.isInteger(this.slidingWindow) && this.slidingWindow >= 1))
      throw new RangeError(`${name}: sliding_window must be a positive integer or null, got ${JSON.stringify(this.slidingWindow)}`);
    if (this.layerTypes !== null &&
      (!Array.isArray(this.layerTypes) || this.layerTypes.length !== this.numHiddenLayers || !this.layerTypes.every((t) => t === 'full_attention' || t === 'sliding_attention')))
      throw new TypeError(`${name}: 'layer_types' must list 'full_attention' or 'sliding_attention' for each of the ${this.numHiddenLayers} layers, got ${JSON.stringify(this.layerTypes)}`);
    if (this.useBidirectionalAttention !== null && typeof this.useBidirectionalAttention !== 'boolean')
      throw new TypeError(`${name}: 'use_bidirectional_attention' must be true, false or null, got ${JSON.stringify(this.useBidirectionalAttention)}`);
    if (this.useBidirectionalAttention === true)
      throw new RangeError(`${name}: use_bidirectional_attention true is not supported (Gemma 2 attends causally)`);
  }
}
