/**
 * GemmaConfig with Hugging Face's defaults (transformers' configuration_gemma.py: Gemma-7B's shapes).
 * Gemma is Llama with a GeGLU MLP (gelu with the tanh approximation), RMSNorms that scale by
 * (1 + weight), the input embeddings multiplied by sqrt(hidden_size), head_dim set in the config and the
 * LM head tied to the embeddings.
 */
import { activation } from '../../layers/activation';
import { ModelConfig } from '../config_base';
import { checkDecoderShape, type DecoderVariant, type LlamaLikeConfig, takeLooseFields, withNumLabels } from '../llama/config';
import { checkDecoderFields } from '../qwen2/config';
import { GemmaRMSNorm } from './norm';

export class GemmaConfig extends ModelConfig implements LlamaLikeConfig {
  readonly modelType = 'gemma';
  architectures: string[] = ['GemmaForCausalLM'];
  vocabSize = 256000;
  hiddenSize = 3072;
  intermediateSize = 24576;
  numHiddenLayers = 28;
  numAttentionHeads = 16;
  numKeyValueHeads = 16;
  headDim = 256;
  /** The legacy activation name; the MLP uses hiddenActivation (HF's GemmaMLP ignores hidden_act). */
  hiddenAct = 'gelu_pytorch_tanh';
  /** The MLP's activation; null means gelu_pytorch_tanh, as HF's GemmaMLP falls back to. */
  hiddenActivation: string | null = null;
  maxPositionEmbeddings = 8192;
  initializerRange = 0.02;
  rmsNormEps = 1e-6;
  useCache = true;
  padTokenId: number | null = 0;
  eosTokenId: number | number[] | null = 1;
  bosTokenId: number | null = 2;
  tieWordEmbeddings = true;
  ropeTheta = 10000;
  /** RoPE scaling (rope_scaling: linear, dynamic, llama3, longrope, yarn), checked by checkRopeScaling. */
  ropeScaling: Record<string, unknown> | null = null;
  attentionBias = false;
  attentionDropout = 0;
  id2label: Record<string, string> = { 0: 'LABEL_0', 1: 'LABEL_1' };
  label2id: Record<string, number> = { LABEL_0: 0, LABEL_1: 1 };

  constructor(fields: Partial<Omit<GemmaConfig, 'modelType' | 'extra' | 'numLabels' | 'decoderVariant' | 'mlpActivationName'>> = {}) {
    super();
    Object.assign(this, fields);
    this.validate();
  }

  static fromDict(dict: Record<string, unknown>, file?: string): GemmaConfig {
    const c = new GemmaConfig();
    c.assign(dict, file);
    c.validate();
    return c;
  }

  protected override assign(dict: Record<string, unknown>, file?: string): void {
    // pad/bos/eos may be null (HF's None), eos_token_id a list.
    super.assign(takeLooseFields(this, withNumLabels(dict, file), ['bos_token_id', 'eos_token_id', 'pad_token_id']), file);
  }

  get numLabels(): number {
    return Object.keys(this.id2label).length;
  }

  /** The activation the MLP runs: hidden_activation, else gelu_pytorch_tanh. */
  get mlpActivationName(): string {
    return this.hiddenActivation ?? 'gelu_pytorch_tanh';
  }

  get decoderVariant(): DecoderVariant {
    return {
      mlpActivation: activation(this.mlpActivationName),
      makeNorm: (size, eps) => new GemmaRMSNorm(size, eps),
      // HF: hidden_states * torch.tensor(hidden_size ** 0.5, dtype=hidden_states.dtype): the float32 rounding of sqrt.
      embedScale: Math.fround(Math.sqrt(this.hiddenSize)),
    };
  }

  override toDict(): Record<string, unknown> {
    return { ...super.toDict(), model_type: this.modelType };
  }

  private validate(): void {
    checkDecoderShape(this, true);
    checkDecoderFields(this, { hiddenActivation: 'string?' });
    try {
      activation(this.mlpActivationName);
    } catch (e) {
      throw new RangeError(`GemmaConfig: hidden_activation: ${(e as Error).message}`);
    }
  }
}
