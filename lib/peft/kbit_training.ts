/**
 * HF peft's prepare_model_for_kbit_training: readies a model whose linear layers are quantized
 * (quantizeModel) for adapter training. It freezes every parameter; HF then casts the fp16/bf16 parameters
 * that are not quantized to float32, which here they already are (trainable tensors, norms and embeddings
 * are float32 in peftjs); and it turns gradient checkpointing on by default. HF also makes the embedding
 * output require a gradient so that reentrant checkpointing reaches the adapters; peftjs's checkpoint lists
 * each block's trainable parameters itself, so nothing more is needed.
 */
import type { Module } from '../nn/module';

export interface KbitTrainingOptions {
  /** use_gradient_checkpointing (default true). */
  useGradientCheckpointing?: boolean;
}

export function prepareModelForKbitTraining<M extends Module>(model: M, opts: KbitTrainingOptions = {}): M {
  model.freeze();
  if (opts.useGradientCheckpointing ?? true) model.gradientCheckpointingEnable();
  return model;
}
