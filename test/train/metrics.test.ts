/** Metrics against values worked out by hand (the counts are in the comments). */
import { accuracy, argmaxRows, classificationMetrics, f1Binary, f1Macro, perplexity } from '../../lib';

describe('metrics', () => {
  // preds  1 0 1 1 0 1
  // labels 1 0 0 1 1 1
  // class 1: tp = 3 (0, 3, 5), fp = 1 (2), fn = 1 (4) -> F1 = 2*3 / (2*3 + 1 + 1) = 0.75
  // class 0: tp = 1 (1), fp = 1 (4), fn = 1 (2)       -> F1 = 2 / 4 = 0.5
  const preds = [1, 0, 1, 1, 0, 1], labels = [1, 0, 0, 1, 1, 1];

  it('accuracy: 4 of 6 right', () => {
    expect(accuracy(preds, labels)).toBeCloseTo(4 / 6, 12);
    expect(accuracy([], [])).toBeNaN();
  });

  it('binary F1 of the positive class, and of class 0 when it is the positive one', () => {
    expect(f1Binary(preds, labels)).toBeCloseTo(0.75, 12);
    expect(f1Binary(preds, labels, 0)).toBeCloseTo(0.5, 12);
    // No positive predicted and none true: sklearn's zero_division gives 0.
    expect(f1Binary([0, 0], [0, 0])).toBe(0);
  });

  it('macro F1 averages the classes present', () => {
    expect(f1Macro(preds, labels)).toBeCloseTo((0.75 + 0.5) / 2, 12);
    // preds  0 1 2 2 1 0 / labels 0 2 2 1 1 0
    // class 0: tp 2, fp 0, fn 0 -> 1; class 1: tp 1 (4), fp 1 (1), fn 1 (3) -> 0.5; class 2: tp 1 (2), fp 1 (3), fn 1 (1) -> 0.5
    expect(f1Macro([0, 1, 2, 2, 1, 0], [0, 2, 2, 1, 1, 0])).toBeCloseTo(2 / 3, 12);
    // A class only predicted (3, never true) scores 0 and still counts: (1 + 0) / 2.
    expect(f1Macro([0, 3], [0, 0])).toBeCloseTo((2 / 3 + 0) / 2, 12);
  });

  it('classificationMetrics picks binary F1 for two labels and macro F1 for more', () => {
    expect(classificationMetrics(preds, labels, 2)).toEqual({ accuracy: 4 / 6, f1: 0.75 });
    expect(classificationMetrics(preds, labels, 3).f1).toBeCloseTo(0.625, 12);
  });

  it('perplexity is exp(loss); argmax takes the first of ties', () => {
    expect(perplexity(0)).toBe(1);
    expect(perplexity(Math.log(89))).toBeCloseTo(89, 10);
    expect(argmaxRows([0.1, 0.9, 0.3, 5, 5, 1], 2, 3)).toEqual([1, 0]);
  });

  it('mismatched lengths and non-integer ids are errors naming the metric', () => {
    expect(() => accuracy([1, 0], [1])).toThrow(/accuracy: 2 predictions but 1 labels/);
    expect(() => f1Macro([0.5], [1])).toThrow(/f1Macro: .*integer/);
  });
});
