/**
 * The benchmark rows: what each one runs on peftjs, its nominal flops and the fewest bytes its extra
 * (non-GEMM) work must move. Shapes follow the PEFT issue: x [T, d], W [d, d], r the LoRA rank. The
 * train_step row (issue 4) is a whole model: L layers, H heads, width d, vocabulary V, sequence T, batch B.
 */
import type { Family } from './family_model';
import { rowDftCost, rowDftPlan } from '../lib/peft/tuners/fourierft/fast_dft';
import { ddpStepRows } from './ddp_step';
import { loraStepFlops, loraStepRows } from './lora_step_rows';
import { type TfjsRowName, tfjsRowFlops, tfjsRows } from './tfjs_rows';

export type RowName = 'gemm' | 'gemm_wq' | 'base_fwd_bwd' | 'lora_fwd_bwd' | 'ia3_fwd_bwd' | 'bitfit_fwd_bwd' | 'diffprune_fwd_bwd' | 'train_step'
  | 'lora_step_1b' | 'lora_step_7b' | 'lora_quality' | 'family_step' | 'ddp_step' | 'fourierft_delta' | TfjsRowName;

export interface RowSpec {
  name: RowName;
  shape: Record<string, number>;
  /** family_step: the model family (bench/family_model.ts). */
  family?: Family;
}

export const ROW_NAMES: RowName[] = ['gemm', 'gemm_wq', 'base_fwd_bwd', 'lora_fwd_bwd', 'ia3_fwd_bwd', 'bitfit_fwd_bwd', 'diffprune_fwd_bwd', 'train_step',
  'lora_step_1b', 'lora_step_7b', 'lora_quality', 'family_step', 'ddp_step', 'fourierft_delta', 'tfjs_matmul', 'tfjs_dense_fit', 'tfjs_conv_fit', 'tfjs_transformer'];

/** Rows that train a whole model in a child process (bench/train_step.ts), not one kernel in-process. */
export const isTrainRow = (s: RowSpec): boolean => s.name === 'train_step';

export function defaultRows(): RowSpec[] {
  const rows: RowSpec[] = [];
  for (const [M, N, K] of [[512, 768, 768], [2048, 768, 768], [2048, 3072, 768], [1024, 4096, 4096]])
    rows.push({ name: 'gemm', shape: { M, N, K } });
  // y = x W^T with W stored in `bits` (32 float32, 16 bfloat16, 8 int8, 4 nf4), multiplied in `compute`
  // (32: float32; 16: bfloat16 operands, float32 sums: vdpbf16ps on an AVX512_BF16 CPU).
  for (const [M, N, K] of [[2048, 768, 768], [2048, 4096, 4096]]) {
    for (const bits of [32, 16, 8, 4]) rows.push({ name: 'gemm_wq', shape: { M, N, K, bits, compute: 32 } });
    for (const bits of [16, 8, 4]) rows.push({ name: 'gemm_wq', shape: { M, N, K, bits, compute: 16 } });
  }
  for (const d of [768, 4096]) {
    rows.push({ name: 'base_fwd_bwd', shape: { T: 2048, d } });
    for (const r of [8, 16]) rows.push({ name: 'lora_fwd_bwd', shape: { T: 2048, d, r } });
    rows.push({ name: 'ia3_fwd_bwd', shape: { T: 2048, d } });
    rows.push({ name: 'bitfit_fwd_bwd', shape: { T: 2048, d } });
    rows.push({ name: 'diffprune_fwd_bwd', shape: { T: 2048, d } });
  }
  // FourierFT's delta from the spectrum and the spectrum's gradient from d delta, on GPT-2 small's mlp.c_proj
  // (HF's default target) and attn.c_attn, with HF's default 1000 frequencies.
  for (const [out, inF] of [[768, 3072], [2304, 768]]) rows.push({ name: 'fourierft_delta', shape: { out, in: inF, F: 1000 } });
  rows.push({ name: 'train_step', shape: { L: 6, H: 8, d: 512, V: 8192, T: 256, B: 8 } });
  rows.push(...loraStepRows());
  rows.push(...ddpStepRows());
  rows.push(...tfjsRows());
  return rows;
}

