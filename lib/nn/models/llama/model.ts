/**
 * Llama (HF's modeling_llama): RMSNorm before attention and before the MLP, rotary position embeddings on
 * q and k, grouped-query attention, a SwiGLU MLP, a final RMSNorm and the LM head. Module and parameter
 * names are Hugging Face's (model.layers.N.self_attn.q_proj, mlp.gate_proj, ...).
 *
 * The blocks take any LlamaLikeConfig: the families built from them (Qwen2, Qwen3, Gemma) differ only where
 * their config's `decoderVariant` says (projection biases, q/k norms, the MLP's activation, the norm, the
 * embedding scale) and in head_dim, which they may set apart from hidden_size / num_attention_heads.
 */
import { attention } from '../../../ops/attention/op';
import type { IntTensor } from '../../../tensor/int_tensor';
import { add, div, mul, scale, silu, unaryOp } from '../../../tensor/ops';
import { rope } from '../../../ops/rope/op';
import { rotaryParams, type RotaryParams } from '../../../ops/rope/scaling';
import { concat } from '../../../tensor/shape_ops';
import type { Tensor } from '../../../tensor/tensor';
import { prefixInputs, prefixOf, runBlock } from '../../checkpointing';
import { Embedding } from '../../layers/embedding';
import { Linear } from '../../layers/linear';
import { ModuleList } from '../../layers/module_list';
import { RMSNorm } from '../../layers/norm';
import { Module } from '../../module';
import { type CausalLMInputs, type CausalLMOutput, keyMaskOf, positionsOf, shiftedLoss } from '../causal_lm';
import { type DecoderVariant, LlamaConfig, type LlamaLikeConfig } from './config';

const NO_VARIANT: DecoderVariant = Object.freeze({});

/** The family's departures from Llama (none for LlamaConfig). */
export function variantOf(config: LlamaLikeConfig): DecoderVariant {
  return config.decoderVariant ?? NO_VARIANT;
}

/** An RMSNorm as the family builds it. */
function normOf(config: LlamaLikeConfig, size: number): RMSNorm {
  const make = variantOf(config).makeNorm;
  return make ? make(size, config.rmsNormEps) : new RMSNorm(size, config.rmsNormEps);
}

/** What one layer's attention needs besides its input. */
export interface LayerContext {
  positions: Int32Array;
  keyMask: Int32Array | null;
  cache: import('../kv_cache').KVCache | null;
  prefix: { k: Tensor; v: Tensor } | null;
  /** RoPE scaling / partial rotary for this forward (rotaryParams of the config); absent: full-width default RoPE. */
  rotary?: RotaryParams;
}

export class LlamaAttention<C extends LlamaLikeConfig = LlamaConfig> extends Module {
  q_proj: Linear;
  k_proj: Linear;
  v_proj: Linear;
  o_proj: Linear;
  /** Qwen3's per-head norms of q and k (absent for Llama). */
  q_norm?: RMSNorm;
  k_norm?: RMSNorm;
  /** This layer's sliding window (0: full attention), logit soft-cap (0: none) and score scale (the variant's). */
  readonly window: number;
  readonly softcap: number;
  readonly attnScale: number | undefined;

  constructor(readonly config: C, readonly layerIndex: number) {
    super();
    const c = config, init = c.initializerRange, variant = variantOf(c);
    const bias = variant.attentionBias ?? { qkv: c.attentionBias, o: c.attentionBias };
    const qWidth = c.numAttentionHeads * c.headDim, kvWidth = c.numKeyValueHeads * c.headDim;
    this.q_proj = this.registerModule('q_proj', new Linear(c.hiddenSize, qWidth, { bias: bias.qkv, init }));
    this.k_proj = this.registerModule('k_proj', new Linear(c.hiddenSize, kvWidth, { bias: bias.qkv, init }));
    this.v_proj = this.registerModule('v_proj', new Linear(c.hiddenSize, kvWidth, { bias: bias.qkv, init }));
    this.o_proj = this.registerModule('o_proj', new Linear(qWidth, c.hiddenSize, { bias: bias.o, init }));
    if (variant.qkNorm) {
      this.q_norm = this.registerModule('q_norm', normOf(c, c.headDim));
      this.k_norm = this.registerModule('k_norm', normOf(c, c.headDim));
    }
    this.window = variant.slidingWindow?.(layerIndex) ?? 0;
    this.softcap = variant.attnLogitSoftcap ?? 0;
    this.attnScale = variant.attnScale;
  }

