/** The native backend's model kernels: thin calls into the addon, which checks every argument. */
import type { Buf, ModelKernels } from '../types';
import type { NativeAddon } from './addon';
import { opt, view } from './views';

type WithAddon = { readonly addon: NativeAddon };

/** Methods for NativeBackend.prototype (`this` is the backend, which holds the addon). */
export const nativeModelKernels: ModelKernels & ThisType<WithAddon> = {
  unaryBackward(op, x, dy, dx, n) {
    this.addon.unaryBackward(op, view(x), view(dy), view(dx), n);
  },

  softmaxBackward(y, dy, dx, rows, cols) {
    this.addon.softmaxBackward(view(y), view(dy), view(dx), rows, cols);
  },

  columnSum(a, out, rows, cols, beta) {
    this.addon.columnSum(view(a), view(out), rows, cols, beta);
  },

  stridedScatter(src, dst, shape, strides) {
    this.addon.stridedScatter(view(src), view(dst), shape, strides);
  },

  rmsNormForward(p) {
    this.addon.rmsNormForward(p.rows, p.cols, view(p.x), opt(p.weight), p.eps, view(p.y), view(p.rstd));
  },

  rmsNormBackward(p) {
    this.addon.rmsNormBackward(p.rows, p.cols, view(p.x), opt(p.weight), p.eps, view(p.rstd), view(p.dy), view(p.dx), opt(p.dweight));
  },

  layerNormForward(p) {
    this.addon.layerNormForward(p.rows, p.cols, view(p.x), opt(p.weight), opt(p.bias), p.eps, view(p.y), view(p.mean), view(p.rstd));
  },

  layerNormBackward(p) {
    this.addon.layerNormBackward(p.rows, p.cols, view(p.x), opt(p.weight), p.eps, view(p.mean), view(p.rstd), view(p.dy),
      view(p.dx), opt(p.dweight), opt(p.dbias));
  },

  embeddingForward(p) {
    this.addon.embeddingForward(p.n, p.dim, p.vocab, p.ids, view(p.table), view(p.out));
  },

  embeddingBackward(p) {
    this.addon.embeddingBackward(p.n, p.dim, p.vocab, p.ids, view(p.dy), view(p.dtable));
  },

  rope(p) {
    this.addon.rope(p.rows, p.heads, p.headDim, p.rotaryDim, p.rowStride, view(p.x), p.positions, p.theta, p.interleaved, p.inverse);
  },

  crossEntropyForward(p) {
    return this.addon.crossEntropyForward(p.rows, p.vocab, view(p.logits), p.targets, p.ignoreIndex, view(p.losses), view(p.lse));
  },

  crossEntropyBackward(p) {
    this.addon.crossEntropyBackward(p.rows, p.vocab, view(p.logits), p.targets, p.ignoreIndex, view(p.lse), p.gradScale, view(p.dlogits));
  },
};

/** The addon entries of the model kernels (csrc/binding/model_binding.cc), positional. */
export interface NativeModelEntries {
  unaryBackward(op: string, x: Float32Array, dy: Float32Array, dx: Float32Array, n: number): void;
  softmaxBackward(y: Float32Array, dy: Float32Array, dx: Float32Array, rows: number, cols: number): void;
  columnSum(a: Float32Array, out: Float32Array, rows: number, cols: number, beta: number): void;
  stridedScatter(src: Float32Array, dst: Float32Array, shape: number[], strides: number[]): void;
  rmsNormForward(rows: number, cols: number, x: Float32Array, weight: Float32Array | null, eps: number, y: Float32Array,
                 rstd: Float32Array): void;
  rmsNormBackward(rows: number, cols: number, x: Float32Array, weight: Float32Array | null, eps: number, rstd: Float32Array,
                  dy: Float32Array, dx: Float32Array, dweight: Float32Array | null): void;
  layerNormForward(rows: number, cols: number, x: Float32Array, weight: Float32Array | null, bias: Float32Array | null,
                   eps: number, y: Float32Array, mean: Float32Array, rstd: Float32Array): void;
  layerNormBackward(rows: number, cols: number, x: Float32Array, weight: Float32Array | null, eps: number, mean: Float32Array,
                    rstd: Float32Array, dy: Float32Array, dx: Float32Array, dweight: Float32Array | null,
                    dbias: Float32Array | null): void;
  embeddingForward(n: number, dim: number, vocab: number, ids: Int32Array, table: Float32Array, out: Float32Array): void;
  embeddingBackward(n: number, dim: number, vocab: number, ids: Int32Array, dy: Float32Array, dtable: Float32Array): void;
  rope(rows: number, heads: number, headDim: number, rotaryDim: number, rowStride: number, x: Float32Array,
       positions: Int32Array, theta: number, interleaved: boolean, inverse: boolean): void;
  crossEntropyForward(rows: number, vocab: number, logits: Float32Array, targets: Int32Array, ignoreIndex: number,
                      losses: Float32Array, lse: Float32Array): number;
  crossEntropyBackward(rows: number, vocab: number, logits: Float32Array, targets: Int32Array, ignoreIndex: number,
                       lse: Float32Array, gradScale: number, dlogits: Float32Array): void;
}
