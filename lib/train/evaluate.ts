/**
 * Evaluation over a validation set: the loss averaged over every loss term of the set (tokens with a
 * next-token target, or examples), so batch size and padding do not change it; perplexity for causal LMs;
 * accuracy and F1 for classifiers. Runs in eval mode (no dropout) without gradients, and draws nothing
 * from the random streams, so evaluating never changes the training run that follows.
 */
import type { Module } from '../nn/module';
import { noGrad } from '../tensor/autograd';
import { tidy } from '../tensor/scope';
import { collate, type TaskKind } from './data/collate';
import type { TokenizedExample } from './data/tokenize';
import { argmaxRows, classificationMetrics, perplexity } from './metrics';
import { runModel } from './model_kind';

export interface EvalOptions {
  task: TaskKind;
  padId: number;
  batchSize: number;
  /** Classification: the number of classes (binary F1 for 2, macro F1 for more). */
  numLabels?: number | null;
}

/** Metrics named as HF's Trainer logs them: eval_loss, eval_perplexity, eval_accuracy, eval_f1. */
export function evaluate(model: Module, examples: TokenizedExample[], opts: EvalOptions): Record<string, number> {
  if (examples.length === 0) throw new RangeError('evaluate: the validation set is empty');
  const wasTraining = model.training;
  model.eval();
  let lossSum = 0, terms = 0;
  const preds: number[] = [], labels: number[] = [];
  try {
    noGrad(() => {
      for (let i = 0; i < examples.length; i += opts.batchSize) {
        const batch = collate(examples.slice(i, i + opts.batchSize), opts.task, opts.padId);
        if (batch.targets === 0) continue;
        tidy(() => {
          const out = runModel(model, { inputIds: batch.inputIds, attentionMask: batch.attentionMask, labels: batch.labels });
          if (!out.loss) throw new Error('evaluate: the model returned no loss for labelled inputs');
          lossSum += out.loss.item() * batch.targets;
          terms += batch.targets;
          if (opts.task === 'seq_cls') {
            const [rows, cols] = out.logits.shape;
            preds.push(...argmaxRows(out.logits.toFloat32Array(), rows, cols));
            labels.push(...batch.labels.data);
          }
        });
      }
    });
  } finally {
    model.train(wasTraining);
  }
  const loss = terms > 0 ? lossSum / terms : NaN;
  if (opts.task === 'causal_lm') return { eval_loss: loss, eval_perplexity: perplexity(loss) };
  const m = classificationMetrics(preds, labels, opts.numLabels ?? Math.max(1, ...labels, ...preds) + 1);
  return { eval_loss: loss, eval_accuracy: m.accuracy, eval_f1: m.f1 };
}
