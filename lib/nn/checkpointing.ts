/**
 * Gradient checkpointing on a model (HF's gradient_checkpointing_enable / _disable): the stacks of blocks
 * (LlamaModel, GPT2Model, BertEncoder; `supportsGradientCheckpointing`) run each block through
 * `checkpoint` (lib/tensor/checkpoint.ts) while training, keeping only each block's input for the backward.
 */
import { checkpoint } from '../tensor/checkpoint';
import type { Tensor } from '../tensor/tensor';
import type { Module } from './module';

/** A stack of blocks that can recompute each block's forward in the backward. */
export interface CheckpointableStack extends Module {
  readonly supportsGradientCheckpointing: true;
}

export function isCheckpointableStack(m: Module): m is CheckpointableStack {
  return (m as { supportsGradientCheckpointing?: boolean }).supportsGradientCheckpointing === true;
}

/** One block of a stack: checkpointed when the stack has checkpointing on and trains, else run as is. */
export function runBlock(stack: Module, block: Module, fn: (...inputs: Tensor[]) => Tensor, inputs: Tensor[]): Tensor {
  if (!stack.gradientCheckpointing || !stack.training) return fn(...inputs);
  return checkpoint(fn, inputs, block.trainableParameters());
}

/** A block's key/value prefix as checkpoint inputs, and back. */
export function prefixInputs(prefix: { k: Tensor; v: Tensor } | null): Tensor[] {
  return prefix ? [prefix.k, prefix.v] : [];
}

export function prefixOf(inputs: Tensor[]): { k: Tensor; v: Tensor } | null {
  return inputs.length === 2 ? { k: inputs[0], v: inputs[1] } : null;
}
