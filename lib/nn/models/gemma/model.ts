/**
 * Gemma (HF's modeling_gemma): the Llama blocks with a GeGLU MLP, (1 + weight) RMSNorms, embeddings scaled
 * by sqrt(hidden_size) and head_dim from the config; the LM head is tied to embed_tokens by default
 * (tie_word_embeddings). Module and parameter names are HF's.
 */
import { LlamaForCausalLM } from '../llama/model';
import { LlamaForSequenceClassification } from '../sequence_classification';
import { GemmaConfig } from './config';

export class GemmaForCausalLM extends LlamaForCausalLM<GemmaConfig> {
  constructor(config: GemmaConfig = new GemmaConfig()) {
    super(config);
  }
}

/** HF's GemmaForSequenceClassification: a bias-free `score` head on each row's last real token. */
export class GemmaForSequenceClassification extends LlamaForSequenceClassification<GemmaConfig> {
  constructor(config: GemmaConfig = new GemmaConfig()) {
    super(config);
  }
}
