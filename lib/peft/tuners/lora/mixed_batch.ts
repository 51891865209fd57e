/**
 * A mixed batch through one LoRA layer: each sample names its adapter (HF's `adapter_names`; '__base__'
 * or an adapter this layer lacks = no adapter). The samples' rows are consecutive (sample b owns rows
 * b*T .. (b+1)*T - 1), so the per-row index feeds the mixed-batch kernels (loraMixedForward), which run
 * the base GEMM once and each adapter's fused term on its own runs of rows. Inference only, as in HF.
 */
import { noGrad } from '../../../tensor/autograd';
import { loraMixedForward, NO_ADAPTER } from '../../../tensor/peft_mixed';
import { sizeOf } from '../../../tensor/shape';
import type { Tensor } from '../../../tensor/tensor';

export interface MixedAdapter {
  name: string;
  a: Tensor;
  b: Tensor;
  scale: number;
}

/** The adapter index of every row: rows / names.length rows per sample. */
export function rowAdapterIndex(rows: number, names: readonly string[], adapters: readonly string[], op: string): Int32Array {
  if (names.length === 0 || rows % names.length !== 0)
    throw new RangeError(`${op}: ${names.length} adapter names for ${rows} rows; expected one name per sample (the rows must split evenly)`);
  const perSample = rows / names.length;
  const index = new Int32Array(rows);
  names.forEach((n, b) => index.fill(adapters.indexOf(n) >= 0 ? adapters.indexOf(n) : NO_ADAPTER, b * perSample, (b + 1) * perSample));
  return index;
}

/** y = x W^T + b + each row's adapter term. x [..., K] with one leading block of rows per sample. */
export function mixedBatchForward(x: Tensor, wOutIn: Tensor, bias: Tensor | null, adapters: MixedAdapter[], names: readonly string[]): Tensor {
  const op = 'LoRA mixed batch';
  return noGrad(() => {
    const K = x.shape[x.rank - 1];
    const rows = sizeOf(x.shape) / K;
    const rowAdapter = rowAdapterIndex(rows, names, adapters.map((a) => a.name), op);
    const x2 = x.reshape([rows, K]);
    const { y, saved } = loraMixedForward(x2, wOutIn, bias, adapters.map(({ a, b, scale }) => ({ a, b, scale })), rowAdapter);
    for (const run of saved.runs) run.u.dispose();
    x2.dispose();
    const out = y.reshape([...x.shape.slice(0, -1), wOutIn.shape[0]]);
    y.dispose();
    return out;
  });
}
