/** Runs bench/torch_baseline.py (Debian's python3-torch) on the same rows, in the same run. */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { packageRoot } from '../lib/backend/native/addon';
import type { RowSpec } from './rows';

export interface TorchResult {
  info: { torch: string; threads: number; blas: string } | null;
  ms: (number | null)[];
  absent: string | null;
}

export function runTorch(rows: RowSpec[], python = process.env.PEFTJS_PYTHON ?? '/usr/bin/python3'): TorchResult {
  const script = path.join(packageRoot(), 'bench', 'torch_baseline.py');
  const none = (why: string): TorchResult => ({ info: null, ms: rows.map(() => null), absent: why });
  if (!fs.existsSync(python)) return none(`${python} not found (apt-get install python3-torch libopenblas0-pthread)`);
  const res = spawnSync(python, [script], { input: JSON.stringify(rows), encoding: 'utf8', stdio: ['pipe', 'pipe', 'inherit'], maxBuffer: 1 << 24 });
  if (res.status !== 0) return none(`python exited with ${res.status ?? res.signal} (is python3-torch installed?)`);
  const out = JSON.parse(res.stdout) as { torch: string; threads: number; blas: string; rows: { ms: number }[] };
  return { info: { torch: out.torch, threads: out.threads, blas: out.blas }, ms: out.rows.map((r) => r.ms), absent: null };
}

export interface TorchTrainResult {
  torch: string;
  threads: number;
  ms: number;
  tokens_per_s: number;
  peak_rss_mb: number;
  losses: number[];
}

/**
 * Runs bench/torch_train_step.py for one train_step row in its own python process, so that its peak
 * RSS is the training's own. Returns the result, or why there is none.
 */
export function runTorchTrainStep(shape: Record<string, number>, warmup: number, steps: number,
  python = process.env.PEFTJS_PYTHON ?? '/usr/bin/python3'): { result: TorchTrainResult | null; absent: string | null } {
  const script = path.join(packageRoot(), 'bench', 'torch_train_step.py');
  if (!fs.existsSync(python)) return { result: null, absent: `${python} not found (apt-get install python3-torch libopenblas0-pthread)` };
  const res = spawnSync(python, [script, JSON.stringify(shape), String(warmup), String(steps)],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 });
  if (res.status !== 0) return { result: null, absent: `python exited with ${res.status ?? res.signal} (is python3-torch installed?)` };
  return { result: JSON.parse(res.stdout) as TorchTrainResult, absent: null };
}
