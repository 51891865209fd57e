/**
 * The plain-data form of an optimizer's state, as torch's optimizer.state_dict(): per-parameter buffers
 * (copied to host Float32Arrays) and update counts keyed by the parameter's index over all groups in
 * order, and each group's hyperparameters with the indices of its parameters.
 */

export interface ParamStateDict {
  /** Updates applied to this parameter so far. */
  step: number;
  /** The parameter's shape when saved (checked on load). */
  shape: number[];
  /** The optimizer's per-parameter buffers by name (AdamW: expAvg, expAvgSq; SGD: momentumBuffer). */
  buffers: Record<string, Float32Array>;
}

export interface ParamGroupStateDict {
  /** Indices of the group's parameters in the flat order of all groups. */
  params: number[];
  [hyperparameter: string]: unknown;
}

export interface OptimizerStateDict {
  /** Only parameters that have been updated at least once have state. */
  state: Record<number, ParamStateDict>;
  paramGroups: ParamGroupStateDict[];
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
