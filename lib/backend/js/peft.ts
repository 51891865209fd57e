/** The js backend's PEFT kernels: the reference math of peft_reference.ts on float32 storage. */
import type { Buf, PeftKernels } from '../types';
import * as ref from './peft_reference';

/** The storage's host memory from the buffer's offset on (a view, no copy). */
function at(b: Buf): Float32Array {
  if (b.storage.data === undefined) throw new Error(`js backend: storage on '${b.storage.device}' is not host memory`);
  return b.storage.data.subarray(b.offset);
}

function put(dst: Buf | null, values: ref.Arr): void {
  if (dst !== null) at(dst).set(values);
}

export const jsPeftKernels: PeftKernels = {
  loraForward(p) {
    const inputs = {
      T: p.T, K: p.K, N: p.N, r: p.r, x: at(p.x), a: at(p.a), b: at(p.b), scale: p.scale, dropout: p.dropout,
      seed: p.seed, rowOffset: p.rowOffset, bias: p.bias ? at(p.bias) : null,
      // Without W the base term is what y already holds: compute the adapter's part on a zero W.
      w: p.w ? at(p.w) : new Float32Array(p.N * p.K),
    };
    const { y, u } = ref.loraForward(inputs);
    put(p.u, u);
    const out = at(p.y);
    for (let i = 0; i < p.T * p.N; i++) out[i] = p.w ? y[i] : out[i] + y[i];
  },

  loraBackward(p) {
    const inputs = {
      T: p.T, K: p.K, N: p.N, r: p.r, x: at(p.x), a: at(p.a), b: at(p.b), scale: p.scale, dropout: p.dropout,
      seed: p.seed, rowOffset: p.rowOffset, bias: null, w: p.w ? at(p.w) : new Float32Array(p.N * p.K),
    };
    const g = ref.loraBackward(inputs, at(p.u), at(p.dy));
    put(p.da, g.da);
    put(p.db, g.db);
    put(p.dbias, g.dbias);
    if (p.dx !== null) {
      const dx = at(p.dx);
      for (let i = 0; i < p.T * p.K; i++) dx[i] = p.w ? g.dx[i] : dx[i] + g.dx[i];
    }
  },

  ia3Forward(p) {
    const inputs = { T: p.T, K: p.K, N: p.N, x: at(p.x), w: at(p.w), bias: p.bias ? at(p.bias) : null, l: at(p.l), mode: p.mode };
    put(p.y, ref.ia3Forward(inputs));
    if (p.yPre !== null) put(p.yPre, ref.ia3Forward({ ...inputs, l: new Float32Array(p.N).fill(1), mode: 'output' }));
  },

  ia3Backward(p) {
    if (p.mode === 'output' && p.yPre === null) throw new Error('ia3Backward: output scaling needs yPre (the unscaled output) for dl');
    // dl in output mode is colsum(dy * yPre): recover the bias-free reference's pre-output from yPre.
    const inputs = { T: p.T, K: p.K, N: p.N, x: at(p.x), w: at(p.w), bias: null, l: at(p.l), mode: p.mode };
    const g = ref.ia3Backward(inputs, at(p.dy));
    if (p.mode === 'output') {
      const dy = at(p.dy), pre = at(p.yPre!), dl = at(p.dl);
      for (let n = 0; n < p.N; n++) {
        let s = 0;
        for (let t = 0; t < p.T; t++) s += dy[t * p.N + n] * pre[t * p.N + n];
        dl[n] = s;
      }
    } else put(p.dl, g.dl);
    put(p.dx, g.dx);
  },

  diffPruneForward(p) {
    const o = ref.diffPruneForward({
      n: p.n, w: at(p.w), delta: at(p.delta), logAlpha: at(p.logAlpha).subarray(0, p.logAlphaLength),
      training: p.training, seed: p.seed, gate: p.gate,
    });
    put(p.wOut, o.wOut);
    put(p.z, o.z);
    return o.penalty;
  },

  diffPruneBackward(p) {
    const g = ref.diffPruneBackward({
      n: p.n, w: at(p.dw), delta: at(p.delta), logAlpha: at(p.logAlpha).subarray(0, p.logAlphaLength),
      training: p.training, seed: p.seed, gate: p.gate,
    }, at(p.dw).subarray(0, p.n), p.lambda, p.gates ? at(p.gates).subarray(0, p.n) : null);
    put(p.dDelta, g.dDelta);
    put(p.dLogAlpha, g.dLogAlpha);
  },

  projectTopK({ v, n, keep }) {
    const values = at(v).subarray(0, n);
    if (keep >= n) return 0;
    const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => Math.abs(values[j]) - Math.abs(values[i]) || i - j);
    const threshold = keep > 0 ? Math.abs(values[order[keep - 1]]) : Infinity;
    for (let q = keep; q < n; q++) values[order[q]] = 0;
    return threshold;
  },

  bitfitBackward(p) {
    const g = ref.bitfitBackward(p.T, p.K, p.N, at(p.w), at(p.dy));
    put(p.dx, g.dx);
    put(p.dbias, g.dbias);
  },
};