  /** A per-head norm of [B, T, heads * headDim] over each head's headDim values. */
  private headNorm(norm: RMSNorm | undefined, t: Tensor): Tensor {
    if (!norm) return t;
    const [b, time, width] = t.shape, d = this.config.headDim;
    return norm.forward(t.reshape([b, time, width / d, d])).reshape([b, time, width]);
  }

  /** This forward's rotary settings (positions, theta, layout, scaling). */
  private rotary(ctx: LayerContext) {
    const c = this.config;
    return { positions: ctx.positions, theta: c.ropeTheta, interleaved: c.ropeInterleaved ?? false, ...ctx.rotary };
  }

  /**
   * The query states [B, T, heads * headDim] as forward computes them (projection, q norm, RoPE): adaption
   * prompts (peft/tuners/adaption_prompt) recompute them to attend over their own keys, as HF's do.
   */
  queryStates(x: Tensor, ctx: LayerContext): Tensor {
    return rope(this.headNorm(this.q_norm, this.q_proj.forward(x)), { heads: this.config.numAttentionHeads, ...this.rotary(ctx) });
  }

  /** x [B, T, hidden] -> [B, T, hidden]. */
  forward(x: Tensor, ctx: LayerContext): Tensor {
    const c = this.config;
    const rot = this.rotary(ctx);
    const q = this.queryStates(x, ctx);
    let k = rope(this.headNorm(this.k_norm, this.k_proj.forward(x)), { heads: c.numKeyValueHeads, ...rot });
    let v = this.v_proj.forward(x);
    if (ctx.cache) ({ k, v } = ctx.cache.update(this.layerIndex, k, v));
    if (ctx.prefix) {
      k = concat([ctx.prefix.k, k], 1);
      v = concat([ctx.prefix.v, v], 1);
    }
    // The window counts cache and prefix keys as HF's does (positions, not only this call's keys).
    const a = attention(q, k, v, {
      qHeads: c.numAttentionHeads, kvHeads: c.numKeyValueHeads, causal: true, keyMask: ctx.keyMask,
      window: this.window, softcap: this.softcap, scale: this.attnScale,
    });
    return this.o_proj.forward(a);
  }
}

export class LlamaMLP<C extends LlamaLikeConfig = LlamaConfig> extends Module {
  gate_proj: Linear;
  up_proj: Linear;
  down_proj: Linear;
  private readonly act: (x: Tensor) => Tensor;

  constructor(readonly config: C) {
    super();
    const c = config, init = c.initializerRange, bias = c.mlpBias ?? false;
    this.act = variantOf(c).mlpActivation ?? silu;
    this.gate_proj = this.registerModule('gate_proj', new Linear(c.hiddenSize, c.intermediateSize, { bias, init }));
    this.up_proj = this.registerModule('up_proj', new Linear(c.hiddenSize, c.intermediateSize, { bias, init }));
    this.down_proj = this.registerModule('down_proj', new Linear(c.intermediateSize, c.hiddenSize, { bias, init }));
  }

  /** down(act(gate(x)) * up(x)); act is silu for Llama */
  forward(x: Tensor): Tensor {
    return this.down_proj.forward(mul(this.act(this.gate_proj.forward(x)), this.up_proj.forward(x)));
  }
}

export class LlamaDecoderLayer<C extends LlamaLikeConfig = LlamaConfig> extends Module {
  self_attn: LlamaAttention<C>;
  mlp: LlamaMLP<C>;
  input_layernorm: RMSNorm;
  post_attention_layernorm: RMSNorm;

  constructor(config: C, layerIndex: number) {
    super();
    this.self_attn = this.registerModule('self_attn', new LlamaAttention(config, layerIndex));
    this.mlp = this.registerModule('mlp', new LlamaMLP(config));
    this.input_layernorm = this.registerModule('input_layernorm', normOf(config, config.hiddenSize));
    this.post_attention_layernorm = this.registerModule('post_attention_layernorm', normOf(config, config.hiddenSize));
  }

