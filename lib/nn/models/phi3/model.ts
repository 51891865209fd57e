/**
 * Phi-3 (HF's modeling_phi3.py, v4.49 semantics, read at 00d4b3d): the Llama decoder with fused projections.
 * Phi3Attention's qkv_proj gives [query | key | value] along its outputs (num_attention_heads * head_dim,
 * then num_key_value_heads * head_dim twice), split as column views, RoPE on the first
 * int(head_dim * partial_rotary_factor) dims of each head (LongRoPE frequencies and attention factor from
 * rope_scaling: lib/ops/rope/scaling.ts), the sliding window when configured; Phi3MLP's gate_up_proj gives
 * [gate | up] (chunk(2)), down_proj(up * silu(gate)). No biases. Module and parameter names are HF's
 * (model.layers.N.self_attn.qkv_proj, mlp.gate_up_proj, ...), so HF folders and peft adapters load as they are.
 */
import { attention } from '../../../ops/attention/op';
import { rope } from '../../../ops/rope/op';
import { add, mul } from '../../../tensor/ops';
import { concat } from '../../../tensor/shape_ops';
import type { Tensor } from '../../../tensor/tensor';
import { Linear } from '../../layers/linear';
import { RMSNorm } from '../../layers/norm';
import { Module } from '../../module';
import { type LayerContext, type LlamaDecoderLayer, LlamaForCausalLM, variantOf } from '../llama/model';
import { LlamaForSequenceClassification } from '../sequence_classification';
import { Phi3Config, phi3Layers } from './config';

export class Phi3Attention extends Module {
  qkv_proj: Linear;
  o_proj: Linear;
  /** This layer's sliding window (0: full attention). */
  readonly window: number;

  constructor(readonly config: Phi3Config, readonly layerIndex: number) {
    super();
    const c = config, init = c.initializerRange;
    const qWidth = c.numAttentionHeads * c.headDim, kvWidth = c.numKeyValueHeads * c.headDim;
    this.o_proj = this.registerModule('o_proj', new Linear(qWidth, c.hiddenSize, { bias: false, init }));
    this.qkv_proj = this.registerModule('qkv_proj', new Linear(c.hiddenSize, qWidth + 2 * kvWidth, { bias: false, init }));
    this.window = c.slidingWindow ?? 0;
  }

  /** x [B, T, hidden] -> [B, T, hidden]. */
  forward(x: Tensor, ctx: LayerContext): Tensor {
    const c = this.config;
    const qWidth = c.numAttentionHeads * c.headDim, kvWidth = c.numKeyValueHeads * c.headDim;
    const qkv = this.qkv_proj.forward(x);
    const last = qkv.rank - 1;
    const rot = { positions: ctx.positions, theta: c.ropeTheta, ...ctx.rotary };
    const q = rope(qkv.slice(last, 0, qWidth), { heads: c.numAttentionHeads, ...rot });
    let k = rope(qkv.slice(last, qWidth, qWidth + kvWidth), { heads: c.numKeyValueHeads, ...rot });
    let v = qkv.slice(last, qWidth + kvWidth, qWidth + 2 * kvWidth);
    if (ctx.cache) ({ k, v } = ctx.cache.update(this.layerIndex, k, v));
    if (ctx.prefix) {
      k = concat([ctx.prefix.k, k], 1);
      v = concat([ctx.prefix.v, v], 1);
    }
    const a = attention(q, k, v, { qHeads: c.numAttentionHeads, kvHeads: c.numKeyValueHeads, causal: true, keyMask: ctx.keyMask, window: this.window });
    return this.o_proj.forward(a);
  }
}

export class Phi3MLP extends Module {
  gate_up_proj: Linear;
  down_proj: Linear;
  private readonly act: (x: Tensor) => Tensor;

  constructor(readonly config: Phi3Config) {
    super();
    const c = config, init = c.initializerRange;
    this.act = variantOf(c).mlpActivation!;
    this.gate_up_proj = this.registerModule('gate_up_proj', new Linear(c.hiddenSize, 2 * c.intermediateSize, { bias: false, init }));
    this.down_proj = this.registerModule('down_proj', new Linear(c.intermediateSize, c.hiddenSize, { bias: false, init }));
  }

  /** gate, up = gate_up_proj(x).chunk(2); down_proj(up * act(gate)). */
  forward(x: Tensor): Tensor {
    const gu = this.gate_up_proj.forward(x);
    const last = gu.rank - 1, i = this.config.intermediateSize;
    return this.down_proj.forward(mul(gu.slice(last, i, 2 * i), this.act(gu.slice(last, 0, i))));
  }
}

export class Phi3DecoderLayer extends Module {
  self_attn: Phi3Attention;
  mlp: Phi3MLP;
  input_layernorm: RMSNorm;
  post_attention_layernorm: RMSNorm;

  constructor(config: Phi3Config, layerIndex: number) {
    super();
    this.self_attn = this.registerModule('self_attn', new Phi3Attention(config, layerIndex));
    this.mlp = this.registerModule('mlp', new Phi3MLP(config));
    this.input_layernorm = this.registerModule('input_layernorm', new RMSNorm(config.hiddenSize, config.rmsNormEps));
    this.post_attention_layernorm = this.registerModule('post_attention_layernorm', new RMSNorm(config.hiddenSize, config.rmsNormEps));
  }

  /** HF: residual + resid_attn_dropout(attn), residual + resid_mlp_dropout(mlp) (dropout 0 by default; not applied). */
  forward(h: Tensor, ctx: LayerContext): Tensor {
    const h1 = add(h, this.self_attn.forward(this.input_layernorm.forward(h), ctx));
    return add(h1, this.mlp.forward(this.post_attention_layernorm.forward(h1)));
  }
}

phi3Layers.make = (config, layerIndex) => new Phi3DecoderLayer(config, layerIndex) as unknown as LlamaDecoderLayer<never>;

export class Phi3ForCausalLM extends LlamaForCausalLM<Phi3Config> {
  constructor(config: Phi3Config = new Phi3Config()) {
    super(config);
  }
}

/** HF's Phi3ForSequenceClassification: a bias-free `score` head on each row's last real token. */
export class Phi3ForSequenceClassification extends LlamaForSequenceClassification<Phi3Config> {
  constructor(config: Phi3Config = new Phi3Config()) {
    super(config);
  }
}
