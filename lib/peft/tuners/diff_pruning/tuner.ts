/**
 * The diff-pruning tuner: wraps every targeted Linear/Conv1D in a DiffPrunedLinear. Saving is SPARSE: for
 * each adapted layer at path P (keys relative to the base model, written with `base_model.model.` in front):
 *   P.diff_delta.indices  I64 [nnz]   flat row-major indices into the base weight's own layout
 *                                      ([out, in] for Linear, [in, out] for GPT-2's Conv1D), increasing
 *   P.diff_delta.values   F32 [nnz]   the effective delta at those indices (z * delta with the eval gates,
 *                                      or mask * delta once finalized)
 *   P.diff_delta.shape    I64 [rank]  the base weight's shape (checked on load)
 * plus the modulesToSave copies under HF's keys. log_alpha is not saved: a loaded adapter is finalized
 * (its gates fixed to the saved support), which reproduces the saved model's eval outputs exactly.
 */
import type { RawTensor } from '../../../io/safetensors';
import { Conv1D } from '../../../nn/layers/conv1d';
import { Linear } from '../../../nn/layers/linear';
import { copyInto, type Module } from '../../../nn/module';
import type { Tensor } from '../../../tensor/tensor';
import type { PeftModel } from '../../peft_model';
import { findTargets } from '../../targets';
import { type AdapterTensor, registerTuner, type Tuner } from '../../tuner';
import { DiffPruningConfig } from './config';
import { DiffPrunedLinear } from './layer';

export const SPARSE_SUFFIXES = { indices: 'diff_delta.indices', values: 'diff_delta.values', shape: 'diff_delta.shape' } as const;

function layersOf(peft: PeftModel, name: string): [string, DiffPrunedLinear][] {
  return peft.model.namedModules().filter((e): e is [string, DiffPrunedLinear] => e[1] instanceof DiffPrunedLinear && e[1].specs.has(name));
}

function configOf(peft: PeftModel, name: string, op: string): DiffPruningConfig {
  const c = peft.peftConfig.get(name);
  if (!(c instanceof DiffPruningConfig)) throw new Error(`${op}: '${name}' is not a diff-pruning adapter of this model`);
  return c;
}

/** The modulesToSave copies under HF's keys (`classifier.weight`). */
function modulesToSaveTensors(peft: PeftModel, name: string): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [p, t] of peft.adapterParameters(name)) {
    const marker = `.modules_to_save.${name}.`;
    if (p.includes(marker)) out.set(p.replace(marker, '.'), t);
  }
  return out;
}

