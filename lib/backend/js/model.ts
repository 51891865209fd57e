/**
 * The js backend's model kernels: the reference math of model_reference.ts on float32 storage. Their arguments
 * (ids and targets in range included) are checked by the registry before they run (model_checks.ts).
 */
import type { ModelKernels } from '../model_types';
import type { Buf } from '../types';
import * as ref from './model_reference';

/** The storage's host memory from the buffer's offset on (a view, no copy). */
function at(b: Buf): Float32Array {
  if (b.storage.data === undefined) throw new Error(`js backend: storage on '${b.storage.device}' is not host memory`);
  return b.storage.data.subarray(b.offset);
}

function opt(b: Buf | null): Float32Array | null {
  return b === null ? null : at(b);
}

export const jsModelKernels: ModelKernels = {
  unaryBackward(p) {
    ref.unaryBackward(p.op, at(p.x), at(p.dy), at(p.dx), p.n);
  },

  softmaxBackward(p) {
    ref.softmaxBackward(at(p.y), at(p.dy), at(p.dx), p.rows, p.cols);
  },

  columnSum(p) {
    ref.columnSum(at(p.a), at(p.out), p.rows, p.cols, p.beta);
  },

  stridedScatter(p) {
    ref.stridedScatter(at(p.src), at(p.dst), p.shape, p.strides);
  },

  rmsNormForward(p) {
    ref.rmsNormForward({ ...p, x: at(p.x), weight: opt(p.weight), y: at(p.y), rstd: at(p.rstd) });
  },

  rmsNormBackward(p) {
    ref.rmsNormBackward({ ...p, x: at(p.x), weight: opt(p.weight), rstd: at(p.rstd), dy: at(p.dy), dx: at(p.dx), dweight: opt(p.dweight) });
  },

  layerNormForward(p) {
    ref.layerNormForward({ ...p, x: at(p.x), weight: opt(p.weight), bias: opt(p.bias), y: at(p.y), mean: at(p.mean), rstd: at(p.rstd) });
  },

  layerNormBackward(p) {
    ref.layerNormBackward({
      ...p, x: at(p.x), weight: opt(p.weight), mean: at(p.mean), rstd: at(p.rstd), dy: at(p.dy), dx: at(p.dx),
      dweight: opt(p.dweight), dbias: opt(p.dbias),
    });
  },

  embeddingForward(p) {
    ref.embeddingForward(p.n, p.dim, p.ids, at(p.table), at(p.out));
  },

  embeddingBackward(p) {
    ref.embeddingBackward(p.n, p.dim, p.ids, at(p.dy), at(p.dtable));
  },

  rope(p) {
    ref.rope({ ...p, x: at(p.x) });
  },

  crossEntropyForward(p) {
    return ref.crossEntropyForward(p.rows, p.vocab, at(p.logits), p.targets, p.ignoreIndex, at(p.losses), at(p.lse));
  },

  crossEntropyBackward(p) {
    ref.crossEntropyBackward(p.rows, p.vocab, at(p.logits), p.targets, p.ignoreIndex, at(p.lse), p.gradScale, at(p.dlogits));
  },
};
