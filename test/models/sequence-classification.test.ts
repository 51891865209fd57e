/** LlamaForSequenceClassification: HF's pooling on the last real token, a loss that training lowers. */
import { AdamW, intTensor, LlamaConfig, LlamaForSequenceClassification, manualSeed, noGrad, setBackend, tidy } from '../../lib';

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
