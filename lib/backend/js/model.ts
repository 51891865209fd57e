/** The js backend's model kernels: the reference math of model_reference.ts on float32 storage. */
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
  unaryBackward(op, x, dy, dx, n) {
    ref.unaryBackward(op, at(x), at(dy), at(dx), n);
  },

  softmaxBackward(y, dy, dx, rows, cols) {
    ref.softmaxBackward(at(y), at(dy), at(dx), rows, cols);
  },

  columnSum(a, out, rows, cols, beta) {
    ref.columnSum(at(a), at(out), rows, cols, beta);
  },

  stridedScatter(src, dst, shape, strides) {
    ref.stridedScatter(at(src), at(dst), shape, strides);
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
    ref.checkIds('embeddingForward', p.ids, p.n, p.vocab);
    ref.embeddingForward(p.n, p.dim, p.ids, at(p.table), at(p.out));
  },

  embeddingBackward(p) {
    ref.checkIds('embeddingBackward', p.ids, p.n, p.vocab);
    ref.embeddingBackward(p.n, p.dim, p.ids, at(p.dy), at(p.dtable));
  },

  rope(p) {
    if (!(p.rotaryDim % 2 === 0 && p.rotaryDim <= p.headDim))
      throw new Error(`rope: rotaryDim must be even and at most headDim ${p.headDim}, got ${p.rotaryDim}`);
    if (p.positions.length < p.rows) throw new Error(`rope: positions has ${p.positions.length} elements, expected at least ${p.rows}`);
    ref.rope({ ...p, x: at(p.x) });
  },

  crossEntropyForward(p) {
    ref.checkTargets('crossEntropyForward', p.targets, p.rows, p.vocab, p.ignoreIndex);
    return ref.crossEntropyForward(p.rows, p.vocab, at(p.logits), p.targets, p.ignoreIndex, at(p.losses), at(p.lse));
  },

  crossEntropyBackward(p) {
    ref.checkTargets('crossEntropyBackward', p.targets, p.rows, p.vocab, p.ignoreIndex);
    ref.crossEntropyBackward(p.rows, p.vocab, at(p.logits), p.targets, p.ignoreIndex, at(p.lse), p.gradScale, at(p.dlogits));
  },
};
