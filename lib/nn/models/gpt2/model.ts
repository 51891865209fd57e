/**
 * GPT-2 (HF's modeling_gpt2): learned positions, pre-LayerNorm blocks, one fused qkv projection (c_attn),
 * Conv1D weights stored [in, out], gelu_new, a final LayerNorm and an LM head tied to the token embedding.
 */
import { attention } from '../../../ops/attention/op';
import { add } from '../../../tensor/ops';
import { concat } from '../../../tensor/shape_ops';
import type { Tensor } from '../../../tensor/tensor';
import { prefixInputs, prefixOf, runBlock } from '../../checkpointing';
import { activation } from '../../layers/activation';
import { Conv1D } from '../../layers/conv1d';
import { Dropout } from '../../layers/dropout';
import { Embedding } from '../../layers/embedding';
import { Linear } from '../../layers/linear';
import { ModuleList } from '../../layers/module_list';
import { LayerNorm } from '../../layers/norm';
import { Module } from '../../module';
import { type CausalLMInputs, type CausalLMOutput, keyMaskOf, positionsOf, shiftedLoss } from '../causal_lm';
import type { LayerContext } from '../llama/model';
import { GPT2Config } from './config';

export class GPT2Attention extends Module {
  c_attn: Conv1D;
  c_proj: Conv1D;
  resid_dropout: Dropout;

  constructor(readonly config: GPT2Config, readonly layerIndex: number) {
    super();
    const c = config;
    this.c_attn = this.registerModule('c_attn', new Conv1D(c.nEmbd, 3 * c.nEmbd, c.initializerRange));
    // HF scales c_proj's init by 1/sqrt(2 n_layer) (the residual projections).
    this.c_proj = this.registerModule('c_proj', new Conv1D(c.nEmbd, c.nEmbd, c.initializerRange / Math.sqrt(2 * c.nLayer)));
    this.resid_dropout = this.registerModule('resid_dropout', new Dropout(c.residPdrop));
  }

  forward(x: Tensor, ctx: LayerContext): Tensor {
    const d = this.config.nEmbd;
    const qkv = this.c_attn.forward(x);
    const q = qkv.slice(-1, 0, d);
    let k = qkv.slice(-1, d, 2 * d), v = qkv.slice(-1, 2 * d, 3 * d);
    if (ctx.cache) ({ k, v } = ctx.cache.update(this.layerIndex, k, v));
    if (ctx.prefix) {
      k = concat([ctx.prefix.k, k], 1);
      v = concat([ctx.prefix.v, v], 1);
    }
    const a = attention(q, k, v, { qHeads: this.config.nHead, causal: true, keyMask: ctx.keyMask, scale: this.config.scaleAttnWeights ? undefined : 1 });
    return this.resid_dropout.forward(this.c_proj.forward(a));
  }
}

export class GPT2MLP extends Module {
  c_fc: Conv1D;
  c_proj: Conv1D;
  dropout: Dropout;
  private readonly act: (x: Tensor) => Tensor;

  constructor(readonly config: GPT2Config) {
    super();
    const c = config;
    this.c_fc = this.registerModule('c_fc', new Conv1D(c.nEmbd, c.innerSize, c.initializerRange));
    this.c_proj = this.registerModule('c_proj', new Conv1D(c.innerSize, c.nEmbd, c.initializerRange / Math.sqrt(2 * c.nLayer)));
    this.dropout = this.registerModule('dropout', new Dropout(c.residPdrop));
    this.act = activation(c.activationFunction);
  }

  forward(x: Tensor): Tensor {
    return this.dropout.forward(this.c_proj.forward(this.act(this.c_fc.forward(x))));
  }
}

export class GPT2Block extends Module {
  ln_1: LayerNorm;
  attn: GPT2Attention;
  ln_2: LayerNorm;
  mlp: GPT2MLP;

