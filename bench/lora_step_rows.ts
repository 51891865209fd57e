/**
 * The real-size LoRA rows (issue 16): lora_step_1b and lora_step_7b time one LoRA step of a Llama with
 * TinyLlama-1.1B's and Llama-2-7B's shapes in fresh processes (bench/lora_step.ts, bench/torch_lora_step.py);
 * lora_quality trains stories260K's adapters on float32, bf16 and nf4 bases and compares held-out losses.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { packageRoot } from '../lib/backend/native/addon';
import type { RowSpec } from './rows';
import { type LoraStepShape, type LoraStepTiming, loraStepInChild } from './lora_step';
import { FAMILIES } from './family_model';
import { loraQuality } from './lora_quality';

export const LORA_STEP_WARMUP = 1;
export const LORA_STEP_STEPS = 3;  // the median of 3 rides out one burst of a neighbour's load

const TINYLLAMA = { L: 22, d: 2048, F: 5632, H: 32, KV: 4, V: 32000 };
const LLAMA2_7B = { L: 32, d: 4096, F: 11008, H: 32, KV: 32, V: 32000 };

export function loraStepRows(): RowSpec[] {
  const rows: RowSpec[] = [];
  // base: the frozen weights' bits; compute: what they multiply in (bf16 and nf4 bases in bf16, as QLoRA runs).
  for (const [base, compute] of [[32, 32], [16, 16], [4, 16]])
    for (const ckpt of [0, 1]) rows.push({ name: 'lora_step_1b', shape: { ...TINYLLAMA, T: 512, B: 1, r: 16, base, compute, ckpt } });
  rows.push({ name: 'lora_step_7b', shape: { ...LLAMA2_7B, T: 256, B: 1, r: 16, base: 4, compute: 16, ckpt: 1 } });
  rows.push({ name: 'lora_quality', shape: { base: 32 } }, { name: 'lora_quality', shape: { base: 16 } }, { name: 'lora_quality', shape: { base: 4 } });
  // Issue 20: the same-size model of each family (6 layers, d 512), LoRA r=16 on every linear layer, float32.
  for (const family of FAMILIES)
    rows.push({ name: 'family_step', family, shape: { L: 6, d: 512, F: 1536, H: 8, KV: 4, V: 8192, T: 256, B: 8, r: 16, base: 32, compute: 32, ckpt: 0 } });
  return rows;
}

export const isLoraStepRow = (s: RowSpec): boolean =>
  s.name === 'lora_step_1b' || s.name === 'lora_step_7b' || s.name === 'lora_quality' || s.name === 'family_step';

/**
 * Nominal flops of a step: forward and input gradients of every layer (the frozen base has no weight
 * gradient), plus the adapters' weight gradients.
 */
export function loraStepFlops(sh: Record<string, number>): number {
  const { L, d, F, H, KV, V, T, B, r } = sh;
  const kvw = (d / H) * KV;
  const linear = L * (2 * d * d + 2 * d * kvw + 3 * d * F);  // base weights per token
  // A [r, in] and B [out, r] of q (d, d), k and v (d, kvw), o (d, d), gate and up (d, F), down (F, d).
  const lora = L * r * (9 * d + 2 * kvw + 3 * F);
  const attention = L * 2 * T * d;                         // QK^T and PV, nominal (no causal halving)
  const forward = 2 * B * T * (linear + lora + attention + d * V);
  return 2 * forward + 2 * B * T * lora;
}

interface TorchLoraResult extends LoraStepTiming {
  torch: string;
}

/** PyTorch's step in a fresh python process, or why there is none. */
function torchLoraStep(sh: Record<string, number | string>, python = process.env.PEFTJS_PYTHON ?? '/usr/bin/python3'): { result: TorchLoraResult | null; absent: string | null } {
  if (!fs.existsSync(python)) return { result: null, absent: `${python} not found (apt-get install python3-torch libopenblas0-pthread)` };
  const res = spawnSync(python, [path.join(packageRoot(), 'bench', 'torch_lora_step.py'), JSON.stringify(sh), String(LORA_STEP_WARMUP), String(LORA_STEP_STEPS)],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 });
  if (res.status !== 0) return { result: null, absent: `python exited with ${res.status ?? res.signal}` };
  return { result: JSON.parse(res.stdout) as TorchLoraResult, absent: null };
}

