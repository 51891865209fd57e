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
