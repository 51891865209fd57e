/**
 * IA3Config: HF peft's IA3Config fields and defaults, camelCase (saved as target_modules,
 * feedforward_modules, fan_in_fan_out, modules_to_save, init_ia3_weights, ...). With targetModules null the
 * tuner fills targetModules and feedforwardModules from HF's per-architecture defaults (see defaults.ts).
 */
import { PeftConfig, registerPeftConfig, type TaskType } from '../../config';

export interface IA3ConfigFields {
  targetModules?: string[] | string | null;
  excludeModules?: string[] | string | null;
  /** Targets whose INPUT is scaled (l is [1, in]); the others' outputs are scaled (l is [out, 1]). */
  feedforwardModules?: string[] | string | null;
  fanInFanOut?: boolean;
  modulesToSave?: string[] | null;
  /** true: l starts at ones (the adapter is the identity); false: standard normal, as HF. */
  initIa3Weights?: boolean;
  layersToTransform?: number[] | number | null;
  layersPattern?: string[] | string | null;
  taskType?: TaskType | null;
  inferenceMode?: boolean;
  baseModelNameOrPath?: string | null;
}

export class IA3Config extends PeftConfig {
  readonly peftType = 'IA3' as const;
  targetModules: string[] | string | null = null;
  excludeModules: string[] | string | null = null;
  feedforwardModules: string[] | string | null = null;
  fanInFanOut = false;
  modulesToSave: string[] | null = null;
  initIa3Weights = true;
  layersToTransform: number[] | number | null = null;
  layersPattern: string[] | string | null = null;

  constructor(fields: IA3ConfigFields = {}) {
    super();
    this.init(fields);
    this.validate();
  }

  override validate(): void {
    const list = (v: unknown) => v === null || typeof v === 'string' || (Array.isArray(v) && v.every((s) => typeof s === 'string'));
    for (const f of ['targetModules', 'excludeModules', 'feedforwardModules'] as const)
      if (!list(this[f])) throw new TypeError(`IA3Config: ${f} must be a list of names, a regex string or null, got ${JSON.stringify(this[f])}`);
    // HF: "`feedforward_modules` should be a subset of `target_modules`" (when both are lists).
    if (Array.isArray(this.feedforwardModules) && Array.isArray(this.targetModules)) {
      const targets = new Set(this.targetModules);
      const stray = this.feedforwardModules.filter((m) => !targets.has(m));
      if (stray.length > 0) throw new RangeError(`IA3Config: feedforwardModules must be a subset of targetModules; ${JSON.stringify(stray)} are not targets`);
    }
    if (typeof this.initIa3Weights !== 'boolean') throw new TypeError(`IA3Config: initIa3Weights must be a boolean, got ${JSON.stringify(this.initIa3Weights)}`);
  }
}

registerPeftConfig('IA3', IA3Config);
