/** Parameter initialisers (seeded through the global stream: manualSeed makes them reproducible). */
import { empty, full, rand, randn } from '../tensor/creation';
import type { Tensor } from '../tensor/tensor';
import { parameter } from './module';

let skipInit = false;

/**
 * Builds modules whose parameters are left unwritten (empty): for a model whose weights come from a file
 * next. Untouched native memory is never paged in, so a layer that is quantized while loading never holds
 * its float32 weight in RAM. The global random stream does not advance either.
 */
export function withoutInit<T>(fn: () => T): T {
  const before = skipInit;
  skipInit = true;
  try {
    return fn();
  } finally {
    skipInit = before;
  }
}

/** Normal(0, std): what Hugging Face's _init_weights uses for linear and embedding weights. */
export function normalParameter(shape: number[], std: number): Tensor {
  return parameter(skipInit ? empty(shape) : randn(shape, { std }));
}

/** PyTorch's nn.Linear default: U(-1/sqrt(fanIn), 1/sqrt(fanIn)) for weight and bias alike. */
export function uniformFanInParameter(shape: number[], fanIn: number): Tensor {
  const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
  return parameter(skipInit ? empty(shape) : rand(shape, { low: -bound, high: bound }));
}

export function constantParameter(shape: number[], value: number): Tensor {
  return parameter(skipInit ? empty(shape) : full(shape, value));
}
