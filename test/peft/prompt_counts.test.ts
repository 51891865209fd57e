/**
 * HF's trainable-parameter lines for GPT-2 small (124,439,808 parameters) with each prompt-learning
 * method, computed by hand from HF's shapes (the base is built once: prompt learning leaves it as it is).
 */
import { getPeftModel, GPT2Config, GPT2LMHeadModel, noGrad, type PeftConfig, PrefixTuningConfig, PromptEncoderConfig, PromptTuningConfig, setBackend } from '../../lib';

it('GPT-2 small: HF\'s lines for prompt tuning, prefix tuning and P-tuning', () => {
  setBackend('native');
  const model = noGrad(() => new GPT2LMHeadModel(new GPT2Config()));
  const line = (config: PeftConfig) => {
    const lines: string[] = [];
    getPeftModel(model, config).printTrainableParameters((l) => lines.push(l));
    return lines[0];
  };
  // 20 virtual tokens * token_dim 768.
  expect(line(new PromptTuningConfig({ numVirtualTokens: 20, taskType: 'CAUSAL_LM' })))
    .toBe('trainable params: 15,360 || all params: 124,455,168 || trainable%: 0.0123');
  // 20 * num_layers 12 * 2 * 768.
  expect(line(new PrefixTuningConfig({ numVirtualTokens: 20, taskType: 'CAUSAL_LM' })))
    .toBe('trainable params: 368,640 || all params: 124,808,448 || trainable%: 0.2954');
  // 20 * 768 + Linear(768, 128) + Linear(128, 128) + Linear(128, 768) = 15,360 + 98,432 + 16,512 + 99,072.
  expect(line(new PromptEncoderConfig({ numVirtualTokens: 20, encoderHiddenSize: 128, taskType: 'CAUSAL_LM' })))
    .toBe('trainable params: 229,376 || all params: 124,669,184 || trainable%: 0.1840');
  model.dispose();
});
