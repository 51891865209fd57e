/** Times each row on the peftjs native backend (median of repeated runs after warm-up). */
import { FourierFTLinear, Linear, matmul, noGrad, randn, setBackend, tidy, zeros } from '../lib';
import type { FourierDeltaPath } from '../lib/peft/tuners/fourierft/layer';
import { launchBitfitBackward } from '../lib/ops/bitfit/launch';
import { launchDiffPruneBackward, launchDiffPruneForward } from '../lib/ops/diff_prune/launch';
import { launchIa3Backward, launchIa3Forward } from '../lib/ops/ia3/launch';
import { launchLoraBackward, launchLoraForward } from '../lib/ops/lora/launch';
import type { WeightFormat } from '../lib/ops/dequantize/kernel';
import { quantizedLinear } from '../lib/quant/quantized_linear';
import { QuantizedTensor } from '../lib/quant/quantized_tensor';

const FORMAT_OF_BITS: Record<number, WeightFormat> = { 16: 'bfloat16', 8: 'int8', 4: 'nf4' };
import type { RowSpec } from './rows';
import { timeIt, timeRatio, type Timing } from './timing';

/** Builds the inputs once and returns the step to time. */
function stepFor(s: RowSpec): () => void {
  const { M, N, K, T, d, r } = s.shape;
  const g = (shape: number[], seed: number, std = 1) => randn(shape, { seed, std });
  switch (s.name) {
    case 'gemm': {
      const x = g([M, K], 1), w = g([N, K], 2);
      return () => { matmul(x, w.T); };
    }
    case 'gemm_wq': {
      const x = g([M, K], 1), w = g([N, K], 2, 0.02);
      if (s.shape.bits === 32) return () => { matmul(x, w.T); };
      const q = QuantizedTensor.quantize(w, [N, K], FORMAT_OF_BITS[s.shape.bits]);
      w.dispose();
      const compute = s.shape.compute === 16 ? 'bfloat16' : 'float32';
      return () => { quantizedLinear(x, q, null, compute); };
    }
    case 'base_fwd_bwd': {
      const x = g([T, d], 1), w = g([d, d], 2, 0.02), b = g([d], 3), dy = g([T, d], 4);
      return () => { matmul(x, w.T, { bias: b }); matmul(dy, w); };
    }
    case 'lora_fwd_bwd': {
      const x = g([T, d], 1), w = g([d, d], 2, 0.02), b = g([d], 3), dy = g([T, d], 4);
      const a = g([r, d], 5, 0.02), bl = g([d, r], 6, 0.02);
      return () => {
        const { u } = launchLoraForward(x, w, b, a, bl, { scale: 2 });
        launchLoraBackward(x, w, a, bl, u, dy, { scale: 2 });
      };
    }
    case 'ia3_fwd_bwd': {
      const x = g([T, d], 1), w = g([d, d], 2, 0.02), b = g([d], 3), dy = g([T, d], 4), l = g([d], 5);
      return () => {
        const { yPre } = launchIa3Forward(x, w, b, l, 'output');
        launchIa3Backward(x, w, l, 'output', dy, yPre);
      };
    }
    case 'bitfit_fwd_bwd': {
      const x = g([T, d], 1), w = g([d, d], 2, 0.02), b = g([d], 3), dy = g([T, d], 4);
      return () => { matmul(x, w.T, { bias: b }); launchBitfitBackward(dy, w); };
    }
    case 'diffprune_fwd_bwd': {
      const x = g([T, d], 1), w = g([d, d], 2, 0.02), b = g([d], 3), dy = g([T, d], 4);
      const delta = zeros([d, d]), logAlpha = g([d, d], 5, 0.5);
      const opts = { training: true, seed: 9, lambda: 1e-4 };
      return () => {
        const { w: wp, z } = launchDiffPruneForward(w, delta, logAlpha, opts);
        matmul(x, wp.T, { bias: b });
        matmul(dy, wp);                       // dx
        const dw = matmul(dy.T, x);           // dW' = dy^T x, for the gates
        launchDiffPruneBackward(dw, delta, logAlpha, { ...opts, gates: z });  // from the kept gates, as autograd runs it
      };
    }
    case 'fourierft_delta': return fourierDeltaStep(s);
    case 'train_step':
    case 'lora_step_1b':
    case 'lora_step_7b':
    case 'lora_quality':
    case 'family_step':
    case 'ddp_step': throw new Error(`bench: ${s.name} runs whole models (bench/train_step.ts, bench/lora_step_rows.ts, bench/ddp_step.ts), not as a kernel row`);
    case 'tfjs_matmul':
    case 'tfjs_dense_fit':
    case 'tfjs_conv_fit':
    case 'tfjs_transformer': throw new Error(`bench: ${s.name} runs through TensorFlow.js (bench/tfjs_rows.ts), not as a kernel row`);
  }
}

