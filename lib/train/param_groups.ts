/**
 * The optimizer's parameter groups: every trainable parameter in one default group, except those a PEFT
 * method (PeftConfig.optimizerParamGroups, e.g. diff pruning's log_alpha with alphaLearningRate) or the
 * caller asks to put apart with their own lr or weight decay. Groups are built in a fixed order (extra
 * groups in the order given, default group first), so a resumed run's optimizer state lines up.
 */
import type { Module } from '../nn/module';
import type { PeftParamGroup } from '../peft/config';
import { PeftModel } from '../peft/peft_model';
import type { Tensor } from '../tensor/tensor';

export interface BuiltParamGroup {
  name: string;
  params: Tensor[];
  lr?: number;
  weightDecay?: number;
}

export function buildParamGroups(model: Module, extra: PeftParamGroup[] = []): BuiltParamGroup[] {
  const fromConfigs = model instanceof PeftModel ? [...model.peftConfig.values()].flatMap((c) => c.optimizerParamGroups()) : [];
  const wanted = [...fromConfigs, ...extra];
  const groups: BuiltParamGroup[] = [{ name: 'default', params: [] }, ...wanted.map((g) => ({ name: g.name, params: [] as Tensor[], lr: g.lr, weightDecay: g.weightDecay }))];
  for (const [path, t] of model.namedParameters()) {
    if (!t.requiresGrad) continue;
    const k = wanted.findIndex((g) => g.match(path));
    groups[k + 1].params.push(t);
  }
  if (groups.every((g) => g.params.length === 0)) throw new Error('Trainer: the model has no trainable parameters');
  // An empty group is dropped (the optimizer refuses none); which groups exist depends only on the model.
  return groups.filter((g) => g.params.length > 0);
}
