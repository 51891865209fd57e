/**
 * MistralConfig with Hugging Face's defaults (transformers' configuration_mistral.py at 001f85b: Mistral-7B's
 * shapes, grouped-query attention with 8 KV heads, sliding_window 4096). Mistral is Llama with a sliding
 * window on every layer's attention: query i sees keys j with i - sliding_window < j <= i (HF's
 * masking_utils.sliding_window_overlay, kv_idx > q_idx - sliding_window; transformers v4.44.2's
 * MistralModel._update_causal_mask hid j <= i - sliding_window alike). sliding_window null: full attention.
 */
import { activation } from '../../layers/activation';
import { ModelConfig } from '../config_base';
import { checkDecoderShape, type DecoderVariant, type LlamaLikeConfig, takeLooseFields, withNumLabels } from '../llama/config';
import { checkDecoderFields } from '../qwen2/config';

export class MistralConfig extends ModelConfig implements LlamaLikeConfig {
  readonly modelType = 'mistral';
  architectures: string[] = ['MistralForCausalLM'];
  vocabSize = 32000;
  hiddenSize = 4096;
  intermediateSize = 14336;
  numHiddenLayers = 32;
  numAttentionHeads = 32;
  /** HF's default is 8 (not num_attention_heads); null in config.json means num_attention_heads. */
  numKeyValueHeads = 8;
  /** Width of one head: config.json's head_dim, else hidden_size / num_attention_heads (written back only when it differs). */
  headDim = 0;
  hiddenAct = 'silu';
  maxPositionEmbeddings = 4096 * 32;
  initializerRange = 0.02;
  rmsNormEps = 1e-6;
  useCache = true;
  padTokenId: number | null = null;
  bosTokenId: number | null = 1;
  eosTokenId: number | number[] | null = 2;
  tieWordEmbeddings = false;
  ropeTheta = 10000;
  /** RoPE scaling (rope_scaling), checked as the other families' (checkDecoderFields). */
  ropeScaling: Record<string, unknown> | null = null;
  /** Keys a query sees, itself included (null: full attention). */
  slidingWindow: number | null = 4096;
  attentionDropout = 0;
  id2label: Record<string, string> = { 0: 'LABEL_0', 1: 'LABEL_1' };
  label2id: Record<string, number> = { LABEL_0: 0, LABEL_1: 1 };

  constructor(fields: Partial<Omit<MistralConfig, 'modelType' | 'extra' | 'numLabels' | 'decoderVariant'>> = {}) {
    super();
    Object.assign(this, fields);
    if (fields.headDim === undefined) this.headDim = this.hiddenSize / this.numAttentionHeads;
    this.validate();
  }

  static fromDict(dict: Record<string, unknown>, file?: string): MistralConfig {
    const c = new MistralConfig();
    c.assign(dict, file);
    // configuration_mistral.py: num_key_value_heads None -> num_attention_heads; head_dim None -> hidden // heads.
    if (dict.num_key_value_heads === null) c.numKeyValueHeads = c.numAttentionHeads;
    if (dict.head_dim === undefined || dict.head_dim === null) c.headDim = c.hiddenSize / c.numAttentionHeads;
    c.validate();
    return c;
  }

  protected override assign(dict: Record<string, unknown>, file?: string): void {
    // sliding_window and pad/bos/eos may be null (HF's None), eos_token_id a list; num_key_value_heads and head_dim may be null.
    const d = { ...withNumLabels(dict, file) };
    for (const k of ['num_key_value_heads', 'head_dim']) if (d[k] === null) delete d[k];
    super.assign(takeLooseFields(this, d, ['sliding_window', 'bos_token_id', 'eos_token_id', 'pad_token_id']), file);
  }

  get numLabels(): number {
    return Object.keys(this.id2label).length;
  }

  get decoderVariant(): DecoderVariant {
    const window = this.slidingWindow ?? 0;
    // MistralAttention / MistralMLP: no biases.
    return { attentionBias: { qkv: false, o: false }, mlpActivation: activation(this.hiddenAct), slidingWindow: () => window };
  }

  override toDict(): Record<string, unknown> {
    const d = super.toDict();
    if (this.headDim === this.hiddenSize / this.numAttentionHeads) delete d.head_dim;
    return { ...d, model_type: this.modelType };
  }

  private validate(): void {
    checkDecoderShape(this, this.headDim !== this.hiddenSize / this.numAttentionHeads);
    checkDecoderFields(this);
    if (this.slidingWindow !== null && this.slidingWindow < 1)
      throw new RangeError(`MistralConfig: sliding_window must be a positive integer or null, got ${this.slidingWindow}`);
  }
}
