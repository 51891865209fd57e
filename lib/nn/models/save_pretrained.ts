/**
 * Writing a model as a Hugging Face folder (config.json + model.safetensors, sharded past maxShardSize):
 * tied weights are written once (HF drops the tied head), and a llama2.c model's q/k rows are permuted to
 * HF's rotate_half layout so transformers loads the folder as an ordinary Llama.
 */
import { saveHfModelFolder } from '../../io/hf_folder';
import { noGrad } from '../../tensor/autograd';
import type { Tensor } from '../../tensor/tensor';
import type { Module } from '../module';
import type { ModelConfig } from './config_base';
import { LlamaConfig } from './llama/config';

/**
 * Meta's interleaved RoPE pairs (2i, 2i+1) to HF's halves (i, i + d/2): the rows of each head are reordered
 * as HF's convert_llama_weights_to_hf.py permute() does: view [heads, d/2, 2, in] -> [heads, 2, d/2, in].
 */
export function permuteForRotateHalf(w: Tensor, heads: number): Tensor {
  return noGrad(() => {
    const [rows, cols] = w.shape;
    const d = rows / heads;
    return w.reshape([heads, d / 2, 2, cols]).permute([0, 2, 1, 3]).contiguous().reshape([rows, cols]);
  });
}

export function saveModelFolder(model: Module & { config: ModelConfig }, dir: string, opts: { maxShardSize?: number } = {}): void {
  const tensors = new Map<string, Tensor>();
  const made: Tensor[] = [];
  const config = model.config;
  const dict = config.toDict();
  const interleaved = config instanceof LlamaConfig && config.ropeInterleaved;
  for (const [name, t] of model.namedParameters()) {
    let out = t;
    if (interleaved && /self_attn\.(q_proj|k_proj)\.weight$/.test(name)) {
      const heads = name.includes('q_proj') ? (config as LlamaConfig).numAttentionHeads : (config as LlamaConfig).numKeyValueHeads;
      out = permuteForRotateHalf(t, heads);
      made.push(out);
    }
    tensors.set(name, out);
  }
  if (interleaved) delete dict.rope_interleaved;
  try {
    saveHfModelFolder(dir, dict, tensors, { maxShardSize: opts.maxShardSize });
  } finally {
    for (const t of made) t.dispose();
  }
}
