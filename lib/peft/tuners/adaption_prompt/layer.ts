/**
 * AdaptedAttention: HF peft's adaption_prompt AdaptedAttention / AdaptedAttentionGPT (src/peft/tuners/
 * adaption_prompt/layer.py), LLaMA-Adapter's zero-init attention around an attention module kept as `model`
 * (so its weights stay at `self_attn.model.q_proj.weight`, as HF names them). The active adapter's
 * `adaption_prompt` [1, adapter_len, hidden] (~ N(0, 1)) and `adaption_gate` [1] (zero: the identity at init)
 * are this module's parameters:
 *   Llama / Mistral: out = attn(x) + o_proj(gate * softmax(q K^T / sqrt(head_dim)) V), q the attention's own
 *     query states (projection and RoPE, recomputed as HF's llama_compute_query_states), K = k_proj(prompt)
 *     and V = v_proj(prompt) without RoPE, with HF's kv heads (num_heads // (k_proj in / k_proj out)) each
 *     serving num_heads / kv_heads query heads (repeat_interleave); no mask: every query sees every prompt
 *     token. The fused attention kernel computes it, causal off.
 *   GPT-2: K, V from c_attn(prompt), q from c_attn(x), and the gated output is added without c_proj (HF's
 *     AdaptedAttentionGPT).
 * HF keeps one AdaptedAttention per adapter and swaps the active one into the model; here one wrapper holds
 * every adapter of its layer and registers the active one's tensors under those names, the others held
 * aside (neither counted nor trained, as HF's cached modules), so paths and counts are HF's.
 */
import type { LayerContext, LlamaAttention } from '../../../nn/models/llama/model';
import type { GPT2Attention } from '../../../nn/models/gpt2/model';
import { Module, parameter } from '../../../nn/module';
import { attention } from '../../../ops/attention/op';
import { noGrad } from '../../../tensor/autograd';
import { randn, zeros } from '../../../tensor/creation';
import { add, mul } from '../../../tensor/ops';
import { concat } from '../../../tensor/shape_ops';
import type { Tensor } from '../../../tensor/tensor';
import type { AdapterLayer } from '../../tuner';

interface Prompt {
  prompt: Tensor;
  gate: Tensor;
}

export type AdaptedKind = 'llama' | 'gpt2';

export class AdaptedAttention extends Module implements AdapterLayer {
  readonly isAdapterLayer = true;
  readonly model: LlamaAttention | GPT2Attention;
  private readonly prompts = new Map<string, Prompt>();
  private active: string | null = null;
  disabled = false;
  readonly mergedAdapters: readonly string[] = [];

  constructor(model: LlamaAttention | GPT2Attention, readonly kind: AdaptedKind) {
    super();
    if (model instanceof AdaptedAttention) throw new TypeError('AdaptedAttention: unable to stack multiple adaption prompts');
    this.model = this.registerModule('model', model);
    this.registerParameter('adaption_prompt', null);
    this.registerParameter('adaption_gate', null);
  }

  /** The wrapped attention (HF's `model`; unload() puts it back). */
  get base_layer(): Module {
    return this.model;
  }

  private get hiddenSize(): number {
    return this.kind === 'gpt2' ? (this.model as GPT2Attention).config.nEmbd : (this.model as LlamaAttention).config.hiddenSize;
  }

  /** HF's _BaseAdaptedAttention.__init__: prompt ~ N(0, 1) [1, adapter_len, hidden], gate zeros [1]. */
  addAdapter(name: string, adapterLen: number): void {
    if (this.prompts.has(name)) throw new Error(`AdaptedAttention: adapter '${name}' already exists on this layer`);
    const [prompt, gate] = noGrad(() => [randn([1, adapterLen, this.hiddenSize]), zeros([1])]);
    this.prompts.set(name, { prompt: parameter(prompt), gate: parameter(gate) });
  }

  adapterNames(): string[] {
    return [...this.prompts.keys()];
  }

  get activeAdapters(): readonly string[] {
    return this.active === null ? [] : [this.active];
  }

