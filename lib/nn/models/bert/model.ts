/**
 * BERT encoder with a sequence-classification head (HF's BertForSequenceClassification): word + position +
 * token-type embeddings, post-LayerNorm blocks with bidirectional attention under a padding mask, a tanh
 * pooler over the first token, and a linear classifier.
 */
import { attention } from '../../../ops/attention/op';
import { asIntTensor, type IntTensor } from '../../../tensor/int_tensor';
import { crossEntropy } from '../../../ops/cross_entropy/op';
import { add, tanh } from '../../../tensor/ops';
import { concat } from '../../../tensor/shape_ops';
import type { Tensor } from '../../../tensor/tensor';
import { prefixInputs, prefixOf, runBlock } from '../../checkpointing';
import { activation } from '../../layers/activation';
import { Dropout } from '../../layers/dropout';
import { Embedding } from '../../layers/embedding';
import { Linear } from '../../layers/linear';
import { ModuleList } from '../../layers/module_list';
import { LayerNorm } from '../../layers/norm';
import { Module } from '../../module';
import { keyMaskOf } from '../causal_lm';
import { BertConfig } from './config';

export interface BertInputs {
  inputIds: IntTensor;
  attentionMask?: IntTensor | null;
  tokenTypeIds?: IntTensor | null;
  /** [B] class indices. */
  labels?: IntTensor | null;
  /** Replaces the word embeddings lookup ([B, T, hidden]; T may differ from inputIds', e.g. with virtual tokens). */
  inputsEmbeds?: Tensor | null;
  /**
   * Extra key/value prefixes per layer (prefix tuning): [B, P, hidden] each, HF's past_key_values: every
   * token attends to them, and positions start at P as HF's BertEmbeddings does with past_key_values_length.
   */
  prefixKeyValues?: { k: Tensor; v: Tensor }[] | null;
}

/** [B, T] of the batch: the embeddings' when given, else the ids'. */
function batchShape(inputs: BertInputs): [number, number] {
  const s = inputs.inputsEmbeds ? inputs.inputsEmbeds.shape : inputs.inputIds.shape;
  return [s[0], s[1]];
}

export class BertEmbeddings extends Module {
  word_embeddings: Embedding;
  position_embeddings: Embedding;
  token_type_embeddings: Embedding;
  LayerNorm: LayerNorm;
  dropout: Dropout;

  constructor(readonly config: BertConfig) {
    super();
    const c = config, std = c.initializerRange;
    this.word_embeddings = this.registerModule('word_embeddings', new Embedding(c.vocabSize, c.hiddenSize, std));
    this.position_embeddings = this.registerModule('position_embeddings', new Embedding(c.maxPositionEmbeddings, c.hiddenSize, std));
    this.token_type_embeddings = this.registerModule('token_type_embeddings', new Embedding(c.typeVocabSize, c.hiddenSize, std));
    this.LayerNorm = this.registerModule('LayerNorm', new LayerNorm(c.hiddenSize, c.layerNormEps));
    this.dropout = this.registerModule('dropout', new Dropout(c.hiddenDropoutProb));
  }

  /** past: positions start there (the prefix length under prefix tuning). */
  forward(inputs: BertInputs, past = 0): Tensor {
    const [batch, time] = batchShape(inputs);
    if (past + time > this.config.maxPositionEmbeddings)
      throw new RangeError(`BertEmbeddings: ${past + time} positions exceed max_position_embeddings ${this.config.maxPositionEmbeddings}`);
    const positions = new Int32Array(batch * time);
    for (let b = 0; b < batch; b++) for (let t = 0; t < time; t++) positions[b * time + t] = past + t;
    const types = inputs.tokenTypeIds ?? { data: new Int32Array(batch * time), shape: [batch, time] };
    const words = inputs.inputsEmbeds ?? this.word_embeddings.forward(inputs.inputIds);
    const e = add(add(words, this.token_type_embeddings.forward(types)), this.position_embeddings.forward({ data: positions, shape: [batch, time] }));
    return this.dropout.forward(this.LayerNorm.forward(e));
  }
}

/** Linear then dropout then LayerNorm of (that + residual): BERT's post-norm output sublayer. */
class BertSublayerOutput extends Module {
  dense: Linear;
  LayerNorm: LayerNorm;
  dropout: Dropout;

  constructor(config: BertConfig, inFeatures: number) {
    super();
    this.dense = this.registerModule('dense', new Linear(inFeatures, config.hiddenSize, { init: config.initializerRange }));
    this.LayerNorm = this.registerModule('LayerNorm', new LayerNorm(config.hiddenSize, config.layerNormEps));
    this.dropout = this.registerModule('dropout', new Dropout(config.hiddenDropoutProb));
  }

  forward(x: Tensor, residual: Tensor): Tensor {
    return this.LayerNorm.forward(add(this.dropout.forward(this.dense.forward(x)), residual));
  }
}

export class BertSelfAttention extends Module {
  query: Linear;
  key: Linear;
  value: Linear;

  constructor(readonly config: BertConfig) {
    super();
    const c = config, init = c.initializerRange;
    this.query = this.registerModule('query', new Linear(c.hiddenSize, c.hiddenSize, { init }));
    this.key = this.registerModule('key', new Linear(c.hiddenSize, c.hiddenSize, { init }));
    this.value = this.registerModule('value', new Linear(c.hiddenSize, c.hiddenSize, { init }));
  }

