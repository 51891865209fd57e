/**
 * What the whole-model rows (train_step, lora_step) share: timing training steps, and running them in a
 * fresh node process so that the reported peak RSS (process.resourceUsage().maxRSS) is that training's own.
 */
import { spawnSync } from 'child_process';

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b), mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export interface StepTiming {
  /** Median ms of the timed steps. */
  ms: number;
  tokens_per_s: number;
  /** This process's peak RSS so far, MiB (maxRSS is KiB, as ru_maxrss on the torch side). */
  peak_rss_mb: number;
  /** The loss of every step, warm-up included. */
  losses: number[];
}

/** Runs `warmup` untimed steps, then times `steps`; `step` returns its loss. */
export function timeSteps(step: () => number, warmup: number, steps: number, tokensPerStep: number): StepTiming {
  const losses: number[] = [];
  for (let i = 0; i < warmup; i++) losses.push(step());
  const samples: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    losses.push(step());
    samples.push(performance.now() - t0);
    process.stderr.write('.');
  }
  const ms = median(samples);
  return { ms, tokens_per_s: tokensPerStep / (ms / 1e3), peak_rss_mb: process.resourceUsage().maxRSS / 1024, losses };
}

/** Runs `file` (a compiled bench module) with `--child SHAPE WARMUP STEPS` in a fresh node process; returns its JSON. */
export function runChild<T>(file: string, row: string, shape: object, warmup: number, steps: number): T {
  if (!file.endsWith('.js')) throw new Error(`${row}: the child process runs the compiled bench (${file} is not .js); run \`npm run build\` and \`npm run bench\``);
  const res = spawnSync(process.execPath, [file, '--child', JSON.stringify(shape), String(warmup), String(steps)],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 });
  if (res.status !== 0) throw new Error(`${row}: the child node process exited with ${res.status ?? res.signal}`);
  return JSON.parse(res.stdout) as T;
}

/** The child's side: reads `--child SHAPE [WARMUP] [STEPS]`, runs, prints the result as one JSON line. */
export function childMain<S>(usageShape: string, file: string, run: (shape: S, warmup: number, steps: number) => object): void {
  const [flag, shape, warmup, steps] = process.argv.slice(2);
  if (flag !== '--child' || shape === undefined) {
    console.error(`usage: node ${file} --child '${usageShape}' [warmup] [steps]`);
    process.exit(2);
  }
  process.stdout.write(JSON.stringify(run(JSON.parse(shape) as S, Number(warmup ?? 1), Number(steps ?? 2))) + '\n');
}