  /** One adapter at most (HF's set_adapter takes one name); its tensors become this module's parameters. */
  setActiveAdapters(names: string[]): void {
    const held = names.filter((n) => this.prompts.has(n));
    if (held.length > 1) throw new Error(`AdaptedAttention: only one adaption prompt can be active at a time, got ${held.join(', ')}`);
    this.active = held[0] ?? null;
    const p = this.active === null ? null : this.prompts.get(this.active)!;
    this.registerParameter('adaption_prompt', p?.prompt ?? null);
    this.registerParameter('adaption_gate', p?.gate ?? null);
  }

  /** The adapter's tensors, active or not. */
  promptOf(name: string): Prompt | undefined {
    return this.prompts.get(name);
  }

  deleteAdapter(name: string): void {
    const p = this.prompts.get(name);
    if (!p) return;
    if (this.active === name) this.setActiveAdapters([]);
    p.prompt.dispose();
    p.gate.dispose();
    this.prompts.delete(name);
  }

  merge(names: string[]): void {
    if (names.length > 0) throw new Error('AdaptedAttention: adaption prompts cannot be merged into the base weights (HF\'s AdaptionPromptModel has no merge)');
  }

  unmerge(): void {}

  forward(x: Tensor, ctx: LayerContext): Tensor {
    const out = this.model.forward(x, ctx);
    if (this.disabled || this.active === null) return out;
    const { prompt, gate } = this.prompts.get(this.active)!;
    return add(out, this.kind === 'gpt2' ? this.gptOutput(x, prompt, gate) : this.llamaOutput(x, ctx, prompt, gate));
  }

  /** AdaptedAttention.forward's adapter_output (before it is added), for Llama and Mistral. */
  private llamaOutput(x: Tensor, ctx: LayerContext, prompt: Tensor, gate: Tensor): Tensor {
    const attn = this.model as LlamaAttention;
    const c = attn.config, heads = c.numAttentionHeads, headDim = c.headDim;
    const kvWidth = attn.k_proj.outFeatures;
    // HF: factor = k_proj.in_features // k_proj.out_features; the prompt keys are viewed as num_heads // factor heads.
    const factor = Math.floor(attn.k_proj.inFeatures / kvWidth);
    const kvHeads = Math.floor(heads / factor);
    if (factor < 1 || kvHeads * headDim !== kvWidth || heads % kvHeads !== 0)
      throw new RangeError(`AdaptedAttention: HF's adaption prompt views k_proj's ${kvWidth} outputs as num_heads // (hidden ${attn.k_proj.inFeatures} // ${kvWidth}) = ${kvHeads} heads of ${headDim}, which does not fit this attention (${heads} heads, ${c.numKeyValueHeads} kv heads)`);
    const key = attn.k_proj.forward(prompt), value = attn.v_proj.forward(prompt);
    const q = attn.queryStates(x, ctx);
    const a = attention(q, this.perSample(key, x.shape[0]), this.perSample(value, x.shape[0]), { qHeads: heads, kvHeads, causal: false });
    return attn.o_proj.forward(this.gated(a, gate));
  }

  /** AdaptedAttentionGPT.forward's adapter_output: c_attn's query, key and value columns, no c_proj. */
  private gptOutput(x: Tensor, prompt: Tensor, gate: Tensor): Tensor {
    const attn = this.model as GPT2Attention;
    const d = attn.config.nEmbd;
    const kv = attn.c_attn.forward(prompt);
    const key = kv.slice(-1, d, 2 * d).contiguous(), value = kv.slice(-1, 2 * d, 3 * d).contiguous();
    const q = attn.c_attn.forward(x).slice(-1, 0, d);
    const a = attention(q, this.perSample(key, x.shape[0]), this.perSample(value, x.shape[0]), { qHeads: attn.config.nHead, causal: false });
    return this.gated(a, gate);
  }

  /** [1, L, W] repeated for each of the batch's samples (HF's .repeat(bsz, 1, 1, 1)). */
  private perSample(t: Tensor, batch: number): Tensor {
    return batch === 1 ? t : concat(Array<Tensor>(batch).fill(t), 0);
  }

  /** gate * a for the one-element gate: a as one column, the gate as its row (the row broadcast ops have). */
  private gated(a: Tensor, gate: Tensor): Tensor {
    return mul(a.reshape([a.size, 1]), gate).reshape(a.shape);
  }
}
