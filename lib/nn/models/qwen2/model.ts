/**
 * Qwen2 (HF's modeling_qwen2): the Llama blocks with biases on q_proj/k_proj/v_proj, tied or untied
 * embeddings and the config's rope_theta. Module and parameter names are HF's.
 */
import { LlamaForCausalLM } from '../llama/model';
import { LlamaForSequenceClassification } from '../sequence_classification';
import { Qwen2Config } from './config';

export class Qwen2ForCausalLM extends LlamaForCausalLM<Qwen2Config> {
  constructor(config: Qwen2Config = new Qwen2Config()) {
    super(config);
  }
}

/** HF's Qwen2ForSequenceClassification: a bias-free `score` head on each row's last real token. */
export class Qwen2ForSequenceClassification extends LlamaForSequenceClassification<Qwen2Config> {
  constructor(config: Qwen2Config = new Qwen2Config()) {
    super(config);
  }
}
