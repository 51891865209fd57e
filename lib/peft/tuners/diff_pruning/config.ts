/**
 * DiffPruningConfig (peft_type 'DIFF_PRUNING'; HF peft has no diff pruning, so HF's layout with its own
 * type). Guo et al. 2021: the fine-tuned weight is W + z * delta, delta trained and z an L0-regularized
 * hard-concrete gate per entry (or one per tensor with `structured`), then projected to a target density.
 *
 * - targetModules: names / regex as the other methods; null, 'all' or 'all-linear': every Linear and
 *   Conv1D except the output heads (lm_head, classifier, score).
 * - targetDensity: the fraction of each delta kept by finalize() (magnitude projection, per tensor).
 * - l0Lambda: the weight of the expected-L0 penalty in the loss. Its gradient is added to log_alpha's
 *   gradient by the weight's own backward (diffPruneBackward), so the loss a trainer minimizes is the task
 *   loss plus l0Lambda * penalty without adding the penalty to the loss; the penalty's value is exposed
 *   (diffPruningPenalty) for logging.
 * - logAlphaInit: log_alpha's initial value (5: every gate starts open).
 * - gamma, zeta, beta: the hard-concrete stretch and temperature (DEFAULT_GATE: -1.5, 1.5, 1).
 * - alphaLearningRate: the learning rate meant for the log_alpha parameters, which usually want a much
 *   larger step than the deltas; diffPruningParamGroups(peft, { lr }) makes the two optimizer groups.
 */
import { DEFAULT_GATE } from '../../../ops/diff_prune/kernel';
import { PeftConfig, registerPeftConfig, type TaskType } from '../../config';

export interface DiffPruningConfigFields {
  targetModules?: string[] | string | null;
  excludeModules?: string[] | string | null;
  targetDensity?: number;
  l0Lambda?: number;
  logAlphaInit?: number;
  gamma?: number;
  zeta?: number;
  beta?: number;
  structured?: boolean;
  alphaLearningRate?: number;
  modulesToSave?: string[] | null;
  layersToTransform?: number[] | number | null;
  layersPattern?: string[] | string | null;
  taskType?: TaskType | null;
  inferenceMode?: boolean;
  baseModelNameOrPath?: string | null;
}

export class DiffPruningConfig extends PeftConfig {
  readonly peftType = 'DIFF_PRUNING' as const;
  targetModules: string[] | string | null = null;
  excludeModules: string[] | string | null = null;
  targetDensity = 0.005;
  l0Lambda = 1.25e-7;
  logAlphaInit = 5;
  gamma = DEFAULT_GATE.gamma;
  zeta = DEFAULT_GATE.zeta;
  beta = DEFAULT_GATE.beta;
  structured = false;
  alphaLearningRate = 0.1;
  modulesToSave: string[] | null = null;
  layersToTransform: number[] | number | null = null;
  layersPattern: string[] | string | null = null;

  constructor(fields: DiffPruningConfigFields = {}) {
    super();
    this.init(fields);
    this.validate();
  }

  override validate(): void {
    const num = (name: keyof this, ok: (v: number) => boolean, what: string) => {
      const v = this[name] as unknown;
      if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw new RangeError(`DiffPruningConfig: ${String(name)} must be ${what}, got ${JSON.stringify(v)}`);
    };
    num('targetDensity', (v) => v >= 0 && v <= 1, 'in [0, 1]');
    num('l0Lambda', (v) => v >= 0, 'a non-negative number');
    num('logAlphaInit', () => true, 'a finite number');
    num('gamma', (v) => v < 0, 'negative (the stretch below 0)');
    num('zeta', (v) => v > 1, 'greater than 1 (the stretch above 1)');
    num('beta', (v) => v > 0, 'positive');
    num('alphaLearningRate', (v) => v >= 0, 'a non-negative number');
    if (typeof this.structured !== 'boolean') throw new TypeError(`DiffPruningConfig: structured must be a boolean, got ${JSON.stringify(this.structured)}`);
  }

  /** The target selection with 'all' spelled as targets.ts knows it. */
  get selection(): { targetModules: string[] | string; excludeModules: string[] | string | null; layersToTransform: number[] | number | null; layersPattern: string[] | string | null } {
    const t = this.targetModules;
    return { targetModules: t === null || t === 'all' ? 'all-linear' : t, excludeModules: this.excludeModules, layersToTransform: this.layersToTransform, layersPattern: this.layersPattern };
  }
}

registerPeftConfig('DIFF_PRUNING', DiffPruningConfig);
