/** The Trainer on the tiny models: the loss falls, accumulation equals a larger batch, evaluation, early stopping, param groups, progress. */
import {
  AdamW, getPeftModel, LoraConfig, type LogEntry, type PeftParamGroup, setBackend, SGD, Trainer,
} from '../../lib';
import { countingData, goldenBert, goldenGpt2, weightsOf } from './train_fixtures';

beforeAll(() => setBackend('native'));

describe('Trainer', () => {
  it('a tiny GPT-2 trains for a few dozen steps and its loss falls; logs and evaluation have the expected keys', () => {
    const logs: LogEntry[] = [];
    const trainer = new Trainer(goldenGpt2(), {
      trainDataset: countingData(32), evalDataset: countingData(8).map((e) => ({ inputIds: e.inputIds.map((t) => (t + 1) % 89) })),
      batchSize: 4, maxSteps: 40, lr: 1e-2, scheduler: 'constant', evalSteps: 20, progress: false, onLog: (e) => logs.push(e),
    });
    expect(trainer.task).toBe('causal_lm');
    const r = trainer.train();
    expect(r.globalStep).toBe(40);
    const first = r.stepLosses[0].loss, last = r.stepLosses.slice(-5).reduce((a, b) => a + b.loss, 0) / 5;
    expect(first).toBeGreaterThan(4);  // about ln(89) = 4.49 at the start
    expect(last).toBeLessThan(first * 0.6);
    const evals = logs.filter((e) => 'eval_loss' in e);
    expect(evals.map((e) => e.step)).toEqual([20, 40]);
    expect(evals[1].eval_perplexity).toBeCloseTo(Math.exp(evals[1].eval_loss as number), 6);
    expect(logs.filter((e) => 'loss' in e)).toHaveLength(40);
    expect(Object.keys(logs[0]).sort()).toEqual(['epoch', 'grad_norm', 'loss', 'lr', 'step']);
    expect(r.epoch).toBe(5);  // 40 steps of 4 over 32 examples
  });

  it.each([
    ['equal lengths (no padding)', [8]],
    ['unequal lengths (padding in the batch of 2)', [8, 5]],
  ])('gradient accumulation 2 x batch 1 gives the gradients of batch 2: %s', (_name, lengths) => {
    const data = countingData(2, lengths as number[]);
    // SGD with lr 1 and no clipping: the update is the gradient itself.
    const run = (batchSize: number, accumulation: number) => {
      const model = goldenGpt2();
      const before = weightsOf(model);
      const t = new Trainer(model, {
        trainDataset: data, batchSize, gradientAccumulationSteps: accumulation, maxSteps: 1, shuffle: false, maxGradNorm: 0,
        scheduler: 'constant', optimizer: (groups) => new SGD(groups, { lr: 1 }) as never, progress: false,
      });
      const r = t.train();
      const grads = new Map([...weightsOf(model)].map(([k, w]) => [k, w.map((x, i) => before.get(k)![i] - x)]));
      return { loss: r.stepLosses[0].loss, grads };
    };
    const big = run(2, 1), small = run(1, 2);
    expect(small.loss).toBeCloseTo(big.loss, 5);
    for (const [k, g] of big.grads) expect(small.grads.get(k)!).toAllClose(g, { atol: 1e-5, rtol: 1e-4 });
  });

  it('early stopping stops after `patience` evaluations without improvement', () => {
    // lr 0: the eval loss never changes, so every evaluation after the first is no better.
    const trainer = new Trainer(goldenGpt2(), {
      trainDataset: countingData(8), evalDataset: countingData(4), batchSize: 4, maxSteps: 50, lr: 0, evalSteps: 2,
      earlyStopping: { metric: 'eval_loss', patience: 2, mode: 'min' }, progress: false,
    });
    const r = trainer.train();
    expect(r.stoppedEarly).toBe(true);
    expect(r.globalStep).toBe(6);  // evals at 2 (best), 4 and 6 (no better twice)
    const improving = new Trainer(goldenGpt2(), {
      trainDataset: countingData(8), evalDataset: countingData(4), batchSize: 4, maxSteps: 8, lr: 1e-2, scheduler: 'constant', evalSteps: 2,
      earlyStopping: { metric: 'eval_loss', patience: 1 }, progress: false,
    });
    expect(improving.train()).toMatchObject({ stoppedEarly: false, globalStep: 8 });
  });

  it('a classifier (BERT) trains and evaluates with accuracy and F1', () => {
    const data = Array.from({ length: 16 }, (_, k) => ({ inputIds: [2, 10 + (k % 2) * 20, 11 + (k % 2) * 20, 3], label: k % 2 }));
    const model = goldenBert();
    const trainer = new Trainer(model, { trainDataset: data, evalDataset: data, batchSize: 8, maxSteps: 30, lr: 5e-3, scheduler: 'constant', progress: false });
    expect(trainer.task).toBe('seq_cls');
    expect(trainer.padId).toBe(0);  // BERT's pad_token_id
    const before = trainer.evaluate();
    expect(Object.keys(before).sort()).toEqual(['eval_accuracy', 'eval_f1', 'eval_loss']);
    const r = trainer.train();
    expect(r.lastEval!.eval_loss).toBeLessThan(before.eval_loss);
    expect(r.lastEval!.eval_accuracy).toBe(1);
    expect(r.lastEval!.eval_f1).toBe(1);
  });

  it('a PEFT config can ask for its own parameter groups (the hook diff pruning uses for alphaLearningRate)', () => {
    class GroupedLora extends LoraConfig {
      override optimizerParamGroups(): PeftParamGroup[] {
        return [{ name: 'lora_B', match: (p) => p.includes('.lora_B.'), lr: 0.5, weightDecay: 0 }];
      }
    }
    const peft = getPeftModel(goldenGpt2(), new GroupedLora({ r: 2, targetModules: ['c_attn'] }));
    const trainer = new Trainer(peft, { trainDataset: countingData(4), batchSize: 2, maxSteps: 1, lr: 1e-3, weightDecay: 0.01, scheduler: 'constant', progress: false });
    const groups = trainer.optimizer.paramGroups as AdamW['paramGroups'];
    expect(groups.map((g) => [g.lr, g.weightDecay, g.params.length])).toEqual([[1e-3, 0.01, 2], [0.5, 0, 2]]);
    // The JSON config is unchanged by the hook (it is a method, not a field).
    expect(Object.keys(new GroupedLora().toJSON())).toEqual(Object.keys(new LoraConfig().toJSON()));
  });

  it('progress: plain lines (loss, tokens/s, ETA) when the stream is not a terminal', () => {
    const lines: string[] = [];
    const trainer = new Trainer(goldenGpt2(), {
      trainDataset: countingData(4), batchSize: 2, maxSteps: 3, progress: { write: (s: string) => lines.push(s), isTTY: false },
    });
    trainer.train();
    expect(lines).toHaveLength(3);
    for (const l of lines) {
      expect(l).toMatch(/^\[[#-]+\] \d\/3 loss \d+\.\d{4} \| [\d.k]+ tok\/s \| ETA [\d:?]+\n$/);
      expect(l).not.toContain('\r');
    }
  });

  it('bad options are errors naming the option', () => {
    expect(() => new Trainer(goldenGpt2(), { trainDataset: [] })).toThrow(/trainDataset must be a non-empty/);
    expect(() => new Trainer(goldenGpt2(), { trainDataset: countingData(2), batchSize: 0 })).toThrow(/batchSize must be a positive integer, got 0/);
    expect(() => new Trainer(goldenGpt2(), { trainDataset: countingData(2), padId: 89 })).toThrow(/pad id 89 is outside the model's vocabulary \[0, 89\)/);
    expect(() => new Trainer(goldenGpt2(), { trainDataset: countingData(2), saveSteps: 2 })).toThrow(/saveSteps needs an outputDir/);
    expect(() => new Trainer(goldenGpt2(), { trainDataset: countingData(2), earlyStopping: { metric: 'eval_loss', patience: 1 } })).toThrow(/needs an evalDataset/);
  });
});
