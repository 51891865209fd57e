/** Which modules a PEFT config adapts, decided as Hugging Face peft decides it (check_target_module_exists). */
import { QuantizedLinear } from '../quant/quantized_linear';
import { Conv1D } from '../nn/layers/conv1d';
import { Linear } from '../nn/layers/linear';
import type { Module } from '../nn/module';

export interface TargetSelection {
  /** Names (a module named so, or whose path ends in `.name`), a regex string (full match), or 'all-linear'. */
  targetModules?: string[] | string | null;
  excludeModules?: string[] | string | null;
  /** Only these block indices (the number after e.g. `layers.` in the path). */
  layersToTransform?: number[] | number | null;
  /** The name of the block list (layers, h, layer) when the index is to be read after it. */
  layersPattern?: string[] | string | null;
}

/** Output heads that 'all-linear' leaves alone (HF excludes the output embedding layer). */
const OUTPUT_HEADS = new Set(['lm_head', 'classifier', 'score']);

function fullMatch(pattern: string, key: string): boolean {
  return new RegExp(`^(?:${pattern})$`).test(key);
}

function listMatch(list: string[], key: string): boolean {
  return list.some((t) => key === t || key.endsWith(`.${t}`));
}

function layerIndexOf(key: string, pattern: string[] | string | null | undefined): number | null {
  const patterns = pattern === null || pattern === undefined || pattern.length === 0 ? null : Array.isArray(pattern) ? pattern : [pattern];
  if (patterns === null) {
    const m = /^.*\.[^.]*\.(\d+)\./.exec(key);
    return m ? Number(m[1]) : null;
  }
  for (const p of patterns) {
    const m = new RegExp(`^.*\\.${p}\\.(\\d+)\\.`).exec(key);
    if (m) return Number(m[1]);
  }
  return null;
}

/** Whether the module at `key` (its dotted path in the base model) is targeted. */
export function isTargeted(sel: TargetSelection, key: string, module?: Module): boolean {
  const exclude = sel.excludeModules;
  if (exclude !== null && exclude !== undefined) {
    if (typeof exclude === 'string' ? fullMatch(exclude, key) : listMatch(exclude, key)) return false;
  }
  const target = sel.targetModules;
  if (target === null || target === undefined) return false;
  if (target === 'all-linear') {
    const last = key.slice(key.lastIndexOf('.') + 1);
    return (module instanceof Linear || module instanceof Conv1D || module instanceof QuantizedLinear) && !OUTPUT_HEADS.has(last);
  }
  if (typeof target === 'string') return fullMatch(target, key);
  if (target.includes(key)) return true;
  if (!target.some((t) => key.endsWith(`.${t}`))) return false;
  const layers = sel.layersToTransform;
  if (layers === null || layers === undefined || (Array.isArray(layers) && layers.length === 0)) return true;
  const index = layerIndexOf(key, sel.layersPattern);
  if (index === null) return false;
  return typeof layers === 'number' ? index === layers : layers.includes(index);
}

/** The targeted modules of a model, with their paths; an error if there are none (as HF raises). */
export function findTargets(model: Module, sel: TargetSelection, accept: (m: Module) => boolean, op: string): [string, Module][] {
  const found = model.namedModules().filter(([key, m]) => key !== '' && isTargeted(sel, key, m));
  const usable = found.filter(([, m]) => accept(m));
  if (usable.length === 0) {
    const what = typeof sel.targetModules === 'string' ? `'${sel.targetModules}'` : JSON.stringify(sel.targetModules);
    const unsupported = found.length > 0 ? ` (matched ${found.map(([k, m]) => `${k}: ${m.constructor.name}`).slice(0, 5).join(', ')}, which ${op} cannot adapt)` : '';
    throw new Error(`${op}: target modules ${what} not found in the base model${unsupported}; module names look like ${model.namedModules().slice(1, 6).map(([k]) => k).join(', ')}`);
  }
  return usable;
}

/** HF's rank_pattern / alpha_pattern lookup: the first pattern p with key matching `(.*\.)?p$`. */
export function patternValue(pattern: Record<string, number> | null | undefined, key: string, fallback: number): number {
  if (!pattern) return fallback;
  for (const [p, v] of Object.entries(pattern)) if (new RegExp(`^(?:.*\\.)?(?:${p})$`).test(key)) return v;
  return fallback;
}
