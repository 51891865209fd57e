/**
 * Adapters of a llama2.c base in HF's layout. A llama2.c model keeps the output rows of q_proj/k_proj in
 * interleaved RoPE order (each head's pairs 2i, 2i+1), while the HF folder saveModelFolder writes from it
 * holds them in rotate_half order (i, i + d/2). An adapter saved from the model must be the same adapter on
 * that folder, so savePretrained reorders every tensor indexed by q/k OUTPUT features exactly as the base
 * weights are reordered, and loading reorders them back:
 *   rows of  lora_B (AdaLoRA's too), lora_magnitude_vector (DoRA), ia3_l when it scales outputs ([out, 1]), boft_s, full q/k
 *            weights and biases (modules_to_save, layer freezing, BitFit, LoRA's bias), diff-pruning
 *            deltas (sparse indices into the [out, in] weight);
 *   columns  of prefix tuning's key prefixes (keys enter attention already rotated, beside the rotated k).
 * Input features are never permuted, and neither is v, so lora_A, AdaLoRA's lora_E, OFT's oft_R, BOFT's boft_R, input scales
 * and everything on o_proj (whose input is attention's output, in v's order) stay as they are. A q/k tensor
 * of unknown layout is refused rather than saved or loaded in a silently wrong order.
 */
import type { RawTensor } from '../io/safetensors';
import type { RawTensorInput } from '../io/safetensors_write';
import { LlamaConfig } from '../nn/models/llama/config';
import { permuteForRotateHalf } from '../nn/models/save_pretrained';
import { fromArray } from '../tensor/creation';
import { Tensor } from '../tensor/tensor';
import type { PeftType } from './config';
import type { PeftModel } from './peft_model';
import type { AdapterTensor } from './tuner';

type Direction = 'toHf' | 'fromHf';

/** The head counts of q_proj and k_proj (fewer for k under grouped-query attention). */
interface InterleavedHeads {
  q: number;
  k: number;
  headDim: number;
}

/** The heads of a base model whose q/k rows are interleaved; null: its adapters need no reordering. */
function interleavedHeads(peft: PeftModel): InterleavedHeads | null {
  const config = (peft.model as unknown as { config?: unknown }).config;
  if (!(config instanceof LlamaConfig) || !config.ropeInterleaved) return null;
  return { q: config.numAttentionHeads, k: config.numKeyValueHeads, headDim: config.headDim };
}

/**
 * Where each row of a q/k output axis goes: row r lands at dst[r]. Derived by running the base weights'
 * own permuteForRotateHalf over the row numbers, so adapters cannot drift from the weights' order.
 */
function destinationRows(rows: number, heads: number, dir: Direction): Int32Array {
  const permuted = permuteForRotateHalf(fromArray(Float32Array.from({ length: rows }, (_, i) => i), [rows, 1]), heads);
  const source = permuted.toFloat32Array(); // HF row i holds interleaved row source[i]
  permuted.dispose();
  const dst = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    if (dir === 'toHf') dst[source[i]] = i;
    else dst[i] = source[i];
  }
  return dst;
}

/** Moves `dst.length` blocks of `width` values, `stride` apart from `start`, to their destinations (in place). */
function moveBlocks(values: Float32Array, start: number, stride: number, width: number, dst: Int32Array): void {
  const copy = values.slice(start, start + (dst.length - 1) * stride + width);
  for (let r = 0; r < dst.length; r++) values.set(copy.subarray(r * stride, r * stride + width), start + dst[r] * stride);
}

/** Read and write access to an adapter's saved entries, whether being saved or just loaded. */
interface Entries {
  keys(): string[];
  shape(key: string): readonly number[];
  floats(key: string): Float32Array;
  setFloats(key: string, values: Float32Array): void;
  integers(key: string): number[];
  setIntegers(key: string, values: number[]): void;
}

const QK = /(?:^|\.)self_attn\.(q_proj|k_proj)\.(.+)$/;
/** Saved tensors of a q/k module whose first axis is its output features. */
const OUTPUT_ROWS = new Set(['weight', 'bias', 'base_layer.weight', 'base_layer.bias', 'lora_B.weight', 'lora_magnitude_vector', 'boft_s', 'lora_B']);
/** Saved tensors of a q/k module that only see its input features. */
const INPUT_ONLY = new Set(['lora_A.weight', 'oft_R.weight', 'boft_R', 'lora_A', 'lora_E']);
const DIFF = { indices: 'diff_delta.indices', values: 'diff_delta.values', shape: 'diff_delta.shape' };

