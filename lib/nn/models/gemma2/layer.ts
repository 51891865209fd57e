/**
 * Gemma 2's decoder layer (HF's Gemma2DecoderLayer, transformers v4.44.2 and modeling_gemma2.py at 006e869):
 * the Llama layer's attention and MLP with four (1 + weight) RMSNorms:
 *   h = h + post_attention_layernorm(self_attn(input_layernorm(h)))
 *   h = h + post_feedforward_layernorm(mlp(pre_feedforward_layernorm(h)))
 */
import { add } from '../../../tensor/ops';
import type { Tensor } from '../../../tensor/tensor';
import type { RMSNorm } from '../../layers/norm';
import { GemmaRMSNorm } from '../gemma/norm';
import type { LlamaLikeConfig } from '../llama/config';
import { type LayerContext, LlamaDecoderLayer } from '../llama/model';

export class Gemma2DecoderLayer<C extends LlamaLikeConfig = LlamaLikeConfig> extends LlamaDecoderLayer<C> {
  pre_feedforward_layernorm: RMSNorm;
  post_feedforward_layernorm: RMSNorm;

  constructor(config: C, layerIndex: number) {
    super(config, layerIndex);
    this.pre_feedforward_layernorm = this.registerModule('pre_feedforward_layernorm', new GemmaRMSNorm(config.hiddenSize, config.rmsNormEps));
    this.post_feedforward_layernorm = this.registerModule('post_feedforward_layernorm', new GemmaRMSNorm(config.hiddenSize, config.rmsNormEps));
  }

  override forward(h: Tensor, ctx: LayerContext): Tensor {
    const h1 = add(h, this.post_attention_layernorm.forward(this.self_attn.forward(this.input_layernorm.forward(h), ctx)));
    return add(h1, this.post_feedforward_layernorm.forward(this.mlp.forward(this.pre_feedforward_layernorm.forward(h1))));
  }
}
