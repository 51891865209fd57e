/**
 * TrainableTokensLayer: HF's trainable_tokens/layer.py. An Embedding (`base_layer`) of which only the rows
 * `token_indices` train: per adapter `trainable_tokens_delta.<name>` [k, dim] holds those rows' new values
 * (saved as `<module>.trainable_tokens_delta`); they start as the base rows (init_weights) so the adapter is
 * a no-op until trained. The forward gives HF's F.embedding(ids, W.index_copy(0, indices, delta)) without
 * building W: the base lookup with the chosen tokens' rows replaced by the delta's (exactly: x*1, x*0 + d).
 * Several active adapters must choose disjoint tokens (HF's _check_overlapping_tokens). Merging writes the
 * rows into the base weight; unmerging writes the original rows back (HF's trainable_tokens_original).
 *
 * TiedTrainableTokensLayer: an LM head whose weight is the embedding's (GPT-2's lm_head) follows the
 * embedding's adapter as HF's tied TrainableTokensLayer does: logits = F.linear(x, W merged), here the
 * base logits with the chosen tokens' columns replaced by x . delta. It holds no tensors of its own.
 */
import type { Embedding } from '../../../nn/layers/embedding';
import type { Linear } from '../../../nn/layers/linear';
import { copyInto, parameter } from '../../../nn/module';
import { embedding } from '../../../ops/embedding/op';
import { noGrad } from '../../../tensor/autograd';
import { fromArray, randn, zeros } from '../../../tensor/creation';
import type { IntTensor } from '../../../tensor/int_tensor';
import { add, linear, mul } from '../../../tensor/ops';
import { concat } from '../../../tensor/shape_ops';
import type { Tensor } from '../../../tensor/tensor';
import { AdapterLayerBase, ParameterDict } from '../adapter_layer';

export interface TrainableTokensSpec {
  tokenIndices: number[];
}

/** The active adapters' rows as one table: [delta_1; delta_2; ...; a zero row]; rowOf[token] = its row. */
interface Combined {
  rowOf: Map<number, number>;
  table: Tensor;
  zeroRow: number;
}

export class TrainableTokensLayer extends AdapterLayerBase<TrainableTokensSpec> {
  readonly base_layer: Embedding;
  readonly trainable_tokens_delta: ParameterDict;
  /** HF's trainable_tokens_original (a non-persistent buffer): the base rows each adapter replaces. */
  private readonly originals = new Map<string, Float32Array>();

  constructor(base: Embedding) {
    super();
    this.base_layer = this.registerModule('base_layer', base);
    this.trainable_tokens_delta = this.registerModule('trainable_tokens_delta', new ParameterDict());
  }

  get numEmbeddings(): number {
    return this.base_layer.numEmbeddings;
  }
  get embeddingDim(): number {
    return this.base_layer.embeddingDim;
  }
  /** The base table (tied heads and prompt tuning read it as the Embedding's). */
  get weight(): Tensor {
    return this.base_layer.weight;
  }

  /** HF's update_layer: the delta starts as the chosen base rows (initWeights) or N(0, 1). */
  addAdapter(name: string, tokenIndices: number[], initWeights: boolean): void {
    if (this.specs.has(name)) throw new Error(`TrainableTokensLayer: adapter '${name}' already exists on this layer`);
    const dim = this.embeddingDim;
    const base = this.base_layer.weight.toFloat32Array();
    const rows = new Float32Array(tokenIndices.length * dim);
    tokenIndices.forEach((t, j) => rows.set(base.subarray(t * dim, (t + 1) * dim), j * dim));
    // HF keeps the initial values as the "original" ones; with init_weights false those are random, and
    // unmerging would write them into the base. The base rows are kept here, so unmerging restores the base.
    this.originals.set(name, rows.slice());
    const delta = noGrad(() => (initWeights ? fromArray(rows, [tokenIndices.length, dim]) : randn([tokenIndices.length, dim])));
    this.trainable_tokens_delta.set(name, parameter(delta));
    this.specs.set(name, { tokenIndices: [...tokenIndices] });
  }

  protected disposeAdapter(name: string): void {
    this.trainable_tokens_delta.get(name).dispose();
    this.trainable_tokens_delta.set(name, null);
    this.originals.delete(name);
  }

  delta(name: string): Tensor {
    return this.trainable_tokens_delta.get(name);
  }

  /** HF's _check_overlapping_tokens over the merged adapters and `names`. */
  checkOverlap(names: readonly string[]): void {
    const list = [...new Set([...this.merged, ...names])];
    if (list.length <= 1) return;
    const seen = new Set<number>();
    for (const n of list) {
      const ix = this.specs.get(n)!.tokenIndices;
      if (ix.some((i) => seen.has(i)))
        throw new Error(`TrainableTokens: token indices of adapter '${n}' are already defined and would result in undefined merging behavior. Only disjunct token indices are currently supported.`);
      ix.forEach((i) => seen.add(i));
    }
  }

