/**
 * A long training loop keeps memory flat: 1,000 steps of a small GPT with AdamW, each step in tidy(); the
 * live tensor count returns to the same number every step and RSS stays within 10% after warm-up. The
 * warm-up is 500 steps because V8 grows its young generation (heapTotal 10 -> 50 MB) over the first few
 * hundred steps of any allocation-heavy loop, then holds it.
 */
import { AdamW, GPT2Config, GPT2LMHeadModel, manualSeed, memory, setBackend, tidy } from '../../lib';

describe('a 1,000-step training loop', () => {
  jest.setTimeout(120_000);
  it('keeps the live tensors constant and RSS flat (within 10% after warm-up)', () => {
    setBackend('native');
    manualSeed(3);
    const model = new GPT2LMHeadModel(new GPT2Config({ vocabSize: 64, nPositions: 32, nEmbd: 32, nLayer: 2, nHead: 4, residPdrop: 0, embdPdrop: 0, attnPdrop: 0 }));
    const opt = new AdamW(model.parameters(), { lr: 1e-3 });
    const ids = { data: Int32Array.from({ length: 2 * 16 }, (_, i) => (i * 7) % 64), shape: [2, 16] };
    const step = () => {
      opt.zeroGrad();
      const loss = tidy(() => {
        const out = model.forward({ inputIds: ids, labels: ids });
        out.loss!.backward();
        return out.loss!.item();
      });
      opt.step();
      return loss;
    };
    for (let i = 0; i < 500; i++) step();
    global.gc?.();
    const tensorsAfterWarmup = memory().numTensors;
    const rssAfterWarmup = process.memoryUsage().rss;
    let last = 0;
    for (let i = 0; i < 1000; i++) {
      last = step();
      if (i % 100 === 0) expect(memory().numTensors).toBe(tensorsAfterWarmup);
    }
    global.gc?.();
    const rss = process.memoryUsage().rss;
    expect(memory().numTensors).toBe(tensorsAfterWarmup);
    expect(rss / rssAfterWarmup).toBeLessThan(1.1);
    expect(Number.isFinite(last)).toBe(true);
    opt.dispose();
    model.dispose();
  });
});