/** FourierFT's delta weight forward and the spectrum's gradient backward, along `path` (default: the layer's choice). */
function fourierDeltaStep(s: RowSpec, path?: FourierDeltaPath): () => void {
  const { out, in: inF, F } = s.shape;
  const layer = new FourierFTLinear(noGrad(() => new Linear(inF, out)));
  layer.addAdapter('default', { nFrequency: F, scaling: 150, randomLocSeed: 777, initWeights: false });
  const spectrum = layer.fourierft_spectrum.get('default');
  const g = randn([out, inF], { seed: 4 });
  return () => {
    layer.deltaWeight('default', path).backward({ grad: g });
    spectrum.grad?.dispose();
    spectrum.grad = null;
  };
}

/** fourierft_delta along the product of the frozen bases (the path before the transform), for the note. */
export function timeFourierBases(s: RowSpec): Timing {
  setBackend('native');
  return tidy(() => {
    const step = fourierDeltaStep(s, 'bases');
    return timeIt(() => tidy(step), { warmup: 1, minRuns: 5, budgetMs: 3000 });
  });
}

/**
 * The work a row adds beyond its GEMMs, alone: BitFit's column sums of dy, IA3's dl pass over dy and
 * y_pre, diff pruning's gate forward and backward. Timed directly, since the difference of two ~50 ms
 * GEMM timings is mostly noise.
 */
function extraStepFor(s: RowSpec): (() => void) | null {
  const { T, d } = s.shape;
  const g = (shape: number[], seed: number, std = 1) => randn(shape, { seed, std });
  switch (s.name) {
    case 'bitfit_fwd_bwd': {
      const w = g([d, d], 2, 0.02), dy = g([T, d], 4);
      return () => { launchBitfitBackward(dy, w, { inputGrad: false }); };
    }
    case 'ia3_fwd_bwd': {
      const x = g([T, d], 1), w = g([d, d], 2, 0.02), dy = g([T, d], 4), l = g([d], 5), yPre = g([T, d], 6);
      return () => { launchIa3Backward(x, w, l, 'output', dy, yPre, { inputGrad: false }); };
    }
    case 'diffprune_fwd_bwd': {
      const w = g([d, d], 2, 0.02), dw = g([d, d], 3), delta = zeros([d, d]), logAlpha = g([d, d], 5, 0.5);
      const opts = { training: true, seed: 9, lambda: 1e-4 };
      return () => {
        const { z } = launchDiffPruneForward(w, delta, logAlpha, opts);
        launchDiffPruneBackward(dw, delta, logAlpha, { ...opts, gates: z });
      };
    }
    default: return null;
  }
}

export function timeExtra(s: RowSpec): Timing | null {
  setBackend('native');
  return tidy(() => {
    const step = extraStepFor(s);
    return step ? timeIt(() => tidy(step), { warmup: 1, minRuns: 5, budgetMs: 1500 }) : null;
  });
}

export function timePeftjs(s: RowSpec): Timing {
  setBackend('native');
  return tidy(() => {
    const step = stepFor(s);
    return timeIt(() => tidy(step), { warmup: 1, minRuns: 5, budgetMs: 3000 });
  });
}

/** A LoRA row's time over base_fwd_bwd's at the same T and d, the two timed alternately (see timeRatio). */
export function loraOverBase(s: RowSpec): { ratio: number; pairs: number } {
  setBackend('native');
  return tidy(() => {
    const base = stepFor({ name: 'base_fwd_bwd', shape: { T: s.shape.T, d: s.shape.d } });
    const lora = stepFor(s);
    return timeRatio(() => tidy(base), () => tidy(lora));
  });
}