export function shapeLabel(s: RowSpec): string {
  const dims = Object.entries(s.shape).map(([k, v]) => `${k}=${v}`).join(' ');
  return s.family ? `${s.family} ${dims}` : dims;
}

/** Nominal flops: the GEMMs' 2mnk terms (LoRA's rank-r products included). */
export function rowFlops(s: RowSpec): number {
  const { M, N, K, T, d, r } = s.shape;
  switch (s.name) {
    case 'gemm':
    case 'gemm_wq': return 2 * M * N * K;
    case 'base_fwd_bwd':
    case 'ia3_fwd_bwd':
    case 'bitfit_fwd_bwd': return 4 * T * d * d;
    // fwd: x W^T, u = x A^T, u B^T; bwd: dy W, g = dy B, dB = dy^T u, dA = g^T x, g A
    case 'lora_fwd_bwd': return 4 * T * d * d + 2 * T * r * (4 * d + 4 * d) - 2 * T * r * d;
    // fwd x W'^T, bwd dx = dy W' and dW' = dy^T x
    case 'diffprune_fwd_bwd': return 6 * T * d * d;
    case 'lora_step_1b':
    case 'lora_step_7b':
    case 'family_step': return loraStepFlops(s.shape);
    case 'lora_quality': return 0;
    // the transform's GEMMs, forward (complex in, real out) and backward (real in, complex out)
    case 'fourierft_delta': {
      const plan = rowDftPlan(s.shape.out);
      return 2 * (rowDftCost(plan, s.shape.in, true, false) + rowDftCost(plan, s.shape.in, false, true));
    }
    case 'tfjs_matmul':
    case 'tfjs_dense_fit':
    case 'tfjs_conv_fit':
    case 'tfjs_transformer': return tfjsRowFlops(s);
    case 'ddp_step': {
      // train_step's count for every rank's batch; LoRA adds its products and skips the base weights' gradients.
      // A and B of c_attn (d -> 3d), attn c_proj (d -> d), c_fc (d -> 4d), mlp c_proj (4d -> d): 16 d r per token and layer.
      const { L, V, B, r, ranks } = s.shape, tokens = ranks * B * T, lora = 16 * d * r;
      const forward = 2 * tokens * (L * (12 * d * d + 2 * T * d + lora) + d * V);
      return r > 0 ? 2 * forward + 2 * tokens * L * lora : 3 * forward;
    }
    case 'train_step': {
      // Per token and layer: qkv 3d^2, out d^2, MLP 8d^2 multiply-adds; QK^T and PV over all T keys
      // (nominal: causal halves it); the tied LM head d V. Backward is twice the forward.
      const { L, V, B } = s.shape, tokens = B * T;
      const forward = 2 * tokens * (L * (12 * d * d + 2 * T * d) + d * V);
      return 3 * forward;
    }
  }
}

/**
 * The fewest bytes the work beyond the GEMMs must move (ia3, bitfit and diffprune rows; see
 * extraStepFor in peftjs_rows.ts for what is timed). IA3's output scaling itself is the GEMM's epilogue.
 */
export function extraBytes(s: RowSpec): number | null {
  const { T, d } = s.shape;
  switch (s.name) {
    // dl = colsum(dy * y_pre): reads dy and y_pre
    case 'ia3_fwd_bwd': return 4 * 2 * T * d;
    // db = colsum(dy): reads dy once
    case 'bitfit_fwd_bwd': return 4 * T * d;
    // fwd: read W, delta, log_alpha, write W', z; bwd: read dW', delta, log_alpha, write dDelta, dLogAlpha
    case 'diffprune_fwd_bwd': return 4 * 10 * d * d;
    default: return null;
  }
}
