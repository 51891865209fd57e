/**
 * Mistral (HF's modeling_mistral): the Llama blocks with sliding-window attention on every layer (the fused
 * attention kernel's window: query i sees keys j with i - sliding_window < j <= i, KV cache included), grouped
 * KV heads and head_dim from the config. Module and parameter names are HF's.
 */
import { LlamaForCausalLM } from '../llama/model';
import { LlamaForSequenceClassification } from '../sequence_classification';
import { MistralConfig } from './config';

export class MistralForCausalLM extends LlamaForCausalLM<MistralConfig> {
  constructor(config: MistralConfig = new MistralConfig()) {
    super(config);
  }
}

/** HF's MistralForSequenceClassification: a bias-free `score` head on each row's last real token. */
export class MistralForSequenceClassification extends LlamaForSequenceClassification<MistralConfig> {
  constructor(config: MistralConfig = new MistralConfig()) {
    super(config);
  }
}
