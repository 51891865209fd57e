/**
 * llama2.c checkpoint headers and layouts.
 *   version 0 (legacy): 7 int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len),
 *     a negative vocab_size meaning an unshared classifier; then float32 tensors stacked per kind.
 *   "ak42" versions 1 (float32) and 2 (int8 Q8_0): a 256-byte header (uint32 magic 0x616b3432,
 *     int32 version, the 7 int32, uint8 shared_classifier, version 2: int32 group_size at byte 37).
 * A layout lists where each weight lies, under its Hugging Face Llama name, and how many bytes the
 * header implies the file has, so a truncated or padded file is refused before any tensor is read.
 */
import { FileFormatError } from './errors';

export const LLAMA2C_FORMAT = 'llama2.c checkpoint';
export const AK42_MAGIC = 0x616b3432;
const LEGACY_HEADER_BYTES = 28;
const AK42_HEADER_BYTES = 256;

export interface Llama2cConfig {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  vocabSize: number;
  seqLen: number;
  /** The classifier is the token embedding (lm_head.weight is the same Tensor as embed_tokens). */
  sharedClassifier: boolean;
  headDim: number;
  /** dim * nKvHeads / nHeads: the rows of k_proj and v_proj. */
  kvDim: number;
  /** 0: legacy float32, 1: "ak42" float32, 2: "ak42" int8 Q8_0. */
  version: 0 | 1 | 2;
  /** Values per quantization scale (version 2), else null. */
  groupSize: number | null;
  /**
   * llama2.c rotates interleaved pairs (2i, 2i+1) within each head; Hugging Face Llama rotates
   * halves (i, i + headDim/2), and HF's conversion script permutes the q/k rows to match. The
   * weights here are NOT permuted: they are exactly the checkpoint's, so a model that loads them
   * must rotate interleaved pairs when this is true (the frequency of pair i is
   * ropeTheta^(-2i/headDim) either way).
   */
  ropeInterleaved: true;
  ropeTheta: number;
  /** RMSNorm epsilon llama2.c uses (fixed in run.c). */
  rmsNormEps: number;
}

export type WeightSlot =
  | { name: string; shape: number[]; kind: 'f32'; offset: number }
  | { name: string; shape: number[]; kind: 'q8'; offset: number; scaleOffset: number };

export interface Llama2cLayout {
  config: Llama2cConfig;
  slots: WeightSlot[];
  /** The exact file size the header implies. */
  expectedBytes: number;
}

const layer = (l: number, rest: string) => `model.layers.${l}.${rest}`;

function fail(file: string, problem: string): never {
  throw new FileFormatError(LLAMA2C_FORMAT, file, problem);
}

function checkConfig(file: string, c: Llama2cConfig): void {
  const sizes: [string, number][] = [['dim', c.dim], ['hidden_dim', c.hiddenDim], ['n_layers', c.nLayers], ['n_heads', c.nHeads],
    ['n_kv_heads', c.nKvHeads], ['vocab_size', c.vocabSize], ['seq_len', c.seqLen]];
  for (const [name, v] of sizes) if (!(v > 0)) fail(file, `header ${name} = ${v} must be positive`);
  if (c.dim % c.nHeads !== 0) fail(file, `header n_heads = ${c.nHeads} does not divide dim = ${c.dim}`);
  if (c.nHeads % c.nKvHeads !== 0) fail(file, `header n_kv_heads = ${c.nKvHeads} does not divide n_heads = ${c.nHeads}`);
  if (c.headDim % 2 !== 0) fail(file, `head size dim / n_heads = ${c.headDim} is odd; rotary embeddings need pairs`);
  if (c.groupSize !== null && !(c.groupSize > 0)) fail(file, `header group_size = ${c.groupSize} must be positive`);
}