  /** prefix: keys and values [B, P, hidden] put before the tokens' (HF's past_key_value for an encoder). */
  forward(x: Tensor, keyMask: Int32Array | null, prefix: { k: Tensor; v: Tensor } | null = null): Tensor {
    let k = this.key.forward(x), v = this.value.forward(x);
    if (prefix) {
      k = concat([prefix.k, k], 1);
      v = concat([prefix.v, v], 1);
    }
    return attention(this.query.forward(x), k, v, { qHeads: this.config.numAttentionHeads, causal: false, keyMask });
  }
}

export class BertAttention extends Module {
  self: BertSelfAttention;
  output: BertSublayerOutput;

  constructor(config: BertConfig) {
    super();
    this.self = this.registerModule('self', new BertSelfAttention(config));
    this.output = this.registerModule('output', new BertSublayerOutput(config, config.hiddenSize));
  }

  forward(x: Tensor, keyMask: Int32Array | null, prefix: { k: Tensor; v: Tensor } | null = null): Tensor {
    return this.output.forward(this.self.forward(x, keyMask, prefix), x);
  }
}

export class BertIntermediate extends Module {
  dense: Linear;
  private readonly act: (x: Tensor) => Tensor;

  constructor(config: BertConfig) {
    super();
    this.dense = this.registerModule('dense', new Linear(config.hiddenSize, config.intermediateSize, { init: config.initializerRange }));
    this.act = activation(config.hiddenAct);
  }

  forward(x: Tensor): Tensor {
    return this.act(this.dense.forward(x));
  }
}

export class BertLayer extends Module {
  attention: BertAttention;
  intermediate: BertIntermediate;
  output: BertSublayerOutput;

  constructor(config: BertConfig) {
    super();
    this.attention = this.registerModule('attention', new BertAttention(config));
    this.intermediate = this.registerModule('intermediate', new BertIntermediate(config));
    this.output = this.registerModule('output', new BertSublayerOutput(config, config.intermediateSize));
  }

  forward(x: Tensor, keyMask: Int32Array | null, prefix: { k: Tensor; v: Tensor } | null = null): Tensor {
    const a = this.attention.forward(x, keyMask, prefix);
    return this.output.forward(this.intermediate.forward(a), a);
  }
}

export class BertEncoder extends Module {
  readonly supportsGradientCheckpointing = true;
  layer: ModuleList<BertLayer>;

  constructor(config: BertConfig) {
    super();
    const layers: BertLayer[] = [];
    for (let i = 0; i < config.numHiddenLayers; i++) layers.push(new BertLayer(config));
    this.layer = this.registerModule('layer', new ModuleList(layers));
  }

  forward(x: Tensor, keyMask: Int32Array | null, prefixes: { k: Tensor; v: Tensor }[] | null = null): Tensor {
    if (prefixes && prefixes.length !== this.layer.length)
      throw new RangeError(`BertEncoder: prefixKeyValues has ${prefixes.length} entries, expected one per layer (${this.layer.length})`);
    let h = x;
    let i = 0;
    for (const l of this.layer) {
      const prefix = prefixInputs(prefixes ? prefixes[i++] : null);
      h = runBlock(this, l, (hh, ...pkv) => l.forward(hh, keyMask, prefixOf(pkv)), [h, ...prefix]);
    }
    return h;
  }
}

export class BertPooler extends Module {
  dense: Linear;

  constructor(config: BertConfig) {
    super();
    this.dense = this.registerModule('dense', new Linear(config.hiddenSize, config.hiddenSize, { init: config.initializerRange }));
  }

  /** tanh(dense(h[:, 0])) */
  forward(h: Tensor): Tensor {
    const first = h.slice(1, 0, 1).reshape([h.shape[0], h.shape[2]]);
    return tanh(this.dense.forward(first));
  }
}

export class BertModel extends Module {
  embeddings: BertEmbeddings;
  encoder: BertEncoder;
  pooler: BertPooler;

  constructor(readonly config: BertConfig) {
    super();
    this.embeddings = this.registerModule('embeddings', new BertEmbeddings(config));
    this.encoder = this.registerModule('encoder', new BertEncoder(config));
    this.pooler = this.registerModule('pooler', new BertPooler(config));
  }

  forward(inputs: BertInputs): { lastHiddenState: Tensor; pooled: Tensor } {
    const [batch, time] = batchShape(inputs);
    const prefixLen = inputs.prefixKeyValues ? inputs.prefixKeyValues[0].k.shape[1] : 0;
    const keyMask = keyMaskOf(inputs.attentionMask, batch, prefixLen + time, prefixLen);
    const h = this.encoder.forward(this.embeddings.forward(inputs, prefixLen), keyMask, inputs.prefixKeyValues ?? null);
    return { lastHiddenState: h, pooled: this.pooler.forward(h) };
  }
}

export class BertForSequenceClassification extends Module {
  bert: BertModel;
  dropout: Dropout;
  classifier: Linear;

  constructor(readonly config: BertConfig = new BertConfig()) {
    super();
    this.bert = this.registerModule('bert', new BertModel(config));
    this.dropout = this.registerModule('dropout', new Dropout(config.classifierDropout ?? config.hiddenDropoutProb));
    this.classifier = this.registerModule('classifier', new Linear(config.hiddenSize, config.numLabels, { init: config.initializerRange }));
  }

  /** logits [B, numLabels]; loss = mean cross-entropy against labels when given. */
  forward(inputs: BertInputs): { logits: Tensor; loss: Tensor | null } {
    const logits = this.classifier.forward(this.dropout.forward(this.bert.forward(inputs).pooled));
    const labels = inputs.labels ? asIntTensor(inputs.labels, 'BertForSequenceClassification') : null;
    return { logits, loss: labels ? crossEntropy(logits, labels) : null };
  }

  get inputEmbeddings(): Embedding {
    return this.bert.embeddings.word_embeddings;
  }
}
