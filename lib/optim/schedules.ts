/**
 * Learning-rate schedules as multipliers of the step, with Hugging Face transformers' get_scheduler
 * semantics (optimization.py): a linear warmup from 0 over warmupSteps, then constant, a linear decay to
 * 0 at totalSteps, or a half cosine to 0 at totalSteps (numCycles 0.5; past totalSteps the cosine goes
 * on, as HF's does).
 */

export type ScheduleName = 'constant' | 'constant_with_warmup' | 'linear' | 'cosine';

export interface ScheduleOptions {
  /** Steps of linear warmup (default 0). */
  warmupSteps?: number;
  /** Total training steps: required by 'linear' and 'cosine'. */
  totalSteps?: number;
  /** Cosine waves over the decay (default 0.5: one half-cosine from 1 to 0). */
  numCycles?: number;
}

export type LrLambda = (step: number) => number;

function checkSteps(name: string, what: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
    throw new RangeError(`schedule '${name}': ${what} must be a non-negative integer, got ${String(v)}`);
}

/** The multiplier of the base lr at a step for a named schedule. */
export function scheduleLambda(name: ScheduleName, opts: ScheduleOptions = {}): LrLambda {
  const warmup = opts.warmupSteps ?? 0;
  checkSteps(name, 'warmupSteps', warmup);
  const ramp = (step: number) => step / Math.max(1, warmup);
  switch (name) {
    case 'constant':
      return () => 1;
    case 'constant_with_warmup':
      return (step) => (step < warmup ? ramp(step) : 1);
    case 'linear':
    case 'cosine': {
      if (opts.totalSteps === undefined) throw new RangeError(`schedule '${name}' requires totalSteps`);
      const total = opts.totalSteps;
      checkSteps(name, 'totalSteps', total);
      if (name === 'linear') return (step) => (step < warmup ? ramp(step) : Math.max(0, (total - step) / Math.max(1, total - warmup)));
      const cycles = opts.numCycles ?? 0.5;
      if (typeof cycles !== 'number' || !Number.isFinite(cycles) || cycles < 0)
        throw new RangeError(`schedule 'cosine': numCycles must be a finite number >= 0, got ${String(cycles)}`);
      return (step) => {
        if (step < warmup) return ramp(step);
        const progress = (step - warmup) / Math.max(1, total - warmup);
        return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * cycles * 2 * progress)));
      };
    }
    default:
      throw new RangeError(`unknown schedule '${String(name)}' (expected 'constant', 'constant_with_warmup', 'linear' or 'cosine')`);
  }
}
