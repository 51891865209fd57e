/**
 * Qwen3Config with Hugging Face's defaults (transformers' configuration_qwen3.py: Qwen3-8B's shapes).
 * Qwen3 is Qwen2 without the q/k/v biases (attention_bias, default false, on all four projections),
 * with an RMSNorm over each head of q and k (q_norm, k_norm) before RoPE, and head_dim set in the config.
 */
import { activation } from '../../layers/activation';
import { ModelConfig } from '../config_base';
import { checkDecoderShape, type DecoderVariant, type LlamaLikeConfig, takeLooseFields, withNumLabels } from '../llama/config';
import { checkDecoderFields, checkLayerTypes, qwenSlidingWindow } from '../qwen2/config';

export class Qwen3Config extends ModelConfig implements LlamaLikeConfig {
  readonly modelType = 'qwen3';
  architectures: string[] = ['Qwen3ForCausalLM'];
  vocabSize = 151936;
  hiddenSize = 4096;
  intermediateSize = 22016;
  numHiddenLayers = 32;
  numAttentionHeads = 32;
  numKeyValueHeads = 32;
  headDim = 128;
  hiddenAct = 'silu';
  maxPositionEmbeddings = 32768;
  initializerRange = 0.02;
  rmsNormEps = 1e-6;
  useCache = true;
  tieWordEmbeddings = false;
  ropeTheta = 10000;
  /** RoPE scaling (rope_scaling: linear, dynamic, llama3, longrope, yarn), checked by checkRopeScaling. */
  ropeScaling: Record<string, unknown> | null = null;
  attentionBias = false;
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

  constructor(fields: Partial<Omit<Qwen3Config, 'modelType' | 'extra' | 'numLabels' | 'decoderVariant'>> = {}) {
    super();
    Object.assign(this, fields);
    if (fields.numKeyValueHeads === undefined && fields.numAttentionHeads !== undefined) this.numKeyValueHeads = this.numAttentionHeads;
    this.validate();
  }

  static fromDict(dict: Record<string, unknown>, file?: string): Qwen3Config {
    const c = new Qwen3Config();
    c.assign(dict, file);
    if (dict.num_key_value_heads === undefined || dict.num_key_value_heads === null) c.numKeyValueHeads = c.numAttentionHeads;
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
    return { qkNorm: true, mlpActivation: activation(this.hiddenAct), slidingWindow: qwenSlidingWindow(this) };
  }

  override toDict(): Record<string, unknown> {
    const d = super.toDict();
    if (this.layerTypes === null) delete d.layer_types;
    return { ...d, model_type: this.modelType };
  }

  private validate(): void {
    checkDecoderShape(this, true);
    checkDecoderFields(this);
    checkLayerTypes(this);
  }
}
