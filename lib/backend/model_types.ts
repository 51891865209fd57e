/**
 * Kernels a transformer training step needs beyond the primitives: gradients of the elementwise ops,
 * norms, embeddings, rotary embeddings, fused attention, the fused softmax cross-entropy and the
 * optimizer updates. Row-major contiguous buffers unless a stride says otherwise; every length is in
 * float32 elements. Integer inputs (token ids, positions, masks) are host Int32Arrays on every backend.
 */
import type { Buf, UnaryOpName } from './types';

export interface NormParams {
  rows: number;
  cols: number;
  x: Buf;
  /** [cols], or null for no elementwise affine weight. */
  weight: Buf | null;
  eps: number;
}

/** Token-major layout [B, T, H, D] with a stride between tokens (so q, k, v may be column slices of one qkv). */
export interface HeadsView {
  buf: Buf;
  /** Elements between consecutive tokens (H * D when packed alone, 3 * Hq * D for a fused qkv). */
  rowStride: number;
}

export interface AttentionParams {
  batch: number;
  /** Queries per sequence. */
  tq: number;
  /** Keys per sequence (tk >= tq with a KV cache or key prefixes). */
  tk: number;
  qHeads: number;
  /** kvHeads divides qHeads: query head h reads key/value head h / (qHeads / kvHeads). */
  kvHeads: number;
  headDim: number;
  /** Usually 1 / sqrt(headDim). */
  scale: number;
  /** Query i (0-based) sees keys j <= i + (tk - tq). */
  causal: boolean;
  /** [batch, tk]: 0 hides that key from every query of the sequence; null attends to every key. */
  keyMask: Int32Array | null;
  q: HeadsView;
  k: HeadsView;
  v: HeadsView;
}

export interface ModelKernels {
  /** dx = dy * f'(x) for the unary op f over n elements, x being the op's INPUT for every op (exp and sqrt included). */
  unaryBackward(p: { op: UnaryOpName; x: Buf; dy: Buf; dx: Buf; n: number }): void;
  /** dx = y * (dy - sum(dy * y)) per row, for y = softmax(x) over [rows, cols]. */
  softmaxBackward(p: { y: Buf; dy: Buf; dx: Buf; rows: number; cols: number }): void;
  /** out[c] = sum over rows of a[r, c] ([rows, cols] contiguous); beta = 1 accumulates into out. */
  columnSum(p: { a: Buf; out: Buf; rows: number; cols: number; beta: number }): void;
  /** The inverse of stridedCopy: writes contiguous src into the view (shape, strides from dst.offset). */
  stridedScatter(p: { src: Buf; dst: Buf; shape: number[]; strides: number[] }): void;

  /** y = x / sqrt(mean(x^2) + eps) * weight per row; rstd[r] = 1 / sqrt(mean(x^2) + eps). */
  rmsNormForward(p: NormParams & { y: Buf; rstd: Buf }): void;
  /** dx, and dweight (written, not accumulated) when not null. */
  rmsNormBackward(p: NormParams & { rstd: Buf; dy: Buf; dx: Buf; dweight: Buf | null }): void;
  /** y = (x - mean) * rstd * weight + bias per row; saves mean and rstd [rows]. */
  layerNormForward(p: NormParams & { bias: Buf | null; y: Buf; mean: Buf; rstd: Buf }): void;
  layerNormBackward(p: NormParams & { mean: Buf; rstd: Buf; dy: Buf; dx: Buf; dweight: Buf | null; dbias: Buf | null }): void;

  /** out[i, :] = table[ids[i], :]; ids in [0, vocab) (model_checks.ts refuses any other). */
  embeddingForward(p: { n: number; dim: number; vocab: number; ids: Int32Array; table: Buf; out: Buf }): void;
  /** dtable[ids[i], :] += dy[i, :] (accumulates: the caller zeroes dtable first). */
  embeddingBackward(p: { n: number; dim: number; vocab: number; ids: Int32Array; dy: Buf; dtable: Buf }): void;

  /**
   * Rotary embedding on x viewed as [rows, heads, headDim] (rowStride between rows), in place; token row
   * i is at position positions[i]. Frequency of pair i: theta^(-2i / rotaryDim) for the first rotaryDim
   * dims (rotaryDim = headDim usually). interleaved: pairs (2i, 2i+1) as llama2.c and Meta's reference;
   * otherwise (i, i + rotaryDim/2) as HF's rotate_half. inverse rotates by -angle (the backward).
   */
  rope(p: {
    rows: number; heads: number; headDim: number; rotaryDim: number; rowStride: number; x: Buf;
    positions: Int32Array; theta: number; interleaved: boolean; inverse: boolean;
  }): void;

  /**
   * Softmax cross-entropy per row of logits [rows, vocab]: losses[r] = lse[r] - logits[r, t] with
   * t = targets[r]; rows whose target equals ignoreIndex get losses[r] = 0. Returns the number of counted rows.
   */
  crossEntropyForward(p: { rows: number; vocab: number; logits: Buf; targets: Int32Array; ignoreIndex: number; losses: Buf; lse: Buf }): number;
  /** dlogits[r] = (softmax(logits[r]) - onehot(t)) * gradScale, 0 for ignored rows. */
  crossEntropyBackward(p: { rows: number; vocab: number; logits: Buf; targets: Int32Array; ignoreIndex: number; lse: Buf; gradScale: number; dlogits: Buf }): void;
}

/** Fused attention (its own group: a backend may have the model kernels without it). */
export interface AttentionKernels {
  /**
   * Fused scaled-dot-product attention without a [tq, tk] matrix per head held in memory:
   * out [B, tq, qHeads, headDim] (packed), lse [B, qHeads, tq] = log-sum-exp of each query's scores
   * (kept for the backward). A query that sees no key gets out = 0 and lse = -Infinity.
   */
  attentionForward(p: AttentionParams & { out: Buf; lse: Buf }): void;
  /** dq, dk, dv in the layouts of q, k, v (written, not accumulated; dk/dv sum over the query heads of a group). */
  attentionBackward(p: AttentionParams & { out: Buf; lse: Buf; dout: Buf; dq: HeadsView; dk: HeadsView; dv: HeadsView }): void;
}

/** Fused optimizer updates over one flat parameter (PyTorch's semantics exactly). */
export interface OptimKernels {
  /**
   * AdamW (decoupled weight decay): param *= 1 - lr * weightDecay; m = b1 m + (1 - b1) g;
   * v = b2 v + (1 - b2) g^2; param -= lr * (m / (1 - b1^step)) / (sqrt(v / (1 - b2^step)) + eps).
   */
  adamwStep(p: {
    n: number; param: Buf; grad: Buf; m: Buf; v: Buf; lr: number; beta1: number; beta2: number; eps: number;
    weightDecay: number; step: number;
  }): void;
  /** SGD as torch.optim.SGD: weight decay added to g, momentum buffer (first step: buf = g), nesterov. */
  sgdStep(p: {
    n: number; param: Buf; grad: Buf; momentumBuf: Buf | null; lr: number; momentum: number; dampening: number;
    nesterov: boolean; weightDecay: number; firstStep: boolean;
  }): void;
  /** Sum of squares of a buffer (for global-norm clipping), accumulated in double precision. */
  sumSquares(p: { x: Buf; n: number }): number;
}