/** The config from the first bytes of a file (at most 256 of them) and the file's size. */
export function parseLlama2cHeader(file: string, head: Uint8Array, fileSize: number): Llama2cConfig {
  if (fileSize < LEGACY_HEADER_BYTES) fail(file, `file is ${fileSize} bytes, shorter than the ${LEGACY_HEADER_BYTES}-byte header`);
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const ints = (from: number) => Array.from({ length: 7 }, (_, i) => view.getInt32(from + 4 * i, true));
  const base = (v: number[], version: 0 | 1 | 2, shared: boolean, groupSize: number | null): Llama2cConfig => ({
    dim: v[0], hiddenDim: v[1], nLayers: v[2], nHeads: v[3], nKvHeads: v[4], vocabSize: Math.abs(v[5]), seqLen: v[6],
    sharedClassifier: shared, headDim: v[3] > 0 ? v[0] / v[3] : NaN, kvDim: v[3] > 0 ? (v[0] * v[4]) / v[3] : NaN,
    version, groupSize, ropeInterleaved: true, ropeTheta: 10000, rmsNormEps: 1e-5,
  });
  let config: Llama2cConfig;
  if (view.getUint32(0, true) === AK42_MAGIC) {
    if (fileSize < AK42_HEADER_BYTES) fail(file, `file is ${fileSize} bytes, shorter than the ${AK42_HEADER_BYTES}-byte "ak42" header`);
    const version = view.getInt32(4, true);
    if (version !== 1 && version !== 2) fail(file, `"ak42" version ${version} is not supported (1: float32, 2: int8)`);
    const v = ints(8);
    const sharedByte = view.getUint8(36);
    if (sharedByte > 1) fail(file, `header shared_classifier = ${sharedByte} must be 0 or 1`);
    if (v[5] <= 0) fail(file, `header vocab_size = ${v[5]} must be positive`);
    config = base(v, version, sharedByte === 1, version === 2 ? view.getInt32(37, true) : null);
  } else {
    // Legacy: a negative vocab_size is how export.py flags an unshared classifier.
    const v = ints(0);
    config = base(v, 0, v[5] > 0, null);
    if (v[5] === 0) fail(file, 'header vocab_size = 0 must be non-zero');
  }
  checkConfig(file, config);
  return config;
}

/**
 * The file size the header implies, without listing the weights: every layer adds the same bytes, so
 * two layouts of 0 and 1 layers give it. Checked before llama2cLayout, which lists every layer's
 * slots: a header of a billion layers would take minutes and gigabytes to be found too big.
 */
export function llama2cExpectedBytes(file: string, c: Llama2cConfig): number {
  const bytes = (nLayers: number) => llama2cLayout(file, { ...c, nLayers }).expectedBytes;
  return bytes(0) + (bytes(1) - bytes(0)) * c.nLayers;
}

/** Where each weight lies in the file, and the file size the header implies. */
export function llama2cLayout(file: string, c: Llama2cConfig): Llama2cLayout {
  const { dim: D, hiddenDim: H, nLayers: L, kvDim: KV, vocabSize: V } = c;
  const slots: WeightSlot[] = [];
  let pos = c.version === 0 ? LEGACY_HEADER_BYTES : AK42_HEADER_BYTES;
  const f32 = (name: string, shape: number[]) => {
    slots.push({ name, shape, kind: 'f32', offset: pos });
    pos += shape.reduce((a, b) => a * b, 1) * 4;
  };
  const matrix = (name: string, shape: number[]) => {
    if (c.version !== 2) return f32(name, shape);
    const n = shape[0] * shape[1];
    const gs = c.groupSize!;
    if (n % gs !== 0) fail(file, `${name} has ${n} values, not a multiple of group_size ${gs}`);
    slots.push({ name, shape, kind: 'q8', offset: pos, scaleOffset: pos + n });
    pos += n + (n / gs) * 4;
  };
  const perLayer = (rest: string, shape: number[], put: (name: string, shape: number[]) => void) => {
    for (let l = 0; l < L; l++) put(layer(l, rest), shape);
  };
  const norms = () => {
    perLayer('input_layernorm.weight', [D], f32);
    perLayer('post_attention_layernorm.weight', [D], f32);
    f32('model.norm.weight', [D]);
  };
  const matrices = () => {
    perLayer('self_attn.q_proj.weight', [D, D], matrix);
    perLayer('self_attn.k_proj.weight', [KV, D], matrix);
    perLayer('self_attn.v_proj.weight', [KV, D], matrix);
    perLayer('self_attn.o_proj.weight', [D, D], matrix);
  };
  const ffn = () => {
    perLayer('mlp.gate_proj.weight', [H, D], matrix);  // w1
    perLayer('mlp.down_proj.weight', [D, H], matrix);  // w2
    perLayer('mlp.up_proj.weight', [H, D], matrix);    // w3
  };
  if (c.version === 0) {
    f32('model.embed_tokens.weight', [V, D]);
    perLayer('input_layernorm.weight', [D], f32);
    matrices();
    perLayer('post_attention_layernorm.weight', [D], f32);
    ffn();
    f32('model.norm.weight', [D]);
    // freq_cis_real and freq_cis_imag [seq_len, head_size/2]: the rotary tables, recomputed by models.
    pos += 2 * ((c.seqLen * c.headDim) / 2) * 4;
  } else {
    norms();
    matrix('model.embed_tokens.weight', [V, D]);
    matrices();
    ffn();
  }
  if (!c.sharedClassifier) matrix('lm_head.weight', [V, D]);
  return { config: c, slots, expectedBytes: pos };
}
