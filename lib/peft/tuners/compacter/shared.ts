/**
 * The shared "slow" PHM factors of Compacter: one rule A [n, n, n] per adapter name, used by every PHM layer
 * (down and up projections of every adapted block) of the model. They live on the adapted model itself as
 * `compacter_shared.<name>.phm_rule`, so the PeftModel's path is
 * `base_model.model.compacter_shared.<name>.phm_rule` and the saved key (name stripped, as HF strips it)
 * is `base_model.model.compacter_shared.phm_rule`. The PHM layers only reference the tensor.
 */
import { Module, parameter } from '../../../nn/module';
import { noGrad } from '../../../tensor/autograd';
import { rand, randn } from '../../../tensor/creation';
import type { Tensor } from '../../../tensor/tensor';
import { AdapterDict } from '../adapter_layer';
import type { PhmRuleInit } from './config';

export const SHARED_MODULE = 'compacter_shared';

export class PhmRule extends Module {
  readonly phm_rule: Tensor;

  constructor(n: number, init: PhmRuleInit, initRange: number) {
    super();
    const t = noGrad(() => (init === 'uniform' ? rand([n, n, n], { low: -1, high: 1 }) : randn([n, n, n], { std: initRange })));
    this.phm_rule = this.registerParameter('phm_rule', parameter(t))!;
  }
}

/** The model's `compacter_shared` dict, created on first use. */
export function sharedRules(model: Module, create: boolean): AdapterDict<PhmRule> | null {
  const found = model.namedChildren().find(([n]) => n === SHARED_MODULE);
  if (found) return found[1] as AdapterDict<PhmRule>;
  if (!create) return null;
  return model.registerModule(SHARED_MODULE, new AdapterDict<PhmRule>());
}

/** Drops adapter `name`'s rule (and the dict when it is empty, leaving the model as it was). */
export function deleteSharedRule(model: Module, name: string): void {
  const dict = sharedRules(model, false);
  if (!dict || !dict.has(name)) return;
  dict.get(name).dispose();
  dict.registerModule(name, null);
  if (dict.names().length === 0) model.registerModule(SHARED_MODULE, null);
}
