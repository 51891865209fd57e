/** Embedding: a [vocab, dim] table looked up by integer ids. */
import { embedding } from '../../ops/embedding/op';
import type { IntTensor } from '../../tensor/int_tensor';
import type { Tensor } from '../../tensor/tensor';
import { normalParameter } from '../init';
import { Module } from '../module';
import { checkFeatures } from './linear';

export class Embedding extends Module {
  weight: Tensor;

  constructor(readonly numEmbeddings: number, readonly embeddingDim: number, std = 1) {
    super();
    checkFeatures('Embedding', numEmbeddings, embeddingDim);
    this.weight = normalParameter([numEmbeddings, embeddingDim], std);
    this.registerParameter('weight', this.weight);
  }

  forward(ids: IntTensor): Tensor {
    return embedding(ids, this.weight);
  }
}
