/**
 * Phi3Config with Hugging Face's defaults (transformers' configuration_phi3.py, v4.49 semantics, read at
 * 008e574: Phi-3-mini-4k's shapes). Phi-3 is Llama with the q/k/v projections fused into one qkv_proj and
 * gate/up into one gate_up_proj, no biases, RMSNorm eps 1e-5, optionally a partial rotary width
 * (partial_rotary_factor, Phi-4-mini) and LongRoPE scaling (rope_scaling type 'longrope', whose switch point
 * is original_max_position_embeddings); the legacy rope_scaling types 'su' and 'yarn' mean 'longrope', as
 * Phi3Config._rope_scaling_adjustment rewrites them. sliding_window (null: full attention) bounds each
 * query's keys as Mistral's does.
 */
import { activation } from '../../layers/activation';
import type { LlamaDecoderLayer } from '../llama/model';
import { ModelConfig } from '../config_base';
import { checkDecoderShape, type DecoderVariant, type LlamaLikeConfig, takeLooseFields, withNumLabels } from '../llama/config';
import { checkDecoderFields } from '../qwen2/config';
import { ropeTypeOf } from '../../../ops/rope/scaling';

/** Builds Phi-3's decoder layer; set by ./model.ts (which imports this file) so the two modules do not cycle. */
export const phi3Layers: { make: ((config: Phi3Config, layerIndex: number) => LlamaDecoderLayer<never>) | null } = { make: null };

export class Phi3Config extends ModelConfig implements LlamaLikeConfig {
  readonly modelType = 'phi3';
  architectures: string[] = ['Phi3ForCausalLM'];
  vocabSize = 32064;
  hiddenSize = 3072;
  intermediateSize = 8192;
  numHiddenLayers = 32;
  numAttentionHeads = 32;
  numKeyValueHeads = 32;
  residPdrop = 0;
  embdPdrop = 0;
  attentionDropout = 0;
  hiddenAct = 'silu';
  maxPositionEmbeddings = 4096;
  /** The context length Phi-3 was pretrained with: longrope's short/long switch point and scale. */
  originalMaxPositionEmbeddings = 4096;
  initializerRange = 0.02;
  rmsNormEps = 1e-5;
  useCache = true;
  tieWordEmbeddings = false;
  ropeTheta = 10000;
  /** RoPE scaling: null or 'longrope' (short_factor / long_factor lists of rotary width / 2 values). */
  ropeScaling: Record<string, unknown> | null = null;
  /** RoPE rotates the first int(head_dim * partial_rotary_factor) dims of each head. */
  partialRotaryFactor = 1;
  bosTokenId: number | null = 1;
  eosTokenId: number | number[] | null = 32000;
  padTokenId: number | null = 32000;
  /** Keys a query sees, itself included (null: full attention). */
  slidingWindow: number | null = null;
  id2label: Record<string, string> = { 0: 'LABEL_0', 1: 'LABEL_1' };
  label2id: Record<string, number> = { LABEL_0: 0, LABEL_1: 1 };

  constructor(fields: Partial<Omit<Phi3Config, 'modelType' | 'extra' | 'numLabels' | 'decoderVariant' | 'headDim'>> = {}) {
    super();
    Object.assign(this, fields);
    if (fields.numKeyValueHeads === undefined && fields.numAttentionHeads !== undefined) this.numKeyValueHeads = this.numAttentionHeads;
    this.validate();
  }

  static fromDict(dict: Record<string, unknown>, file?: string): Phi3Config {
    const c = new Phi3Config();
    c.assign(dict, file);
    // configuration_phi3.py: num_key_value_heads None -> num_attention_heads.
    if (dict.num_key_value_heads === undefined || dict.num_key_value_heads === null) c.numKeyValueHeads = c.numAttentionHeads;
    c.validate();
    return c;
  }

  protected override assign(dict: Record<string, unknown>, file?: string): void {
    // sliding_window and pad/bos/eos may be null (HF's None), eos_token_id a list; num_key_value_heads may be null.
    const d = { ...withNumLabels(dict, file) };
    if (d.num_key_value_heads === null) delete d.num_key_value_heads;
    super.assign(takeLooseFields(this, d, ['sliding_window', 'bos_token_id', 'eos_token_id', 'pad_token_id']), file);
  }

  get numLabels(): number {
    return Object.keys(this.id2label).length;
  }

  /** hidden_size / num_attention_heads (Phi3Attention's head_dim). */
  get headDim(): number {
    return this.hiddenSize / this.numAttentionHeads;
  }

  get decoderVariant(): DecoderVariant {
    const window = this.slidingWindow ?? 0;
    const make = phi3Layers.make;
    if (!make) throw new Error('Phi3Config: the Phi-3 model module (lib/nn/models/phi3/model.ts) is not loaded');
    return { attentionBias: { qkv: false, o: false }, mlpActivation: activation(this.hiddenAct), slidingWindow: () => window, makeLayer: (i) => make(this, i) };
  }

  override toDict(): Record<string, unknown> {
    return { ...super.toDict(), model_type: this.modelType };
  }

  private validate(): void {
    // Phi3Config._rope_scaling_adjustment: the legacy 'su' and 'yarn' types are LongRoPE.
    const rs = this.ropeScaling;
    if (rs !== null && typeof rs === 'object' && !Array.isArray(rs)) {
      const t = ropeTypeOf(rs);
      if (t === 'su' || t === 'yarn') this.ropeScaling = { ...rs, ...('rope_type' in rs ? { rope_type: 'longrope' } : {}), ...('type' in rs ? { type: 'longrope' } : {}) };
      const now = ropeTypeOf(this.ropeScaling);
      if (now !== 'longrope' && now !== 'default' && ('rope_type' in rs || 'type' in rs))
        throw new RangeError(`Phi3Config: rope_scaling's type must be 'longrope' (or 'su' / 'yarn', its old names), got ${JSON.stringify(rs.rope_type ?? rs.type)}`);
    }
    checkDecoderShape(this, false);
    checkDecoderFields(this);
    if (this.slidingWindow !== null && !(Number.isInteger(this.slidingWindow) && this.slidingWindow >= 1))
      throw new RangeError(`Phi3Config: sliding_window must be a positive integer or null, got ${this.slidingWindow}`);
    if (!(Number.isInteger(this.originalMaxPositionEmbeddings) && this.originalMaxPositionEmbeddings >= 1))
      throw new RangeError(`Phi3Config: original_max_position_embeddings must be a positive integer, got ${this.originalMaxPositionEmbeddings}`);
  }
}
