/**
 * Qwen3 (HF's modeling_qwen3): the Llama blocks with q_norm / k_norm (RMSNorm over each head's head_dim
 * values of q and k, before RoPE), no q/k/v bias by default, and head_dim from the config (q_proj is
 * num_attention_heads * head_dim wide, which may differ from hidden_size). Module and parameter names are HF's.
 */
import { LlamaForCausalLM } from '../llama/model';
import { LlamaForSequenceClassification } from '../sequence_classification';
import { Qwen3Config } from './config';

export class Qwen3ForCausalLM extends LlamaForCausalLM<Qwen3Config> {
  constructor(config: Qwen3Config = new Qwen3Config()) {
    super(config);
  }
}

/** HF's Qwen3ForSequenceClassification: a bias-free `score` head on each row's last real token. */
export class Qwen3ForSequenceClassification extends LlamaForSequenceClassification<Qwen3Config> {
  constructor(config: Qwen3Config = new Qwen3Config()) {
    super(config);
  }
}