/** Reorders, in place, every entry indexed by q/k output features (see the file's comment). */
function relayout(entries: Entries, heads: InterleavedHeads, peftType: PeftType, dir: Direction, op: string): void {
  const keys = entries.keys();
  for (const key of keys) {
    if (peftType === 'PREFIX_TUNING' && key === 'prompt_embeddings') {
      prefixKeys(entries, key, heads, dir);
      continue;
    }
    const m = QK.exec(key);
    if (!m) continue;
    const [, proj, rest] = m;
    const projHeads = proj === 'q_proj' ? heads.q : heads.k;
    const rows = projHeads * heads.headDim;
    if (INPUT_ONLY.has(rest) || rest === DIFF.values || rest === DIFF.shape) continue;
    if (OUTPUT_ROWS.has(rest) || rest === 'ia3_l') {
      // ia3_l is [out, 1] when it scales outputs, [1, in] when inputs; any other misshapen entry is left
      // as it is, for the loader's shape check to name.
      if (entries.shape(key)[0] !== rows) continue;
      const values = entries.floats(key);
      const width = values.length / rows;
      moveBlocks(values, 0, width, width, destinationRows(rows, projHeads, dir));
      entries.setFloats(key, values);
    } else if (rest === DIFF.indices) {
      const base = key.slice(0, -DIFF.indices.length);
      if (!keys.includes(base + DIFF.values) || !keys.includes(base + DIFF.shape)) continue;
      sparseRows(entries, base, rows, destinationRows(rows, projHeads, dir));
    } else {
      throw new Error(`${op}: '${key}' is an adapter tensor of ${proj} whose layout is not known here, and the base model keeps ` +
        'q/k rows in llama2.c\'s interleaved RoPE order, which HF\'s layout permutes: it cannot be moved to or from HF\'s order');
    }
  }
}

/** Diff pruning's deltas: flat indices into the [out, in] weight, moved by row and kept increasing. */
function sparseRows(entries: Entries, base: string, rows: number, dst: Int32Array): void {
  const [out, cols] = entries.integers(base + DIFF.shape);
  if (out !== rows) return;
  const indices = entries.integers(base + DIFF.indices);
  const values = entries.floats(base + DIFF.values);
  const moved = indices.map((at, i) => ({ at: dst[Math.floor(at / cols)] * cols + (at % cols), v: values[i] })).sort((a, b) => a.at - b.at);
  entries.setIntegers(base + DIFF.indices, moved.map((e) => e.at));
  entries.setFloats(base + DIFF.values, Float32Array.from(moved, (e) => e.v));
}

/** Prefix tuning's table [P, layers * 2 * w]: each layer's w key columns (k's heads), then its w value columns. */
function prefixKeys(entries: Entries, key: string, heads: InterleavedHeads, dir: Direction): void {
  const [p, cols] = entries.shape(key);
  const w = heads.k * heads.headDim;
  if (cols % (2 * w) !== 0) return;
  const dst = destinationRows(w, heads.k, dir);
  const values = entries.floats(key);
  for (let row = 0; row < p; row++) for (let at = 0; at < cols; at += 2 * w) moveBlocks(values, row * cols + at, 1, 1, dst);
  entries.setFloats(key, values);
}

/**
 * savePretrained: the adapter's tensors in HF's q/k order. Returns the map to save (the input one when
 * nothing moves) and the tensors made for it, for the caller to dispose once written.
 */
export function adapterToHfLayout(peft: PeftModel, name: string, tensors: Map<string, AdapterTensor>): { tensors: Map<string, AdapterTensor>; made: Tensor[] } {
  const heads = interleavedHeads(peft);
  if (!heads) return { tensors, made: [] };
  const out = new Map(tensors);
  const made: Tensor[] = [];
  const raw = (key: string) => out.get(key) as RawTensorInput;
  relayout({
    keys: () => [...out.keys()],
    shape: (key) => out.get(key)!.shape,
    floats: (key) => {
      const t = out.get(key)!;
      return t instanceof Tensor ? t.toFloat32Array() : Float32Array.from(raw(key).data as ArrayLike<number>);
    },
    setFloats: (key, values) => {
      const t = fromArray(values, [...out.get(key)!.shape]);
      made.push(t);
      out.set(key, t);
    },
    integers: (key) => Array.from(raw(key).data as ArrayLike<number | bigint>, Number),
    setIntegers: (key, values) => out.set(key, { ...raw(key), data: BigInt64Array.from(values, BigInt) }),
  }, heads, peft.peftConfig.get(name)!.peftType, 'toHf', 'savePretrained');
  return { tensors: out, made };
}

/**
 * Loading: the tensors read from an adapter folder (in HF's q/k order) put in the model's order, in place:
 * `tensors` holds every entry as float32, `raw` the integer entries exactly (see Tuner.loadStateDict).
 */
export function adapterFromHfLayout(peft: PeftModel, name: string, tensors: Map<string, Tensor>, raw: Map<string, RawTensor>): void {
  const heads = interleavedHeads(peft);
  if (!heads) return;
  relayout({
    keys: () => [...tensors.keys()],
    shape: (key) => tensors.get(key)!.shape,
    floats: (key) => tensors.get(key)!.toFloat32Array(),
    setFloats: (key, values) => {
      const old = tensors.get(key)!;
      tensors.set(key, fromArray(values, [...old.shape]));
      old.dispose();
    },
    integers: (key) => Array.from((raw.get(key)?.data ?? tensors.get(key)!.toFloat32Array()) as ArrayLike<number | bigint>, Number),
    setIntegers: (key, values) => {
      const r = raw.get(key);
      if (r) raw.set(key, { ...r, dtype: 'I64', data: BigInt64Array.from(values, BigInt) });
      const old = tensors.get(key)!;
      tensors.set(key, fromArray(values, [...old.shape]));
      old.dispose();
    },
  }, heads, peft.peftConfig.get(name)!.peftType, 'fromHf', 'loading an adapter');
}