export interface LoraRowResult {
  spec: RowSpec;
  ms: number | null;
  tokens_per_s: number | null;
  peak_rss_mb: number | null;
  torch_ms: number | null;
  torch_tokens_per_s: number | null;
  torch_peak_rss_mb: number | null;
  /** nf4 / bf16 rows: tokens/s over the bf16 row's with the same checkpointing. */
  vs_bf16?: number;
  /** lora_quality: held-out loss after training, and its relative distance from the float32 base's. */
  held_out_loss?: number;
  vs_float32_loss?: number;
  losses?: number[];
  torch_losses?: number[] | null;
  notes: string[];
}

/** Runs the rows: peftjs for each, PyTorch once per (compute, checkpointing, family), since the base storage is ours only. */
export function runLoraStepRows(specs: RowSpec[], torch: boolean): LoraRowResult[] {
  const torchCache = new Map<string, ReturnType<typeof torchLoraStep>>();
  const out: LoraRowResult[] = [];
  for (const spec of specs) {
    if (spec.name === 'lora_quality') {
      out.push(qualityRow(spec, out));
      continue;
    }
    const sh = spec.shape, withFamily = spec.family ? { ...sh, family: spec.family } : sh;
    const mine = loraStepInChild(withFamily as unknown as LoraStepShape, LORA_STEP_WARMUP, LORA_STEP_STEPS);
    const notes = [`median of ${LORA_STEP_STEPS} steps after ${LORA_STEP_WARMUP} warm-up, fresh process; model built in ${mine.build_s.toFixed(0)} s`];
    let t: TorchLoraResult | null = null;
    if (spec.name === 'lora_step_7b') {
      notes.push('torch not run: its bf16 weights alone are 13.5 GB (float32 27 GB), past what this 24 GB machine can train beside us');
    } else if (torch) {
      const key = `${sh.compute}/${sh.ckpt}/${spec.family ?? 'llama'}/${spec.name}`;
      if (!torchCache.has(key)) torchCache.set(key, torchLoraStep({ ...withFamily, base: 32 }));
      const got = torchCache.get(key)!;
      t = got.result;
      if (got.absent) notes.push(`torch: ${got.absent}`);
      else notes.push(`torch: float32 weights, ${sh.compute === 16 ? 'torch.autocast bf16' : 'float32'}${sh.ckpt ? ', torch.utils.checkpoint per block' : ''}`);
    }
    out.push({
      spec, ms: mine.ms, tokens_per_s: mine.tokens_per_s, peak_rss_mb: mine.peak_rss_mb,
      torch_ms: t?.ms ?? null, torch_tokens_per_s: t?.tokens_per_s ?? null, torch_peak_rss_mb: t?.peak_rss_mb ?? null,
      losses: mine.losses, torch_losses: t?.losses ?? null, notes,
    });
    const bf16 = out.find((o) => o.spec.name === spec.name && o.spec.shape.base === 16 && o.spec.shape.ckpt === sh.ckpt);
    if (sh.base === 4 && bf16?.tokens_per_s) out[out.length - 1].vs_bf16 = mine.tokens_per_s / bf16.tokens_per_s;
    process.stderr.write('+\n');
  }
  return out;
}

function qualityRow(spec: RowSpec, done: LoraRowResult[]): LoraRowResult {
  const none = { ms: null, tokens_per_s: null, peak_rss_mb: null, torch_ms: null, torch_tokens_per_s: null, torch_peak_rss_mb: null };
  const q = loraQuality(spec.shape.base);
  if ('absent' in q) return { spec, ...none, notes: [q.absent] };
  const f32 = done.find((o) => o.spec.name === 'lora_quality' && o.spec.shape.base === 32 && o.held_out_loss !== undefined);
  return {
    spec, ...none, ms: q.ms, held_out_loss: q.heldOutLoss, losses: q.losses,
    vs_float32_loss: f32 ? q.heldOutLoss / f32.held_out_loss! - 1 : 0,
    notes: [`stories260K, LoRA r=8 on every linear layer, ${q.steps} AdamW steps on a fixed text; held-out loss on another ` +
      `(${q.heldOutBefore.toFixed(3)} before training, ${q.heldOutLoss.toFixed(3)} after)`],
  };
}
