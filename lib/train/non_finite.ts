/**
 * What the Trainer does about NaN and infinity: the error that stops a run at a non-finite loss (or gradient
 * norm), and the check that keeps a checkpoint from being written over with non-finite parameters.
 */
import type { Tensor } from '../tensor/tensor';

/** NaN, Inf or -Inf, as PyTorch prints them. */
function formatNonFinite(v: number): string {
  return Number.isNaN(v) ? 'NaN' : v > 0 ? 'Inf' : '-Inf';
}

/**
 * Training stopped at a step whose loss or gradient norm is NaN or infinite. `lastFiniteStep` is the last
 * step that trained with a finite loss and gradient norm (a resumed run: at least its checkpoint's step),
 * null when there was none; a checkpoint at or before it is a safe place to resume from.
 */
export class NonFiniteLossError extends Error {
  /** "loss is NaN at step 7 (the last finite step was 6)": the facts, without the advice. */
  readonly headline: string;

  constructor(readonly step: number, readonly quantity: 'loss' | 'gradient norm', readonly value: number, readonly lastFiniteStep: number | null) {
    const headline = `${quantity} is ${formatNonFinite(value)} at step ${step} (${lastFiniteStep === null ? 'no earlier step was finite' : `the last finite step was ${lastFiniteStep}`})`;
    super(`Trainer: ${headline}. Try a lower learning rate (lr), gradient clipping (maxGradNorm, e.g. 1.0), checking the data for bad values, ` +
      'or skipNonFiniteSteps: true to skip such steps');
    this.name = 'NonFiniteLossError';
    this.headline = headline;
  }
}

/**
 * The name of the first of `named` holding a NaN or an infinity, or null when all are finite. Reads every
 * value to the host: exact (a sum of squares would also flag large finite weights), and no dearer than the
 * checkpoint write it guards, which reads them all too.
 */
export function firstNonFiniteParameter(named: Iterable<[string, Tensor]>): string | null {
  for (const [name, t] of named) {
    const v = t.toFloat32Array();
    for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i])) return name;
  }
  return null;
}
