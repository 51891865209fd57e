/**
 * Gemma 2 (HF's modeling_gemma2): the Llama blocks with Gemma's GeGLU MLP, (1 + weight) RMSNorms and scaled
 * embeddings, Gemma2DecoderLayer's four norms (layer.ts), sliding-window attention on alternate layers, the
 * attention's scores scaled by query_pre_attn_scalar ** -0.5 and soft-capped, and the LM head's logits
 * soft-capped (all set by Gemma2Config.decoderVariant). Module and parameter names are HF's.
 */
import { LlamaForCausalLM } from '../llama/model';
import { LlamaForSequenceClassification } from '../sequence_classification';
import { Gemma2Config } from './config';

export class Gemma2ForCausalLM extends LlamaForCausalLM<Gemma2Config> {
  constructor(config: Gemma2Config = new Gemma2Config()) {
    super(config);
  }
}

/** HF's Gemma2ForSequenceClassification: a bias-free `score` head on each row's last real token (no final soft-cap). */
export class Gemma2ForSequenceClassification extends LlamaForSequenceClassification<Gemma2Config> {
  constructor(config: Gemma2Config = new Gemma2Config()) {
    super(config);
  }
}
