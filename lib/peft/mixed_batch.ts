/**
 * Mixed batches: one adapter per SAMPLE, HF's `model(**inputs, adapter_names=[...])`. The one entry is
 * `PeftModel.forward({ ...inputs, adapterNames })`; `BASE_ADAPTER_NAME` ('__base__') runs a sample without
 * an adapter. For the call, PeftModel hands the names to every adapter layer (`AdapterLayer.setMixedBatch`,
 * HF's pre-forward hook that passes adapter_names to each layer's forward) and takes them back after,
 * even when the forward throws. A layer that supports it (LoRA's Linear/Conv1D, IA3's) maps each sample to
 * its own adapter (a name the layer does not hold runs that sample through the base layer there) and runs
 * the mixed-batch kernels with a per-row index: a sample's rows are its tokens, consecutive in the batch.
 *
 * Training through a mixed batch is allowed: the kernels' backward gives each adapter the gradient of its
 * own samples' rows only (test/peft/mixed_batch.test.ts checks it by finite differences).
 */
import type { Tensor } from '../tensor/tensor';
import { NO_ADAPTER } from '../ops/mixed_rows';
import type { PeftModel } from './peft_model';

/** The name, in `adapterNames`, of a sample that runs without an adapter (HF's '__base__'). */
export const BASE_ADAPTER_NAME = '__base__';

/** The one error for a method (or a layer kind) that cannot run mixed batches. */
export function mixedBatchUnsupported(peftType: string, layer?: string): Error {
  const where = layer ? ` on ${layer} layers` : '';
  return new Error(`forward with adapterNames: ${peftType} adapters${where} cannot run a mixed batch (one adapter per sample); LoRA (Linear and Conv1D layers) and IA3 can`);
}

/**
 * A layer's view of a mixed batch: of the adapters the samples name, those this layer holds (`used`, in
 * first-seen order), and each row's index into them (NO_ADAPTER for '__base__' and for adapters the layer
 * lacks). x is [B, ..., K] with B = names.length.
 */
export function mixedBatchRows(names: readonly string[], x: Tensor, holds: (name: string) => boolean, layer: string): { used: string[]; rowAdapter: Int32Array } {
  const shape = x.shape;
  if (shape.length < 2 || shape[0] !== names.length)
    throw new RangeError(`${layer}: adapterNames has ${names.length} names but the batch has ${shape.length < 2 ? 'no batch dimension' : `${shape[0]} samples`} (input [${shape.join(', ')}]); give one name per sample`);
  const used = [...new Set(names)].filter((n) => n !== BASE_ADAPTER_NAME && holds(n));
  const rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const per = rows / names.length;
  const rowAdapter = new Int32Array(rows);
  names.forEach((n, i) => {
    const index = used.indexOf(n);
    rowAdapter.fill(index < 0 ? NO_ADAPTER : index, i * per, (i + 1) * per);
  });
  return { used, rowAdapter };
}

/** peft.forward({ ...inputs, adapterNames }): kept as a thin alias of the one entry. */
export function forwardWithAdapterNames(peft: PeftModel, inputs: object, adapterNames: readonly string[]): unknown {
  return peft.forward({ ...inputs, adapterNames });
}
