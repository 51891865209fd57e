/**
 * Early stopping as HF's EarlyStoppingCallback: after each evaluation, a metric that does not improve on
 * the best so far (by more than threshold) counts one; `patience` such evaluations in a row stop training.
 */

export interface EarlyStoppingOptions {
  /** A key of the evaluation's metrics, e.g. 'eval_loss' or 'eval_accuracy'. */
  metric: string;
  patience: number;
  /** 'min' for losses, 'max' for accuracies. Default 'min'. */
  mode?: 'min' | 'max';
  /** The improvement that counts. Default 0. */
  threshold?: number;
}

export interface EarlyStoppingState {
  best: number | null;
  badEvals: number;
}

export class EarlyStopping {
  best: number | null = null;
  badEvals = 0;
  readonly metric: string;
  readonly patience: number;
  readonly mode: 'min' | 'max';
  readonly threshold: number;

  constructor(opts: EarlyStoppingOptions) {
    if (typeof opts.metric !== 'string' || opts.metric === '') throw new TypeError('earlyStopping: metric must be a metric name such as "eval_loss"');
    if (!Number.isInteger(opts.patience) || opts.patience < 1) throw new RangeError(`earlyStopping: patience must be a positive integer, got ${String(opts.patience)}`);
    const mode = opts.mode ?? 'min';
    if (mode !== 'min' && mode !== 'max') throw new RangeError(`earlyStopping: mode must be 'min' or 'max', got ${JSON.stringify(mode)}`);
    const threshold = opts.threshold ?? 0;
    if (!(threshold >= 0)) throw new RangeError(`earlyStopping: threshold must be >= 0, got ${String(threshold)}`);
    this.metric = opts.metric;
    this.patience = opts.patience;
    this.mode = mode;
    this.threshold = threshold;
  }

  /** Records an evaluation; true when training should stop. */
  update(metrics: Record<string, number>): boolean {
    const v = metrics[this.metric];
    if (typeof v !== 'number') throw new Error(`earlyStopping: the evaluation has no metric '${this.metric}' (it has ${Object.keys(metrics).join(', ')})`);
    const better = this.best === null || (this.mode === 'min' ? v < this.best - this.threshold : v > this.best + this.threshold);
    if (better) {
      this.best = v;
      this.badEvals = 0;
    } else this.badEvals++;
    return this.badEvals >= this.patience;
  }

  get state(): EarlyStoppingState {
    return { best: this.best, badEvals: this.badEvals };
  }

  set state(s: EarlyStoppingState) {
    this.best = s.best;
    this.badEvals = s.badEvals;
  }
}
