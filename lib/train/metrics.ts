/**
 * Evaluation metrics as Hugging Face's evaluate (scikit-learn underneath) computes them: accuracy, binary
 * F1 of the positive class, macro F1 over the classes present in labels or predictions (a class whose
 * precision or recall has no denominator scores 0, sklearn's zero_division=0), and perplexity = exp(loss).
 */

function checkPairs(preds: ArrayLike<number>, labels: ArrayLike<number>, op: string): void {
  if (preds.length !== labels.length) throw new RangeError(`${op}: ${preds.length} predictions but ${labels.length} labels`);
  for (let i = 0; i < preds.length; i++) {
    if (!Number.isInteger(preds[i]) || !Number.isInteger(labels[i]))
      throw new TypeError(`${op}: predictions and labels must be integer class ids (index ${i}: ${preds[i]}, ${labels[i]})`);
  }
}

/** The fraction of predictions equal to their label (NaN for no examples). */
export function accuracy(preds: ArrayLike<number>, labels: ArrayLike<number>): number {
  checkPairs(preds, labels, 'accuracy');
  let right = 0;
  for (let i = 0; i < preds.length; i++) if (preds[i] === labels[i]) right++;
  return preds.length === 0 ? NaN : right / preds.length;
}

/** F1 of one class treated as positive: 2 tp / (2 tp + fp + fn), 0 when there is no tp, fp or fn at all. */
export function f1ForClass(preds: ArrayLike<number>, labels: ArrayLike<number>, positive: number): number {
  let tp = 0, fp = 0, fn = 0;
  for (let i = 0; i < preds.length; i++) {
    const p = preds[i] === positive, l = labels[i] === positive;
    if (p && l) tp++;
    else if (p) fp++;
    else if (l) fn++;
  }
  const denom = 2 * tp + fp + fn;
  return denom === 0 ? 0 : (2 * tp) / denom;
}

/** Binary F1: the F1 of the positive class (default 1), sklearn's average='binary'. */
export function f1Binary(preds: ArrayLike<number>, labels: ArrayLike<number>, positive = 1): number {
  checkPairs(preds, labels, 'f1Binary');
  return f1ForClass(preds, labels, positive);
}

/** Macro F1: the unweighted mean of every class's F1, over the classes that occur in labels or predictions. */
export function f1Macro(preds: ArrayLike<number>, labels: ArrayLike<number>): number {
  checkPairs(preds, labels, 'f1Macro');
  const classes = new Set<number>();
  for (let i = 0; i < preds.length; i++) {
    classes.add(preds[i]);
    classes.add(labels[i]);
  }
  if (classes.size === 0) return NaN;
  let sum = 0;
  for (const c of classes) sum += f1ForClass(preds, labels, c);
  return sum / classes.size;
}

/** exp(mean token cross-entropy), in nats. */
export function perplexity(meanLoss: number): number {
  return Math.exp(meanLoss);
}

/** The index of each row's largest value (the first on ties) of a row-major [rows, cols] array. */
export function argmaxRows(values: ArrayLike<number>, rows: number, cols: number): number[] {
  if (values.length !== rows * cols) throw new RangeError(`argmaxRows: ${values.length} values do not fill [${rows}, ${cols}]`);
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 1; c < cols; c++) if (values[r * cols + c] > values[r * cols + best]) best = c;
    out.push(best);
  }
  return out;
}

export interface ClassificationMetrics {
  accuracy: number;
  /** Binary F1 of class 1 with two labels, macro F1 with more. */
  f1: number;
}

export function classificationMetrics(preds: ArrayLike<number>, labels: ArrayLike<number>, numLabels: number): ClassificationMetrics {
  return { accuracy: accuracy(preds, labels), f1: numLabels === 2 ? f1Binary(preds, labels, 1) : f1Macro(preds, labels) };
}
