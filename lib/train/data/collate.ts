/**
 * Examples to a padded batch: right padding with the pad id to the longest example, attention mask 1 on
 * tokens and 0 on padding, and labels: for causal LM the input ids (or the example's own token labels, -100
 * on the tokens an SFT example does not train on) with padding set to -100 (ignored by the loss), for
 * classification the class ids. `targets` counts what the loss averages over (next-token
 * targets, or examples), which gradient accumulation uses to weight micro-batches exactly.
 */
import { IGNORE_INDEX } from '../../ops/cross_entropy/op';
import type { IntTensor } from '../../tensor/int_tensor';
import type { TokenizedExample } from './tokenize';

export type TaskKind = 'causal_lm' | 'seq_cls';

export interface Batch {
  inputIds: IntTensor;
  attentionMask: IntTensor;
  labels: IntTensor;
  /** Number of loss terms: tokens with a next-token target (causal LM) or examples (classification). */
  targets: number;
  /** Real (non-padding) tokens. */
  tokens: number;
}

export function collate(examples: TokenizedExample[], task: TaskKind, padId: number): Batch {
  if (examples.length === 0) throw new RangeError('collate: an empty batch');
  if (!Number.isInteger(padId) || padId < 0) throw new RangeError(`collate: padId must be a non-negative integer, got ${String(padId)}`);
  const rows = examples.length;
  const cols = Math.max(...examples.map((e) => e.inputIds.length));
  if (cols === 0) throw new RangeError('collate: every example in the batch is empty');
  const ids = new Int32Array(rows * cols).fill(padId);
  const mask = new Int32Array(rows * cols);
  const lm = task === 'causal_lm';
  const labels = lm ? new Int32Array(rows * cols).fill(IGNORE_INDEX) : new Int32Array(rows);
  let targets = 0, tokens = 0;
  examples.forEach((e, r) => {
    const own = lm && e.labels !== undefined ? e.labels : null;
    if (own !== null && own.length !== e.inputIds.length)
      throw new RangeError(`collate: an example${e.line !== undefined ? ` (line ${e.line})` : ''} has ${own.length} labels for ${e.inputIds.length} input ids`);
    e.inputIds.forEach((id, c) => {
      ids[r * cols + c] = id;
      mask[r * cols + c] = 1;
      if (lm) labels[r * cols + c] = own !== null ? own[c] : id;
    });
    tokens += e.inputIds.length;
    // The model shifts: the label at c (c >= 1) is the target of position c - 1; labels[0] is never one.
    if (own !== null) for (let c = 1; c < own.length; c++) targets += own[c] !== IGNORE_INDEX ? 1 : 0;
    else if (lm) targets += Math.max(0, e.inputIds.length - 1);
    else {
      if (e.label === undefined || !Number.isInteger(e.label) || e.label < 0)
        throw new RangeError(`collate: a classification example${e.line !== undefined ? ` (line ${e.line})` : ''} has no valid label (got ${String(e.label)})`);
      labels[r] = e.label;
      targets++;
    }
  });
  return {
    inputIds: { data: ids, shape: [rows, cols] },
    attentionMask: { data: mask, shape: [rows, cols] },
    labels: { data: labels, shape: lm ? [rows, cols] : [rows] },
    targets,
    tokens,
  };
}