  constructor(config: GPT2Config, layerIndex: number) {
    super();
    this.ln_1 = this.registerModule('ln_1', new LayerNorm(config.nEmbd, config.layerNormEpsilon));
    this.attn = this.registerModule('attn', new GPT2Attention(config, layerIndex));
    this.ln_2 = this.registerModule('ln_2', new LayerNorm(config.nEmbd, config.layerNormEpsilon));
    this.mlp = this.registerModule('mlp', new GPT2MLP(config));
  }

  forward(h: Tensor, ctx: LayerContext): Tensor {
    const h1 = add(h, this.attn.forward(this.ln_1.forward(h), ctx));
    return add(h1, this.mlp.forward(this.ln_2.forward(h1)));
  }
}

export class GPT2Model extends Module {
  readonly supportsGradientCheckpointing = true;
  wte: Embedding;
  wpe: Embedding;
  drop: Dropout;
  h: ModuleList<GPT2Block>;
  ln_f: LayerNorm;

  constructor(readonly config: GPT2Config) {
    super();
    const c = config;
    this.wte = this.registerModule('wte', new Embedding(c.vocabSize, c.nEmbd, c.initializerRange));
    this.wpe = this.registerModule('wpe', new Embedding(c.nPositions, c.nEmbd, c.initializerRange));
    this.drop = this.registerModule('drop', new Dropout(c.embdPdrop));
    const blocks: GPT2Block[] = [];
    for (let i = 0; i < c.nLayer; i++) blocks.push(new GPT2Block(c, i));
    this.h = this.registerModule('h', new ModuleList(blocks));
    this.ln_f = this.registerModule('ln_f', new LayerNorm(c.nEmbd, c.layerNormEpsilon));
  }

  forward(inputs: CausalLMInputs): Tensor {
    const [batch, time] = inputs.inputsEmbeds ? inputs.inputsEmbeds.shape : inputs.inputIds.shape;
    const past = inputs.cache ? inputs.cache.length : 0;
    const prefixLen = inputs.prefixKeyValues ? inputs.prefixKeyValues[0].k.shape[1] : 0;
    const positions = positionsOf(inputs.positionIds, batch, time, past);
    for (const p of positions) {
      if (p < 0 || p >= this.config.nPositions)
        throw new RangeError(`GPT2Model: position ${p} is outside the ${this.config.nPositions} learned positions (n_positions)`);
    }
    const ctx: LayerContext = { positions, keyMask: keyMaskOf(inputs.attentionMask, batch, prefixLen + past + time, prefixLen), cache: inputs.cache ?? null, prefix: null };
    const tokens = inputs.inputsEmbeds ?? this.wte.forward(inputs.inputIds);
    let h = this.drop.forward(add(tokens, this.wpe.forward({ data: positions, shape: [batch, time] })));
    let i = 0;
    for (const block of this.h) {
      const prefix = prefixInputs(inputs.prefixKeyValues ? inputs.prefixKeyValues[i] : null);
      h = runBlock(this, block, (hh, ...pkv) => block.forward(hh, { ...ctx, prefix: prefixOf(pkv) }), [h, ...prefix]);
      i++;
    }
    return this.ln_f.forward(h);
  }
}

export class GPT2LMHeadModel extends Module {
  transformer: GPT2Model;
  lm_head: Linear;

  constructor(readonly config: GPT2Config = new GPT2Config()) {
    super();
    this.transformer = this.registerModule('transformer', new GPT2Model(config));
    this.lm_head = this.registerModule('lm_head', new Linear(config.nEmbd, config.vocabSize, { bias: false, init: config.initializerRange }));
    if (config.tieWordEmbeddings) {
      this.lm_head.weight.dispose();
      this.lm_head.setWeight(this.transformer.wte.weight);
    }
  }

  forward(inputs: CausalLMInputs): CausalLMOutput {
    const logits = this.lm_head.forward(this.transformer.forward(inputs));
    return { logits, loss: inputs.labels ? shiftedLoss(logits, inputs.labels) : null };
  }

  get inputEmbeddings(): Embedding {
    return this.transformer.wte;
  }
}
