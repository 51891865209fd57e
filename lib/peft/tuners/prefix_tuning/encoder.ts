/**
 * HF's PrefixEncoder: every layer's key and value prefixes as one [numVirtualTokens, numLayers * 2 * tokenDim]
 * table, either the table itself or, with prefixProjection, an MLP over a [numVirtualTokens, tokenDim]
 * embedding: transform = Linear(tokenDim, encoderHiddenSize), Tanh, Linear(encoderHiddenSize, numLayers * 2 * tokenDim).
 */
import { Embedding } from '../../../nn/layers/embedding';
import { Linear } from '../../../nn/layers/linear';
import { Module } from '../../../nn/module';
import type { Tensor } from '../../../tensor/tensor';
import { Sequential, Tanh } from '../prompt_learning/sequential';
import type { PromptEncoderModule } from '../prompt_learning/table';
import { PromptTable } from '../prompt_learning/table';
import type { PrefixTuningConfig } from './config';

export class PrefixProjection extends Module implements PromptEncoderModule {
  embedding: Embedding;
  transform: Sequential;
  readonly reparameterized = true;

  constructor(numVirtualTokens: number, tokenDim: number, encoderHiddenSize: number, outputSize: number) {
    super();
    this.embedding = this.registerModule('embedding', new Embedding(numVirtualTokens, tokenDim, 1));
    this.transform = this.registerModule('transform', new Sequential([
      new Linear(tokenDim, encoderHiddenSize), Tanh(), new Linear(encoderHiddenSize, outputSize),
    ]));
  }

  prompts(): Tensor {
    return this.transform.forward(this.embedding.weight);
  }
}

export function prefixEncoder(config: PrefixTuningConfig): PromptEncoderModule {
  const d = config.dims();
  const width = d.numLayers * 2 * d.tokenDim;
  if (config.prefixProjection) return new PrefixProjection(d.numVirtualTokens, d.tokenDim, config.encoderHiddenSize ?? d.tokenDim, width);
  return new PromptTable(d.numVirtualTokens, width);
}