  forward(h: Tensor, ctx: LayerContext): Tensor {
    const h1 = add(h, this.self_attn.forward(this.input_layernorm.forward(h), ctx));
    return add(h1, this.mlp.forward(this.post_attention_layernorm.forward(h1)));
  }
}

export class LlamaModel<C extends LlamaLikeConfig = LlamaConfig> extends Module {
  readonly supportsGradientCheckpointing = true;
  embed_tokens: Embedding;
  layers: ModuleList<LlamaDecoderLayer<C>>;
  norm: RMSNorm;

  constructor(readonly config: C) {
    super();
    const makeEmbedding = variantOf(config).makeEmbedding;
    this.embed_tokens = this.registerModule('embed_tokens', makeEmbedding
      ? makeEmbedding(config.vocabSize, config.hiddenSize, config.initializerRange)
      : new Embedding(config.vocabSize, config.hiddenSize, config.initializerRange));
    const layers: LlamaDecoderLayer<C>[] = [];
    const makeLayer = variantOf(config).makeLayer;
    for (let i = 0; i < config.numHiddenLayers; i++)
      layers.push(makeLayer ? makeLayer(i) as unknown as LlamaDecoderLayer<C> : new LlamaDecoderLayer(config, i));
    this.layers = this.registerModule('layers', new ModuleList(layers));
    this.norm = this.registerModule('norm', normOf(config, config.hiddenSize));
  }

  /** The final hidden states [B, T, hidden]. */
  forward(inputs: CausalLMInputs): Tensor {
    const [batch, time] = inputs.inputsEmbeds ? inputs.inputsEmbeds.shape : inputs.inputIds.shape;
    const past = inputs.cache ? inputs.cache.length : 0;
    const prefixLen = inputs.prefixKeyValues ? inputs.prefixKeyValues[0].k.shape[1] : 0;
    const positions = positionsOf(inputs.positionIds, batch, time, past);
    const ctx: LayerContext = {
      positions,
      rotary: rotaryParams(this.config, positions),
      keyMask: keyMaskOf(inputs.attentionMask, batch, prefixLen + past + time, prefixLen),
      cache: inputs.cache ?? null,
      prefix: null,
    };
    let h = inputs.inputsEmbeds ?? this.embed_tokens.forward(inputs.inputIds);
    const embedScale = variantOf(this.config).embedScale;
    if (embedScale !== undefined) h = scale(h, embedScale);
    let i = 0;
    for (const layer of this.layers) {
      const prefix = prefixInputs(inputs.prefixKeyValues ? inputs.prefixKeyValues[i] : null);
      h = runBlock(this, layer, (hh, ...pkv) => layer.forward(hh, { ...ctx, prefix: prefixOf(pkv) }), [h, ...prefix]);
      i++;
    }
    return this.norm.forward(h);
  }
}

export class LlamaForCausalLM<C extends LlamaLikeConfig = LlamaConfig> extends Module {
  model: LlamaModel<C>;
  lm_head: Linear;

  constructor(readonly config: C = new LlamaConfig() as unknown as C) {
    super();
    this.model = this.registerModule('model', new LlamaModel(config));
    this.lm_head = this.registerModule('lm_head', new Linear(config.hiddenSize, config.vocabSize, { bias: false, init: config.initializerRange }));
    if (config.tieWordEmbeddings) {
      this.lm_head.weight.dispose();
      this.lm_head.setWeight(this.model.embed_tokens.weight);
    }
  }

  forward(inputs: CausalLMInputs): CausalLMOutput {
    let logits = this.lm_head.forward(this.model.forward(inputs));
    const cap = variantOf(this.config).finalLogitSoftcap;
    // Gemma 2: logits / cap, tanh, * cap (HF's Gemma2ForCausalLM), before the loss.
    if (cap) logits = scale(unaryOp('tanh', div(logits, cap)), cap);
    return { logits, loss: inputs.labels ? shiftedLoss(logits, inputs.labels) : null };
  }

  /** The input embedding table (prompt tuning reads it; tied heads share it). */
  get inputEmbeddings(): Embedding {
    return this.model.embed_tokens;
  }
}

export type { IntTensor };
