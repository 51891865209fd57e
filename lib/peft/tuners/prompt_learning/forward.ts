/**
 * Running a model with an adapter's virtual tokens, as HF's PeftModelForCausalLM and
 * PeftModelForSequenceClassification do:
 * - prompt tuning and P-tuning put the prompts [n, d] before the token embeddings, extend the attention
 *   mask with ones, token_type_ids with zeros, and (causal LMs) labels with -100; position ids are
 *   dropped (HF ignores them) and the logits cover the virtual tokens too.
 * - prefix tuning hands each layer its key/value prefix (HF's past_key_values); the models put ones for
 *   the prefix in the attention mask themselves. The tokens' positions start at the prefix length, as HF's
 *   models number them after past_key_values (BERT does so itself; Llama and GPT-2 get positionIds here).
 * With a KV cache (generation), virtual tokens are put in on the first call only: later steps find them
 * in the cache; prefixes are handed to every step.
 */
import { BertForSequenceClassification } from '../../../nn/models/bert/model';
import type { Module } from '../../../nn/module';
import type { IntTensor } from '../../../tensor/int_tensor';
import { IGNORE_INDEX } from '../../../ops/cross_entropy/op';
import { concat } from '../../../tensor/shape_ops';
import type { Tensor } from '../../../tensor/tensor';
import type { TaskType } from '../../config';
import { wordEmbeddings } from './model_config';

/** What the models' forwards take (CausalLMInputs and BertInputs together). */
export interface PromptInputs {
  inputIds: IntTensor;
  attentionMask?: IntTensor | null;
  labels?: IntTensor | null;
  tokenTypeIds?: IntTensor | null;
  positionIds?: IntTensor | null;
  inputsEmbeds?: Tensor | null;
  prefixKeyValues?: { k: Tensor; v: Tensor }[] | null;
  cache?: { length: number } | null;
}

type Forward = { forward(inputs: PromptInputs): unknown };

/** Labels per sequence (sequence classification) or per token (causal LM): the task type, else the model's class. */
export function labelsPerToken(model: Module, taskType: TaskType | null): boolean {
  if (taskType === 'SEQ_CLS') return false;
  if (taskType === 'CAUSAL_LM') return true;
  return !(model instanceof BertForSequenceClassification);
}

function batchOf(inputs: PromptInputs, op: string): number {
  const shape = inputs.inputsEmbeds ? inputs.inputsEmbeds.shape : inputs.inputIds?.shape;
  if (!shape || shape.length < 2) throw new RangeError(`${op}: expected inputIds [B, T] or inputsEmbeds [B, T, d]`);
  return shape[0];
}

/** [B, n + cols] ints: `value` for the first n columns of every row, then t's. */
function prependInts(t: IntTensor, n: number, value: number): IntTensor {
  const [batch, cols] = t.shape;
  const out = new Int32Array(batch * (n + cols));
  for (let b = 0; b < batch; b++) {
    out.fill(value, b * (n + cols), b * (n + cols) + n);
    out.set(t.data.subarray(b * cols, (b + 1) * cols), b * (n + cols) + n);
  }
  return { data: out, shape: [batch, n + cols] };
}

/** rows [n, d] repeated for each of `batch` sequences: [batch, n, d] (gradients flow back to rows). */
export function repeatBatch(rows: Tensor, batch: number): Tensor {
  const one = rows.reshape([1, ...rows.shape]);
  return batch === 1 ? one : concat(new Array<Tensor>(batch).fill(one), 0);
}

/** The model's forward with the prompts [n, d] put before the tokens. */
export function forwardWithPrompts(model: Module, inputs: PromptInputs, prompts: Tensor, perTokenLabels: boolean, op: string): unknown {
  const m = model as unknown as Forward;
  if (inputs.cache && inputs.cache.length > 0) return m.forward(inputs);
  if (inputs.prefixKeyValues) throw new Error(`${op}: prefixKeyValues cannot be combined with prompt tuning`);
  const batch = batchOf(inputs, op);
  const n = prompts.shape[0];
  const embeds = inputs.inputsEmbeds ?? wordEmbeddings(model, op).forward(inputs.inputIds);
  const out: PromptInputs = {
    ...inputs,
    inputsEmbeds: concat([repeatBatch(prompts, batch), embeds], 1),
    positionIds: null,
  };
  if (inputs.attentionMask) out.attentionMask = prependInts(inputs.attentionMask, n, 1);
  if (inputs.tokenTypeIds) out.tokenTypeIds = prependInts(inputs.tokenTypeIds, n, 0);
  if (inputs.labels && perTokenLabels) out.labels = prependInts(inputs.labels, n, IGNORE_INDEX);
  return m.forward(out);
}

/**
 * The model's forward with per-layer prefixes from the table [P, numLayers * 2 * width]: layer l's keys
 * are columns [2l w, (2l+1) w), its values the next w (HF's view [P, 2L, heads, head_dim] split in pairs).
 */
export function forwardWithPrefixes(model: Module, inputs: PromptInputs, table: Tensor, numLayers: number, op: string): unknown {
  const m = model as unknown as Forward;
  if (inputs.prefixKeyValues) throw new Error(`${op}: prefixKeyValues are the adapter's under prefix tuning; pass none`);
  const batch = batchOf(inputs, op);
  const [p, cols] = table.shape;
  const width = cols / (2 * numLayers);
  const all = repeatBatch(table, batch);
  const prefixKeyValues: { k: Tensor; v: Tensor }[] = [];
  for (let l = 0; l < numLayers; l++)
    prefixKeyValues.push({ k: all.slice(2, 2 * l * width, (2 * l + 1) * width), v: all.slice(2, (2 * l + 1) * width, (2 * l + 2) * width) });
  const out: PromptInputs = { ...inputs, prefixKeyValues };
  if (!(model instanceof BertForSequenceClassification) && !inputs.positionIds) {
    const time = (inputs.inputsEmbeds ?? inputs.inputIds).shape[1];
    const past = inputs.cache ? inputs.cache.length : 0;
    const positions = new Int32Array(batch * time);
    for (let b = 0; b < batch; b++) for (let t = 0; t < time; t++) positions[b * time + t] = p + past + t;
    out.positionIds = { data: positions, shape: [batch, time] };
  }
  return m.forward(out);
}