const diffPruningTuner: Tuner<DiffPruningConfig> = {
  peftType: 'DIFF_PRUNING',
  adapterPrefixes: ['diff_delta', 'diff_log_alpha'],

  inject(peft: PeftModel, config: DiffPruningConfig, name: string): void {
    const model = peft.model;
    const accept = (m: Module) => m instanceof Linear || m instanceof Conv1D || m instanceof DiffPrunedLinear;
    const spec = { lambda: config.l0Lambda, gate: { gamma: config.gamma, zeta: config.zeta, beta: config.beta },
      density: config.targetDensity, structured: config.structured, logAlphaInit: config.logAlphaInit };
    for (const [path, m] of findTargets(model, config.selection, accept, 'DiffPruning')) {
      const layer = m instanceof DiffPrunedLinear ? m : new DiffPrunedLinear(m as Linear | Conv1D);
      if (layer !== m) model.setSubmodule(path, layer);
      layer.addAdapter(name, spec);
    }
  },

  stateDict(peft: PeftModel, name: string): Map<string, AdapterTensor> {
    const out = new Map<string, AdapterTensor>();
    for (const [path, layer] of layersOf(peft, name)) {
      const eff = layer.effectiveDelta(name);
      const data = eff.toFloat32Array();
      const shape = [...eff.shape];
      eff.dispose();
      let nnz = 0;
      for (const v of data) if (v !== 0) nnz++;
      const indices = new BigInt64Array(nnz), values = new Float32Array(nnz);
      for (let i = 0, j = 0; i < data.length; i++) if (data[i] !== 0) { indices[j] = BigInt(i); values[j++] = data[i]; }
      out.set(`${path}.${SPARSE_SUFFIXES.indices}`, { dtype: 'I64', shape: [nnz], data: indices });
      out.set(`${path}.${SPARSE_SUFFIXES.values}`, { dtype: 'F32', shape: [nnz], data: values });
      out.set(`${path}.${SPARSE_SUFFIXES.shape}`, { dtype: 'I64', shape: [shape.length], data: BigInt64Array.from(shape, (d) => BigInt(d)) });
    }
    for (const [k, t] of modulesToSaveTensors(peft, name)) out.set(k, t);
    return out;
  },

  loadStateDict(peft: PeftModel, name: string, tensors: Map<string, Tensor>, _file: string, raw: Map<string, RawTensor>): void {
    const where = `loading diff-pruning adapter '${name}'`;
    const layers = layersOf(peft, name);
    const heads = modulesToSaveTensors(peft, name);
    const expected = new Set<string>(heads.keys());
    for (const [path] of layers) for (const s of Object.values(SPARSE_SUFFIXES)) expected.add(`${path}.${s}`);
    const missing = [...expected].filter((k) => !tensors.has(k));
    const unexpected = [...tensors.keys()].filter((k) => !expected.has(k));
    if (missing.length || unexpected.length) {
      const list = (ks: string[]) => ks.slice(0, 6).map((k) => `'${k}'`).join(', ') + (ks.length > 6 ? ', ...' : '');
      throw new Error(`${where}: ${[missing.length ? `missing ${missing.length} key(s): ${list(missing)}` : '', unexpected.length ? `unexpected ${unexpected.length} key(s): ${list(unexpected)}` : ''].filter(Boolean).join('; ')}`);
    }
    const integers = (key: string, rank1: boolean): number[] => {
      const r = raw.get(key);
      if (!r || !['I64', 'I32', 'U32', 'I16', 'U16', 'I8', 'U8'].includes(r.dtype)) throw new Error(`${where}: '${key}' must be an integer tensor (I64 or I32), got ${tensors.get(key) ? 'a float tensor' : 'nothing'}`);
      if (rank1 && r.shape.length !== 1) throw new Error(`${where}: '${key}' must be 1-D, got shape [${r.shape.join(', ')}]`);
      return Array.from(r.data as ArrayLike<number | bigint>, (v) => Number(v));
    };
    for (const [path, layer] of layers) {
      const key = (s: string) => `${path}.${s}`;
      const want = layer.base_layer.weight.shape;
      const shape = integers(key(SPARSE_SUFFIXES.shape), true);
      if (shape.join(',') !== want.join(','))
        throw new Error(`${where}: '${key(SPARSE_SUFFIXES.shape)}' says [${shape.join(', ')}], the model's weight is [${want.join(', ')}]`);
      const indices = integers(key(SPARSE_SUFFIXES.indices), true);
      const values = tensors.get(key(SPARSE_SUFFIXES.values))!;
      if (values.rank !== 1 || values.size !== indices.length)
        throw new Error(`${where}: '${key(SPARSE_SUFFIXES.values)}' must be [${indices.length}] (one value per index), got [${values.shape.join(', ')}]`);
      const size = want.reduce((a, b) => a * b, 1);
      const dense = new Float32Array(size);
      const v = values.toFloat32Array();
      for (let i = 0; i < indices.length; i++) {
        const at = indices[i];
        if (!Number.isInteger(at) || at < 0 || at >= size || (i > 0 && at <= indices[i - 1]))
          throw new Error(`${where}: '${key(SPARSE_SUFFIXES.indices)}' entry ${i} is ${at}; indices must increase and lie in [0, ${size})`);
        dense[at] = v[i];
      }
      layer.setFinalized(name, dense);
    }
    for (const [k, t] of heads) {
      const src = tensors.get(k)!;
      if (src.shape.join(',') !== t.shape.join(',')) throw new Error(`${where}: '${k}' has shape [${src.shape.join(', ')}], the model's has [${t.shape.join(', ')}]`);
      copyInto(t, src);
    }
  },
};

registerTuner(diffPruningTuner);

/** Projects every delta of the adapter to its target density and fixes the gates (the end of diff-pruning training). */
export function finalizeDiffPruning(peft: PeftModel, name: string = peft.activeAdapter): void {
  configOf(peft, name, 'finalizeDiffPruning');
  for (const [, layer] of layersOf(peft, name)) layer.finalize(name);
}

/** The expected-L0 penalty of the last forward, summed over the layers (for logging; its gradient is already applied). */
export function diffPruningPenalty(peft: PeftModel): number {
  let total = 0;
  for (const [, m] of peft.model.namedModules()) if (m instanceof DiffPrunedLinear) total += m.lastPenalty;
  return total;
}

/**
 * Two optimizer parameter groups: the deltas (and modulesToSave copies) at `lr`, and the log_alpha
 * parameters at the config's alphaLearningRate, e.g. `new AdamW(diffPruningParamGroups(peft, { lr: 1e-3 }))`.
 */
export function diffPruningParamGroups(peft: PeftModel, opts: { lr: number; name?: string }): { params: Tensor[]; lr: number }[] {
  const name = opts.name ?? peft.activeAdapter;
  const config = configOf(peft, name, 'diffPruningParamGroups');
  const params = peft.adapterParameters(name).filter(([, t]) => t.requiresGrad);
  const isAlpha = (p: string) => p.includes(`.diff_log_alpha.${name}`);
  return [
    { params: params.filter(([p]) => !isAlpha(p)).map(([, t]) => t), lr: opts.lr },
    { params: params.filter(([p]) => isAlpha(p)).map(([, t]) => t), lr: config.alphaLearningRate },
  ];
}
