/**
 * A prompt encoder that is only its table: `embedding.weight` is the virtual tokens' embeddings (prompt
 * tuning), the flattened prefixes (prefix tuning without projection), or, for an adapter loaded from disk
 * in inference mode, the saved `prompt_embeddings` themselves: HF then builds no MLP or LSTM and reads
 * the embedding's weight directly (PeftModel.get_prompt with inference_mode).
 */
import { Embedding } from '../../../nn/layers/embedding';
import { Module } from '../../../nn/module';
import type { Tensor } from '../../../tensor/tensor';

/** What every prompt encoder gives: its output for all virtual tokens, [rows, cols]. */
export interface PromptEncoderModule extends Module {
  /** The table HF saves as prompt_embeddings (the encoder's output for the virtual tokens 0..rows-1). */
  prompts(): Tensor;
  /** True when prompts() is a reparameterization (an MLP or LSTM), not the table itself. */
  readonly reparameterized: boolean;
}

export class PromptTable extends Module implements PromptEncoderModule {
  embedding: Embedding;
  readonly reparameterized = false;

  /** std: the table's N(0, std) init (torch.nn.Embedding's default is 1). */
  constructor(rows: number, cols: number, std = 1) {
    super();
    this.embedding = this.registerModule('embedding', new Embedding(rows, cols, std));
  }

  prompts(): Tensor {
    return this.embedding.weight;
  }
}
