/**
 * Generation with a prompt-learning adapter: lib/nn's generate over the PeftModel. The KV cache is
 * prefilled with the virtual tokens together with the prompt (prompt tuning, P-tuning) or every step gets
 * the prefixes (prefix tuning); the virtual tokens' logits are left out so the last row is the last real
 * token's.
 */
import { type CausalLM, generate, type GenerateOptions } from '../../../nn/generate';
import type { CausalLMInputs, CausalLMOutput } from '../../../nn/models/causal_lm';
import type { PeftModel } from '../../peft_model';
import { isPromptLearningConfig } from './config';

/** The PeftModel as generate()'s CausalLM: logits for the real tokens only. */
export function asCausalLM(peft: PeftModel): CausalLM & { train(): unknown } {
  return {
    forward(inputs: CausalLMInputs): CausalLMOutput {
      const config = peft.peftConfig.get(peft.activeAdapter);
      const prepends = !peft.adaptersAreDisabled && config !== undefined && isPromptLearningConfig(config) &&
        config.peftType !== 'PREFIX_TUNING' && !(inputs.cache && inputs.cache.length > 0);
      const out = peft.forward(inputs) as CausalLMOutput;
      if (!prepends) return out;
      const n = config.numVirtualTokens!;
      return { logits: out.logits.slice(1, n, out.logits.shape[1]), loss: out.loss };
    },
    eval: () => peft.eval(),
    train: () => peft.train(),
    get training() {
      return peft.training;
    },
  };
}

/** Greedy or sampled decoding with the active adapter; returns the new token ids. */
export function generateWithAdapter(peft: PeftModel, promptIds: readonly number[], opts: GenerateOptions): number[] {
  return generate(asCausalLM(peft), promptIds, opts);
}
