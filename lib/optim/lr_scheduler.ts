/**
 * LRScheduler: torch's LambdaLR. Each group's lr is its base lr (the lr when the scheduler was made)
 * times lambda(step); making the scheduler applies step 0, and each step() advances one step, so call it
 * after optimizer.step() as in torch and HF's Trainer.
 */
import type { Optimizer } from './optimizer';
import { type LrLambda, scheduleLambda, type ScheduleName, type ScheduleOptions } from './schedules';

export interface LRSchedulerState {
  /** The step the current lrs are for (torch's last_epoch). */
  lastStep: number;
  baseLrs: number[];
}

export class LRScheduler {
  private readonly lambdas: LrLambda[];
  private baseLrs: number[];
  private lastStep = -1;
  private lastLr: number[] = [];

  /** lrLambda: one for every group, or one per group. */
  constructor(readonly optimizer: Optimizer<{ lr: number }>, lrLambda: LrLambda | LrLambda[]) {
    const groups = optimizer.paramGroups;
    if (Array.isArray(lrLambda) && lrLambda.length !== groups.length)
      throw new RangeError(`LRScheduler: got ${lrLambda.length} lambdas for ${groups.length} param groups`);
    this.lambdas = Array.isArray(lrLambda) ? [...lrLambda] : groups.map(() => lrLambda);
    if (!this.lambdas.every((f) => typeof f === 'function')) throw new TypeError('LRScheduler: lrLambda must be a function or one per group');
    this.baseLrs = groups.map((g) => g.lr);
    this.step();
  }

  /** Advances one step and sets every group's lr. */
  step(): void {
    this.lastStep++;
    this.apply();
  }

  /** The lrs the last step() set, one per group. */
  getLastLr(): number[] {
    return [...this.lastLr];
  }

  stateDict(): LRSchedulerState {
    return { lastStep: this.lastStep, baseLrs: [...this.baseLrs] };
  }

  /** Restores the step and base lrs, and sets the groups' lrs for that step (so load order does not matter). */
  loadStateDict(s: LRSchedulerState): void {
    const n = this.optimizer.paramGroups.length;
    if (typeof s !== 'object' || s === null || !Number.isInteger(s.lastStep) || s.lastStep < -1)
      throw new RangeError(`LRScheduler.loadStateDict: lastStep must be an integer >= -1, got ${String(s?.lastStep)}`);
    if (!Array.isArray(s.baseLrs) || s.baseLrs.length !== n || !s.baseLrs.every((x) => typeof x === 'number' && Number.isFinite(x) && x >= 0))
      throw new RangeError(`LRScheduler.loadStateDict: baseLrs must be ${n} finite numbers >= 0 (one per param group), got ${JSON.stringify(s.baseLrs)}`);
    this.lastStep = s.lastStep;
    this.baseLrs = [...s.baseLrs];
    this.apply();
  }

  private apply(): void {
    this.lastLr = this.baseLrs.map((base, i) => base * this.lambdas[i](this.lastStep));
    this.optimizer.paramGroups.forEach((g, i) => {
      g.lr = this.lastLr[i];
    });
  }
}

/** HF's get_scheduler: a named schedule over an optimizer's current lrs. */
export function getScheduler(name: ScheduleName, optimizer: Optimizer<{ lr: number }>, opts: ScheduleOptions = {}): LRScheduler {
  return new LRScheduler(optimizer, scheduleLambda(name, opts));
}
