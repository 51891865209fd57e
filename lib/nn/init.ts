/** Parameter initialisers (seeded through the global stream: manualSeed makes them reproducible). */
import { full, rand, randn } from '../tensor/creation';
import type { Tensor } from '../tensor/tensor';
import { parameter } from './module';

/** Normal(0, std): what Hugging Face's _init_weights uses for linear and embedding weights. */
export function normalParameter(shape: number[], std: number): Tensor {
  return parameter(randn(shape, { std }));
}

/** PyTorch's nn.Linear default: U(-1/sqrt(fanIn), 1/sqrt(fanIn)) for weight and bias alike. */
export function uniformFanInParameter(shape: number[], fanIn: number): Tensor {
  const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
  return parameter(rand(shape, { low: -bound, high: bound }));
}

export function constantParameter(shape: number[], value: number): Tensor {
  return parameter(full(shape, value));
}
