/**
 * Loading llama2.c checkpoints (legacy float32 v0, "ak42" float32 v1 and int8 v2) as float32 Tensors
 * under Hugging Face Llama names. Int8 weights are dequantized (value = int8 * scale of its group of
 * groupSize consecutive values), the product rounded to float32 once, as runq.c computes it.
 * The weights are the checkpoint's own: q_proj/k_proj rows are not permuted for HF's rotary layout;
 * config.ropeInterleaved says which rotation they need (see Llama2cConfig).
 */
import type { Tensor } from '../tensor/tensor';
import { assertLittleEndianHost, bytesOf, readExact, setOwn, withOpenFile } from './binary';
import { FileFormatError } from './errors';
import { hostTensor } from './host_tensor';
import { LLAMA2C_FORMAT, type Llama2cConfig, llama2cExpectedBytes, llama2cLayout, type Llama2cLayout, parseLlama2cHeader, type WeightSlot } from './llama2c_config';

export interface Llama2cCheckpoint {
  config: Llama2cConfig;
  /** HF names -> float32 Tensors; with a shared classifier, lm_head.weight is embed_tokens' Tensor. */
  weights: Record<string, Tensor>;
}

function readLayout(fd: number, file: string, size: number): Llama2cLayout {
  const head = new Uint8Array(Math.min(256, size));
  readExact(fd, head, 0, LLAMA2C_FORMAT, file);
  const c = parseLlama2cHeader(file, head, size);
  const expected = llama2cExpectedBytes(file, c);
  if (size !== expected) {
    throw new FileFormatError(LLAMA2C_FORMAT, file,
      `${size < expected ? 'truncated' : 'has trailing bytes'}: the header (version ${c.version}, dim=${c.dim}, hidden_dim=${c.hiddenDim}, ` +
      `n_layers=${c.nLayers}, n_heads=${c.nHeads}, n_kv_heads=${c.nKvHeads}, vocab_size=${c.vocabSize}, seq_len=${c.seqLen}` +
      `${c.groupSize !== null ? `, group_size=${c.groupSize}` : ''}) implies ${expected} bytes but the file has ${size}`);
  }
  return llama2cLayout(file, c);
}

function loadSlot(fd: number, file: string, slot: WeightSlot, groupSize: number): Tensor {
  return hostTensor(slot.shape, (out) => {
    if (slot.kind === 'f32') return readExact(fd, bytesOf(out), slot.offset, LLAMA2C_FORMAT, file);
    const q = new Int8Array(out.length);
    const scales = new Float32Array(out.length / groupSize);
    readExact(fd, bytesOf(q), slot.offset, LLAMA2C_FORMAT, file);
    readExact(fd, bytesOf(scales), slot.scaleOffset, LLAMA2C_FORMAT, file);
    out.set(dequantizeQ8({ q, scales, groupSize }));
  });
}

/** The config alone (reads only the header, and checks the file size against it). */
export function readLlama2cConfig(path: string): Llama2cConfig {
  return withOpenFile(path, LLAMA2C_FORMAT, (fd, size) => readLayout(fd, path, size).config);
}

/** Loads every weight; a bad header or a file of the wrong size is a FileFormatError naming the file. */
export function loadLlama2c(path: string): Llama2cCheckpoint {
  assertLittleEndianHost('loadLlama2c');
  return withOpenFile(path, LLAMA2C_FORMAT, (fd, size) => {
    const layout = readLayout(fd, path, size);
    const weights: Record<string, Tensor> = {};
    try {
      for (const slot of layout.slots) setOwn(weights, slot.name, loadSlot(fd, path, slot, layout.config.groupSize ?? 1));
    } catch (e) {
      for (const t of Object.values(weights)) t.dispose();
      throw e;
    }
    if (layout.config.sharedClassifier) weights['lm_head.weight'] = weights['model.embed_tokens.weight'];
    return { config: layout.config, weights };
  });
}

/** One weight as stored: float32 values, or (version 2) int8 codes with one float32 scale per group. */
export type Llama2cSlotData =
  | { kind: 'f32'; values: Float32Array }
  | { kind: 'q8'; q: Int8Array; scales: Float32Array; groupSize: number };

/**
 * Reads the weights one at a time, as stored, handing each to `visit` before the next is read: a loader that
 * quantizes keeps at most one float32 weight in memory. Returns the config.
 */
export function forEachLlama2cWeight(path: string, visit: (name: string, shape: number[], data: Llama2cSlotData) => void): Llama2cConfig {
  assertLittleEndianHost('forEachLlama2cWeight');
  return withOpenFile(path, LLAMA2C_FORMAT, (fd, size) => {
    const layout = readLayout(fd, path, size);
    for (const slot of layout.slots) {
      const n = slot.shape.reduce((a, b) => a * b, 1);
      if (slot.kind === 'f32') {
        const values = new Float32Array(n);
        readExact(fd, bytesOf(values), slot.offset, LLAMA2C_FORMAT, path);
        visit(slot.name, slot.shape, { kind: 'f32', values });
      } else {
        const groupSize = layout.config.groupSize!;
        const q = new Int8Array(n), scales = new Float32Array(n / groupSize);
        readExact(fd, bytesOf(q), slot.offset, LLAMA2C_FORMAT, path);
        readExact(fd, bytesOf(scales), slot.scaleOffset, LLAMA2C_FORMAT, path);
        visit(slot.name, slot.shape, { kind: 'q8', q, scales, groupSize });
      }
    }
    return layout.config;
  });
}

/** A version-2 weight in float32: value = int8 * scale of its group, rounded once, as runq.c computes it. */
export function dequantizeQ8(data: { q: Int8Array; scales: Float32Array; groupSize: number }): Float32Array {
  const out = new Float32Array(data.q.length);
  for (let g = 0, i = 0; g < data.scales.length; g++) {
    const s = data.scales[g];
    for (const end = i + data.groupSize; i < end; i++) out[i] = data.q[i] * s;
  }
  return out;
}

export type { Llama2cConfig } from './llama2c_config';
