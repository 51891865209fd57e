/** The native backend's PEFT kernels: thin calls into the addon, which checks every argument. */
import type { PeftKernels } from '../types';
import type { NativeAddon } from './addon';
import { opt, view } from './views';

/** Bound to the backend, which holds the addon. */
export const nativePeftKernels: PeftKernels & ThisType<{ addon: NativeAddon }> = {
  loraForward(p) {
    this.addon.loraForward(p.T, p.K, p.N, p.r, view(p.x), opt(p.w), opt(p.bias), view(p.a), view(p.b), p.scale, p.dropout,
      p.seed, p.rowOffset, view(p.u), view(p.y));
  },

  loraBackward(p) {
    this.addon.loraBackward(p.T, p.K, p.N, p.r, view(p.x), opt(p.w), view(p.a), view(p.b), view(p.u), view(p.dy), p.scale,
      p.dropout, p.seed, p.rowOffset, opt(p.dx), view(p.da), view(p.db), opt(p.dbias));
  },

  ia3Forward(p) {
    this.addon.ia3Forward(p.mode, p.T, p.K, p.N, view(p.x), view(p.w), opt(p.bias), view(p.l), view(p.y), opt(p.yPre));
  },

  ia3Backward(p) {
    this.addon.ia3Backward(p.mode, p.T, p.K, p.N, view(p.x), view(p.w), view(p.l), view(p.dy), opt(p.yPre), opt(p.dx), view(p.dl));
  },

  diffPruneForward(p) {
    return this.addon.diffPruneForward(p.n, view(p.w), view(p.delta), view(p.logAlpha), p.logAlphaLength, p.training, p.seed,
      p.gate.gamma, p.gate.zeta, p.gate.beta, view(p.wOut), opt(p.z));
  },

  diffPruneBackward(p) {
    this.addon.diffPruneBackward(p.n, view(p.dw), view(p.delta), view(p.logAlpha), p.logAlphaLength, p.training, p.seed,
      p.gate.gamma, p.gate.zeta, p.gate.beta, p.lambda, view(p.dDelta), view(p.dLogAlpha), opt(p.gates ?? null));
  },

  projectTopK(v, n, keep) {
    return this.addon.projectTopK(view(v), n, keep);
  },

  bitfitBackward(p) {
    this.addon.bitfitBackward(p.T, p.K, p.N, view(p.dy), view(p.w), opt(p.dx), view(p.dbias));
  },
};
