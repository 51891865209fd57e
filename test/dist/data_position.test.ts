/**
 * Resuming at another global batch size (lib/train/data_position.ts): where the epoch continues, and the
 * Trainer's refusal when the checkpoint's step plan cannot be kept. In one process (no MPI): a checkpoint's
 * global batch is worldSize * batchSize, so a change of per-rank batch size exercises the same mapping as a
 * change of world size (test/dist/ddp.test.ts resumes 2-rank checkpoints in one process).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { getPeftModel, loadHfModel, LoraConfig, type Module, Trainer, type TokenizedExample } from '../../lib';
import { readTrainerState } from '../../lib/train/checkpoint';
import { mapDataPosition } from '../../lib/train/data_position';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'peftjs-datapos-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('mapDataPosition', () => {
  const w = (worldSize: number, batchSize: number) => ({ worldSize, batchSize });
  it.each([
    // [batchInEpoch, from, to, examples] -> expected
    ['the same global batch, split differently', 8, w(2, 2), w(1, 4), 38, { batchInEpoch: 8, nextEpoch: false, examplesDone: 32, skipped: 0 }],
    ['a multiple: no example skipped', 3, w(1, 4), w(4, 1), 38, { batchInEpoch: 3, nextEpoch: false, examplesDone: 12, skipped: 0 }],
    ['a larger global batch: up to the next whole one', 8, w(2, 2), w(1, 3), 38, { batchInEpoch: 11, nextEpoch: false, examplesDone: 32, skipped: 1 }],
    ['a smaller global batch', 5, w(4, 2), w(2, 2), 100, { batchInEpoch: 10, nextEpoch: false, examplesDone: 40, skipped: 0 }],
    ['no whole batch left in the epoch: the next epoch', 9, w(2, 2), w(2, 4), 38, { batchInEpoch: 0, nextEpoch: true, examplesDone: 36, skipped: 2 }],
    ['the start of an epoch', 0, w(2, 2), w(3, 5), 38, { batchInEpoch: 0, nextEpoch: false, examplesDone: 0, skipped: 0 }],
  ])('%s', (_, k, from, to, n, expected) => {
    expect(mapDataPosition(k as number, from as never, to as never, n as number)).toEqual(expected);
  });

  it('refuses nonsense by name', () => {
    expect(() => mapDataPosition(-1, w(1, 1), w(1, 1), 4)).toThrow('mapDataPosition: batchInEpoch must be a non-negative integer, got -1');
    expect(() => mapDataPosition(0, w(0, 1), w(1, 1), 4)).toThrow(/mapDataPosition: from must have positive integer worldSize and batchSize/);
  });
});

describe('Trainer: resuming at another batch size', () => {
  const data: TokenizedExample[] = Array.from({ length: 12 }, (_, k) => ({ inputIds: Array.from({ length: 5 + (k % 3) }, (_, t) => (7 * k + 3 * t) % 97) }));
  const model = () => getPeftModel(loadHfModel(path.join(__dirname, '..', 'fixtures', 'models', 'llama')) as unknown as Module, new LoraConfig({ r: 2, targetModules: ['q_proj'] })) as unknown as Module;

  it('a plan in epochs that the new size would change is refused, saying to pass maxSteps', () => {
    const out = path.join(tmp, 'epochs');
    new Trainer(model(), { trainDataset: data, batchSize: 4, epochs: 1, saveSteps: 2, outputDir: out, progress: false, padId: 0 }).train();
    expect(readTrainerState(path.join(out, 'checkpoint-2'))).toMatchObject({ worldSize: 1, batchSize: 4, rankRandom: null, batchInEpoch: 2 });
    const resumed = new Trainer(model(), { trainDataset: data, batchSize: 2, epochs: 1, outputDir: out, resumeFromCheckpoint: path.join(out, 'checkpoint-2'), progress: false, padId: 0 });
    expect(() => resumed.train()).toThrow(/checkpoint .*checkpoint-2 is of a run of 3 steps, this one plans 6 .*written by 1 rank x batch 4, this run is 1 rank x batch 2: pass maxSteps: 3 to continue its plan at the new size/);
  });

  it('with maxSteps it continues from the mapped position', () => {
    const out = path.join(tmp, 'steps');
    new Trainer(model(), { trainDataset: data, batchSize: 4, maxSteps: 3, saveSteps: 2, outputDir: out, progress: false, padId: 0 }).train();
    // Step 2 at batch 4 trained examples [0, 8); at batch 2 that is batch 4 of 6: one step left in the epoch.
    const r = new Trainer(model(), { trainDataset: data, batchSize: 2, maxSteps: 3, saveSteps: 3, outputDir: out, resumeFromCheckpoint: path.join(out, 'checkpoint-2'), progress: false, padId: 0 }).train();
    expect(r.globalStep).toBe(3);
    expect(readTrainerState(path.join(out, 'checkpoint-3'))).toMatchObject({ epoch: 0, batchInEpoch: 5, batchSize: 2 });
  });
});
