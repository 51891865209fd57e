/**
 * LoraEmbedding: an Embedding with low-rank adapters, HF's lora.Embedding: `base_layer`,
 * `lora_embedding_A.<name>` [r, vocab] and `lora_embedding_B.<name>` [dim, r] per adapter, bare parameters
 * as in HF's ParameterDict (saved as `embed_tokens.lora_embedding_A`), y = table[ids] + s (A^T[ids]) B^T.
 * HF initialises A to zeros and B from N(0, 1) (the reverse of lora.Linear, so the lookup A^T[ids] starts
 * at zero while B already spreads it). No dropout (HF applies none to embeddings), no DoRA.
 */
import type { Embedding } from '../../../nn/layers/embedding';
import { parameter } from '../../../nn/module';
import { noGrad } from '../../../tensor/autograd';
import { randn, zeros } from '../../../tensor/creation';
import { embedding } from '../../../ops/embedding/op';
import type { IntTensor } from '../../../tensor/int_tensor';
import { add, matmul, sub } from '../../../tensor/ops';
import type { Tensor } from '../../../tensor/tensor';
import { AdapterLayerBase, ParameterDict } from '../adapter_layer';
import { foldDelta } from '../fold_delta';
import type { LoraAdapterSpec } from './layer';

export class LoraEmbedding extends AdapterLayerBase<LoraAdapterSpec> {
  readonly base_layer: Embedding;
  readonly lora_embedding_A: ParameterDict;
  readonly lora_embedding_B: ParameterDict;

  constructor(base: Embedding) {
    super();
    this.base_layer = this.registerModule('base_layer', base);
    this.lora_embedding_A = this.registerModule('lora_embedding_A', new ParameterDict());
    this.lora_embedding_B = this.registerModule('lora_embedding_B', new ParameterDict());
  }

  /**
   * Adds an adapter as HF's update_layer + reset_lora_parameters: init true or 'gaussian' give A = 0 and
   * B ~ N(0, 1); false keeps both from N(0, 1).
   */
  addAdapter(name: string, spec: LoraAdapterSpec): void {
    if (this.specs.has(name)) throw new Error(`LoraEmbedding: adapter '${name}' already exists on this layer`);
    if (spec.useDora) throw new Error(`LoraEmbedding: DoRA is not supported on embedding layers (adapter '${name}')`);
    // HF's Embedding.update_layer calls loftq_init(adapter_name) without the config it needs, so it fails there too.
    if (spec.init === 'loftq') throw new Error(`LoraEmbedding: initLoraWeights 'loftq' is not supported on embedding layers (adapter '${name}'); target linear layers`);
    const { numEmbeddings, embeddingDim } = this.base_layer;
    const a = noGrad(() => (spec.init === false ? randn([spec.r, numEmbeddings]) : zeros([spec.r, numEmbeddings])));
    const b = noGrad(() => randn([embeddingDim, spec.r]));
    this.lora_embedding_A.set(name, parameter(a));
    this.lora_embedding_B.set(name, parameter(b));
    this.specs.set(name, { ...spec, dropout: 0, useDora: false });
  }

  protected disposeAdapter(name: string): void {
    for (const dict of [this.lora_embedding_A, this.lora_embedding_B]) {
      dict.get(name).dispose();
      dict.set(name, null);
    }
  }

  forward(ids: IntTensor): Tensor {
    if (this.disabled && this.merged.length > 0) throw new Error('LoraEmbedding: adapters are merged into the weights; unmerge() before disabling them');
    let y = this.base_layer.forward(ids);
    if (this.disabled) return y;
    for (const n of this.active) {
      if (this.merged.includes(n)) continue;
      const a = this.lora_embedding_A.get(n), b = this.lora_embedding_B.get(n);
      const r = a.shape[0];
      // The rows A^T[ids] ([..., r]) times B^T, scaled: one small GEMM over all positions.
      const rows = embedding(ids, a.T.contiguous());
      const term = matmul(rows.reshape([-1, r]), b.T, { alpha: this.specs.get(n)!.scale });
      y = add(y, term.reshape(y.shape));
    }
    return y;
  }

  /** s (B A)^T: the adapter as a [vocab, dim] table (HF's get_delta_weight). */
  deltaWeight(name: string): Tensor {
    const s = this.specs.get(name)!.scale;
    return noGrad(() => matmul(this.lora_embedding_A.get(name).T, this.lora_embedding_B.get(name).T, { alpha: s }));
  }

  merge(names: string[]): void {
    for (const n of names) {
      if (this.merged.includes(n) || !this.specs.has(n)) continue;
      this.applyDelta(n, add);
      this.merged.push(n);
    }
  }

  unmerge(): void {
    while (this.merged.length > 0) this.applyDelta(this.merged.pop()!, sub);
  }

  private applyDelta(name: string, op: (a: Tensor, b: Tensor) => Tensor): void {
    foldDelta(this.base_layer.weight, this.deltaWeight(name), op);
  }
}
