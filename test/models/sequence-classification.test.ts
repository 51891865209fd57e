/**
 * LlamaForSequenceClassification: HF's pooling on the last real token, mean pooling over the real tokens,
 * both with virtual tokens (prompt tuning) before a padded batch, a loss that training lowers.
 */
import {
  AdamW, fromArray, getPeftModel, intTensor, LlamaConfig, LlamaForSequenceClassification, manualSeed, matmul, noGrad,
  PromptTuningConfig, setBackend, tidy,
} from '../../lib';

describe('LlamaForSequenceClassification', () => {
  const config = new LlamaConfig({ vocabSize: 50, hiddenSize: 16, intermediateSize: 24, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2, padTokenId: 0 });

  it('pools the last real token of each row (padding on the right ignored)', () => {
    setBackend('native');
    manualSeed(1);
    const model = new LlamaForSequenceClassification(config);
    const padded = noGrad(() => model.forward({ inputIds: intTensor([[5, 6, 7, 0, 0]]), attentionMask: intTensor([[1, 1, 1, 0, 0]]) }).logits);
    const alone = noGrad(() => model.forward({ inputIds: intTensor([[5, 6, 7]]) }).logits);
    expect(padded).toAllClose(alone, { atol: 1e-5 });
    expect(padded.shape).toEqual([1, 2]);
    model.dispose();
  });

  it('mean pooling: the head sees the mean of the real tokens\' hidden states; pads get no gradient', () => {
    setBackend('native');
    manualSeed(3);
    const model = new LlamaForSequenceClassification(new LlamaConfig({ ...config, classifierPooling: 'mean' }));
    expect(model.config.toDict().classifier_pooling).toBe('mean');
    expect(new LlamaConfig().toDict()).not.toHaveProperty('classifier_pooling');
    expect(() => new LlamaConfig({ classifierPooling: 'max' as 'mean' })).toThrow(/classifier_pooling must be 'last' or 'mean', got "max"/);
    const ids = intTensor([[5, 6, 7, 0, 0]]);
    const mask = intTensor([[1, 1, 1, 0, 0]]);
    const padded = noGrad(() => model.forward({ inputIds: ids, attentionMask: mask }).logits);
    const alone = noGrad(() => model.forward({ inputIds: intTensor([[5, 6, 7]]) }).logits);
    expect(padded).toAllClose(alone, { atol: 1e-5 });
    const byHand = noGrad(() => {
      const h = model.model.forward({ inputIds: intTensor([[5, 6, 7]]) }).reshape([3, 16]);
      return model.score.forward(matmul(fromArray([1 / 3, 1 / 3, 1 / 3], [1, 3]), h));
    });
    expect(padded).toAllClose(byHand, { atol: 1e-5 });
    // Not the last token's logits: the pooling changed.
    const last = new LlamaForSequenceClassification(config);
    last.loadStateDict(new Map(model.stateDict()));
    expect(() => expect(noGrad(() => last.forward({ inputIds: ids, attentionMask: mask }).logits)).toAllClose(padded, { atol: 1e-4 })).toThrow();
    // Every real position feeds the mean; the pads feed nothing.
    const embeds = model.model.embed_tokens.forward(ids).detach().requiresGrad_();
    model.forward({ inputIds: ids, inputsEmbeds: embeds, attentionMask: mask, labels: intTensor([1], [1]) }).loss!.backward();
    const g = embeds.grad!.toFloat32Array();
    const rowNorm = (t: number) => Math.hypot(...g.subarray(t * 16, (t + 1) * 16));
    expect([0, 1, 2].every((t) => rowNorm(t) > 0)).toBe(true);
    expect([3, 4].map(rowNorm)).toEqual([0, 0]);
    model.dispose();
    last.dispose();
  });

  it.each(['last', 'mean'] as const)('%s pooling under prompt tuning: a padded batch equals each row alone', (pooling) => {
    setBackend('native');
    manualSeed(4);
    const base = new LlamaForSequenceClassification(new LlamaConfig({ ...config, classifierPooling: pooling }));
    const peft = getPeftModel(base, new PromptTuningConfig({ numVirtualTokens: 3, taskType: 'SEQ_CLS' }));
    const run = (ids: number[][], mask?: number[][]) =>
      noGrad(() => (peft.forward({ inputIds: intTensor(ids), attentionMask: mask ? intTensor(mask) : null }) as { logits: { toFloat32Array(): Float32Array } }).logits.toFloat32Array());
    const batch = run([[5, 6, 7, 8], [9, 10, 0, 0]], [[1, 1, 1, 1], [1, 1, 0, 0]]);
    const first = run([[5, 6, 7, 8]]), second = run([[9, 10]]);
    for (const [i, v] of [...first, ...second].entries()) expect(batch[i]).toBeCloseTo(v, 5);
    peft.dispose();
  });

  it('learns a toy task (the loss falls) and saves under HF names', () => {
    setBackend('native');
    manualSeed(2);
    const model = new LlamaForSequenceClassification(config);
    expect(model.namedParameters().map(([n]) => n)).toContain('score.weight');
    const ids = intTensor([[3, 4, 5, 6], [7, 8, 9, 10], [3, 4, 6, 5], [8, 7, 10, 9]]);
    const labels = intTensor([0, 1, 0, 1], [4]);
    const opt = new AdamW(model.parameters(), { lr: 1e-2 });
    const losses: number[] = [];
    for (let i = 0; i < 15; i++) {
      opt.zeroGrad();
      losses.push(tidy(() => {
        const { loss } = model.forward({ inputIds: ids, labels });
        loss!.backward();
        return loss!.item();
      }));
      opt.step();
    }
    expect(losses[losses.length - 1]).toBeLessThan(losses[0] * 0.5);
    model.dispose();
  });
});
