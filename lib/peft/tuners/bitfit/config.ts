/**
 * BitFitConfig (peft_type 'BITFIT'; HF peft has no BitFit, so the layout is HF's with its own type): train
 * the bias terms only (Ben Zaken et al., 2021). targetModules null: every bias of the model (LayerNorm
 * biases included, as the paper); a list: the biases of the modules named so and of the modules under them
 * (['query', 'intermediate'] is the paper's b_q + b_m2 variant: `...attention.self.query.bias` and
 * `...intermediate.dense.bias`); a string: a regex that must fully match the bias's module path. A head
 * that must train whole goes in modulesToSave, as for the other methods.
 */
import { PeftConfig, registerPeftConfig, type TaskType } from '../../config';

export interface BitFitConfigFields {
  targetModules?: string[] | string | null;
  modulesToSave?: string[] | null;
  taskType?: TaskType | null;
  inferenceMode?: boolean;
  baseModelNameOrPath?: string | null;
}

export class BitFitConfig extends PeftConfig {
  readonly peftType = 'BITFIT' as const;
  targetModules: string[] | string | null = null;
  modulesToSave: string[] | null = null;

  constructor(fields: BitFitConfigFields = {}) {
    super();
    this.init(fields);
    this.validate();
  }

  override validate(): void {
    const t = this.targetModules;
    if (!(t === null || typeof t === 'string' || (Array.isArray(t) && t.every((s) => typeof s === 'string' && s !== ''))))
      throw new TypeError(`BitFitConfig: targetModules must be null (every bias), a list of module names or a regex string, got ${JSON.stringify(t)}`);
  }

  /** Whether the bias of the module at modulePath trains. */
  selects(modulePath: string): boolean {
    const t = this.targetModules;
    if (t === null) return true;
    if (typeof t === 'string') return new RegExp(`^(?:${t})$`).test(modulePath);
    return t.some((n) => modulePath === n || modulePath.endsWith(`.${n}`) || modulePath.startsWith(`${n}.`) || modulePath.includes(`.${n}.`));
  }
}

registerPeftConfig('BITFIT', BitFitConfig);