  /** The active adapters' deltas stacked over a zero row (the zero row is for every other token). */
  combined(names: readonly string[]): Combined {
    const rowOf = new Map<number, number>();
    const parts: Tensor[] = [];
    let row = 0;
    for (const n of names) {
      for (const t of this.specs.get(n)!.tokenIndices) rowOf.set(t, row++);
      parts.push(this.delta(n));
    }
    const zero = noGrad(() => zeros([1, this.embeddingDim]));
    return { rowOf, table: concat([...parts, zero], 0), zeroRow: row };
  }

  forward(ids: IntTensor): Tensor {
    if (this.disabled || this.active.length === 0) {
      if (this.merged.length > 0) this.unmerge();
      return this.base_layer.forward(ids);
    }
    if (this.merged.length > 0) return this.base_layer.forward(ids);
    this.checkOverlap(this.active);
    const { rowOf, table, zeroRow } = this.combined(this.active);
    const dim = this.embeddingDim;
    const n = ids.data.length;
    const deltaIds = new Int32Array(n);
    const keep = new Float32Array(n * dim).fill(1);
    for (let i = 0; i < n; i++) {
      const r = rowOf.get(ids.data[i]);
      if (r === undefined) deltaIds[i] = zeroRow;
      else {
        deltaIds[i] = r;
        keep.fill(0, i * dim, (i + 1) * dim);
      }
    }
    const base = this.base_layer.forward(ids);
    const mask = fromArray(keep, [...base.shape]);
    return add(mul(base, mask), embedding({ data: deltaIds, shape: ids.shape }, table));
  }

  /** [vocab, dim]: the delta rows at their tokens, zero elsewhere (for the tied head), and the 0/1 row mask. */
  scatteredRows(names: readonly string[]): { rows: Tensor; keep: Tensor } {
    const { rowOf, table, zeroRow } = this.combined(names);
    const vocab = this.numEmbeddings;
    const ids = new Int32Array(vocab).fill(zeroRow);
    const keep = new Float32Array(vocab).fill(1);
    for (const [t, r] of rowOf) {
      ids[t] = r;
      keep[t] = 0;
    }
    return { rows: embedding({ data: ids, shape: [vocab] }, table), keep: fromArray(keep, [vocab]) };
  }

  /** HF's merge: index_copy of the delta rows into the base weight. */
  merge(names: string[]): void {
    const list = names.filter((n) => this.specs.has(n) && !this.merged.includes(n));
    if (list.length === 0) return;
    this.checkOverlap(list);
    const dim = this.embeddingDim;
    this.writeRows(list.map((n) => [this.specs.get(n)!.tokenIndices, this.delta(n).toFloat32Array()] as const), dim);
    this.merged.push(...list);
  }

  unmerge(): void {
    const dim = this.embeddingDim;
    while (this.merged.length > 0) {
      const n = this.merged.pop()!;
      this.writeRows([[this.specs.get(n)!.tokenIndices, this.originals.get(n)!]], dim);
    }
  }

  private writeRows(sets: (readonly [number[], Float32Array])[], dim: number): void {
    const w = this.base_layer.weight;
    const values = w.toFloat32Array();
    for (const [ix, rows] of sets) ix.forEach((t, j) => values.set(rows.subarray(j * dim, (j + 1) * dim), t * dim));
    noGrad(() => {
      const t = fromArray(values, [...w.shape]);
      copyInto(w, t);
      t.dispose();
    });
  }
}

export class TiedTrainableTokensLayer extends AdapterLayerBase<Record<string, never>> {
  readonly base_layer: Linear;

  /** `tied` is the embedding's layer; not registered (its delta is saved once, under the embedding). */
  constructor(base: Linear, readonly tied: TrainableTokensLayer) {
    super();
    this.base_layer = this.registerModule('base_layer', base);
  }

  addAdapter(name: string): void {
    this.specs.set(name, {});
  }

  protected disposeAdapter(): void {}

  forward(x: Tensor): Tensor {
    const names = this.active.filter((n) => this.tied.adapterNames().includes(n));
    if (this.disabled || names.length === 0) {
      if (this.tied.mergedAdapters.length > 0) this.tied.unmerge();
      return this.base_layer.forward(x);
    }
    if (this.tied.mergedAdapters.length > 0) return this.base_layer.forward(x);
    this.tied.checkOverlap(names);
    const { rows, keep } = this.tied.scatteredRows(names);
    return add(mul(this.base_layer.forward(x), keep), linear(x, rows));
  }

  /** The embedding's layer merges the shared weight; this one only keeps the books. */
  merge(names: string[]): void {
    for (const n of names) if (this.specs.has(n) && !this.merged.includes(n)) this.merged.push(n);
  }

  unmerge(): void {
    this.merged = [];
  }
}
