/** Activation functions by Hugging Face's config names (hidden_act / activation_function). */
import { gelu, geluTanh, relu, silu, tanh } from '../../tensor/ops';
import type { Tensor } from '../../tensor/tensor';

export type ActivationName = 'gelu' | 'gelu_new' | 'gelu_pytorch_tanh' | 'gelu_fast' | 'silu' | 'swish' | 'relu' | 'tanh';

const activations: Record<ActivationName, (x: Tensor) => Tensor> = {
  gelu, gelu_new: geluTanh, gelu_pytorch_tanh: geluTanh, gelu_fast: geluTanh, silu, swish: silu, relu, tanh,
};

export function activation(name: string): (x: Tensor) => Tensor {
  const fn = activations[name as ActivationName];
  if (!fn) throw new Error(`activation: unknown activation '${name}'; expected one of ${Object.keys(activations).join(', ')}`);
  return fn;
}
