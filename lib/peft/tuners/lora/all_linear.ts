/**
 * HF's 'all-linear' shorthand (_maybe_include_all_linear_layers): the last name of every Linear / Conv1D
 * module, less the output embedding (`lm_head`) or, for SEQ_CLS, the classification head. HF then writes
 * that list as the config's target_modules, so a saved config names the modules, not the shorthand.
 */
import { QuantizedLinear } from '../../../quant/quantized_linear';
import { Conv1D } from '../../../nn/layers/conv1d';
import { Linear } from '../../../nn/layers/linear';
import type { Module } from '../../../nn/module';
import type { TaskType } from '../../config';
import { isAdapterLayer } from '../../tuner';

const SEQ_CLS_HEAD_NAMES = ['score', 'classifier'];

export function allLinearNames(model: Module, taskType: TaskType | null): string[] {
  const names = new Set<string>();
  const inside: string[] = [];
  for (const [path, m] of model.namedModules()) {
    if (path === '' || inside.some((p) => path.startsWith(`${p}.`))) continue;
    // An adapter layer stands for the linear it wraps; its own A/B (and the wrapped base) are not targets.
    if (isAdapterLayer(m) || (m as { isModulesToSave?: boolean }).isModulesToSave) inside.push(path);
    const linear = (x: unknown) => x instanceof Linear || x instanceof Conv1D || x instanceof QuantizedLinear;
    if (linear(m) || (isAdapterLayer(m) && linear(m.base_layer)))
      names.add(path.slice(path.lastIndexOf('.') + 1));
  }
  const top = new Map(model.namedChildren());
  if (top.has('lm_head')) names.delete('lm_head');
  else if (taskType === 'SEQ_CLS') {
    const head = SEQ_CLS_HEAD_NAMES.find((n) => top.has(n));
    if (head) names.delete(head);
  }
  return [...names].sort();
}
