/**
 * Mixed-task batches: one adapter per SAMPLE, as HF's `adapter_names` forward argument (`'__base__'` for
 * a sample that runs the base model). The names are set on every adapter layer that supports per-sample
 * adapters (a `setSampleAdapters` method); each layer maps them to its own adapters and runs the
 * mixed-batch kernels with a per-row index (a sample's rows are its tokens, consecutive in the batch).
 * A name the layer does not hold runs that sample through the base layer there.
 *
 * This is independent of PeftModel.forward: `forwardWithAdapterNames(peft, inputs, names)` (or
 * `withSampleAdapters`) sets the names for one call and always clears them after.
 */
import type { Module } from '../nn/module';
import { isModulesToSave } from './modules_to_save';
import type { PeftModel } from './peft_model';

/** The name that means "no adapter" for a sample (HF's). */
export const BASE_ADAPTER_NAME = '__base__';

export interface SampleAdapterLayer {
  /** One adapter name per sample for the next forwards; null: back to the active adapters. */
  setSampleAdapters(names: readonly string[] | null): void;
}

export function supportsSampleAdapters(m: Module): m is Module & SampleAdapterLayer {
  return typeof (m as unknown as Partial<SampleAdapterLayer>).setSampleAdapters === 'function';
}

/** Sets (or, with null, clears) the per-sample adapter names on every layer that supports them. */
export function setSampleAdapters(peft: PeftModel, names: readonly string[] | null): void {
  if (names !== null) {
    if (!Array.isArray(names) || names.length === 0) throw new TypeError('adapterNames: expected a non-empty array with one adapter name per sample');
    for (const [i, n] of names.entries())
      if (n !== BASE_ADAPTER_NAME && !peft.peftConfig.has(n))
        throw new Error(`adapterNames: sample ${i} names adapter '${String(n)}', which this model does not hold (have ${[...peft.peftConfig.keys()].join(', ')}, or '${BASE_ADAPTER_NAME}')`);
    if (peft.adaptersAreDisabled) throw new Error('adapterNames: adapters are disabled');
  }
  const layers = peft.model.namedModules().map(([, m]) => m);
  if (names !== null && layers.some(isModulesToSave))
    throw new Error('adapterNames: per-sample adapters do not cover modulesToSave copies yet (the active adapter\'s copy would run for every sample)');
  const capable = layers.filter(supportsSampleAdapters);
  if (names !== null && capable.length === 0) throw new Error('adapterNames: no layer of this model supports per-sample adapters');
  for (const m of capable) m.setSampleAdapters(names);
}

/** Runs fn with one adapter per sample; the names are cleared after, even when fn throws. */
export function withSampleAdapters<T>(peft: PeftModel, names: readonly string[], fn: () => T): T {
  setSampleAdapters(peft, names);
  try {
    return fn();
  } finally {
    setSampleAdapters(peft, null);
  }
}

/** peft.forward(inputs) with adapterNames[i] running sample i (HF's `model(**inputs, adapter_names=...)`). */
export function forwardWithAdapterNames(peft: PeftModel, inputs: unknown, adapterNames: readonly string[]): unknown {
  return withSampleAdapters(peft, adapterNames, () => peft.forward(inputs));
}

/** The per-row adapter index of an input x [B, ..., K]: sample i's rows get indexOf(names[i]) (-1 for none). */
export function rowAdapterIndex(names: readonly string[], shape: readonly number[], indexOf: (name: string) => number, op: string): Int32Array {
  if (shape.length < 2 || shape[0] !== names.length)
    throw new RangeError(`${op}: adapterNames has ${names.length} names but the batch has ${shape.length < 2 ? 'no batch dimension' : `${shape[0]} samples`} (input [${shape.join(', ')}]); give one name per sample`);
  const rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const per = rows / names.length;
  const out = new Int32Array(rows);
  names.forEach((n, i) => out.fill(indexOf(n), i * per, (i + 1) * per));
  return out;
}
