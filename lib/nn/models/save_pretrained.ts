/**
 * Writing a model as a Hugging Face folder (config.json + model.safetensors, sharded past maxShardSize):
 * tied weights are written once (HF drops the tied head), and a llama2.c model's q/k rows are permuted to
 * HF's rotate_half layout so transformers loads the folder as an ordinary Llama.
 */
import { saveHfModelFolder } from '../../io/hf_folder';
import type { SaveDtype } from '../../io/safetensors_write';
import { QuantizedLinear } from '../../quant/quantized_linear';
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

/** The dtype a folder's weights are written in (torch_dtype in its config.json). */
export type SaveModelDtype = 'float32' | 'bfloat16' | 'float16';
const SAFETENSORS_DTYPE: Record<SaveModelDtype, SaveDtype> = { float32: 'F32', bfloat16: 'BF16', float16: 'F16' };

export interface SaveModelFolderOptions {
  maxShardSize?: number;
  /** Default float32. bf16 rounds to nearest even, as torch's .to(torch.bfloat16). */
  dtype?: SaveModelDtype;
}

/**
 * The model's weights by HF name: its parameters, and the weight of each quantized linear layer dequantized
 * (a folder holds plain tensors; the float32 copy of one layer exists while the folder is written).
 */
function namedWeights(model: Module, made: Tensor[]): [string, Tensor][] {
  const out: [string, Tensor][] = [...model.namedParameters()];
  for (const [path, m] of model.namedModules()) {
    if (!(m instanceof QuantizedLinear)) continue;
    const w = m.weight.dequantize();
    made.push(w);
    out.push([`${path}.weight`, w]);
  }
  return out;
}

export function saveModelFolder(model: Module & { config: ModelConfig }, dir: string, opts: SaveModelFolderOptions = {}): void {
  const dtype = opts.dtype ?? 'float32';
  if (!(dtype in SAFETENSORS_DTYPE)) throw new RangeError(`saveModelFolder: dtype must be float32, bfloat16 or float16, got '${String(dtype)}'`);
  const tensors = new Map<string, Tensor>();
  const made: Tensor[] = [];
  const config = model.config;
  const dict = config.toDict();
  dict.torch_dtype = dtype;
  const interleaved = config instanceof LlamaConfig && config.ropeInterleaved;
  for (const [name, t] of namedWeights(model, made)) {
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
    saveHfModelFolder(dir, dict, tensors, { maxShardSize: opts.maxShardSize, dtype: SAFETENSORS_DTYPE[dtype] });
  } finally {
    for (const t of made) t.dispose();
  }
}
