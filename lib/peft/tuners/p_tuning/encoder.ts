/**
 * HF's PromptEncoder (P-tuning): a [numVirtualTokens * numTransformerSubmodules, tokenDim] embedding run
 * through a reparameterization:
 * - MLP: mlp_head = Linear(tokenDim, hidden), ReLU, Linear(hidden, hidden), ReLU, Linear(hidden, tokenDim)
 *   (HF builds two hidden layers whatever encoderNumLayers says, and warns; so do we, without the warning);
 * - LSTM: lstm_head = bidirectional LSTM(tokenDim -> hidden, encoderNumLayers layers, encoderDropout), then
 *   mlp_head = Linear(2 hidden, 2 hidden), ReLU, Linear(2 hidden, tokenDim).
 * HF's encoder runs on one sequence (batch 1) and repeats the output for the batch; so does prompts().
 */
import { Embedding } from '../../../nn/layers/embedding';
import { Linear } from '../../../nn/layers/linear';
import { LSTM } from '../../../nn/layers/lstm';
import { Module } from '../../../nn/module';
import type { Tensor } from '../../../tensor/tensor';
import { ReLU, Sequential } from '../prompt_learning/sequential';
import type { PromptEncoderModule } from '../prompt_learning/table';
import type { PromptEncoderConfig, PromptEncoderReparameterizationType } from './config';

export class PromptEncoder extends Module implements PromptEncoderModule {
  embedding: Embedding;
  lstm_head: LSTM | null = null;
  mlp_head: Sequential;
  readonly reparameterized = true;

  constructor(readonly encoderType: PromptEncoderReparameterizationType, totalVirtualTokens: number, tokenDim: number, hidden: number, numLayers: number, dropout: number) {
    super();
    this.embedding = this.registerModule('embedding', new Embedding(totalVirtualTokens, tokenDim, 1));
    if (encoderType === 'LSTM') {
      this.lstm_head = this.registerModule('lstm_head', new LSTM(tokenDim, hidden, { numLayers, dropout, bidirectional: true }));
      this.mlp_head = this.registerModule('mlp_head', new Sequential([new Linear(2 * hidden, 2 * hidden), ReLU(), new Linear(2 * hidden, tokenDim)]));
    } else {
      this.mlp_head = this.registerModule('mlp_head', new Sequential([
        new Linear(tokenDim, hidden), ReLU(), new Linear(hidden, hidden), ReLU(), new Linear(hidden, tokenDim),
      ]));
    }
  }

  prompts(): Tensor {
    const x = this.embedding.weight;
    if (!this.lstm_head) return this.mlp_head.forward(x);
    const [rows, dim] = x.shape;
    const h = this.lstm_head.forward(x.reshape([1, rows, dim]));
    return this.mlp_head.forward(h.reshape([rows, h.shape[2]]));
  }
}

export function promptEncoder(config: PromptEncoderConfig): PromptEncoder {
  const d = config.dims();
  return new PromptEncoder(config.encoderReparameterizationType, d.numVirtualTokens * d.numTransformerSubmodules, d.tokenDim,
    config.encoderHiddenSize ?? d.tokenDim, config.encoderNumLayers, config.encoderDropout);
}
