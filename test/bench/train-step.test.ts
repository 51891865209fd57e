/**
 * The train_step bench row's builder at a tiny size: three full fine-tuning steps of a GPT-2 on one batch
 * give finite losses that fall. Timings are the benchmark's business, not asserted here.
 */
import { withBackend } from '../../lib';
import { buildTrainStep, randomIds, type TrainShape } from '../../bench/train_step';
import { backendsUnderTest } from '../helpers/backends';

const tiny: TrainShape = { L: 2, H: 2, d: 32, V: 64, T: 16, B: 2 };
const cpuBackends = backendsUnderTest().filter((b) => b === 'native' || b === 'js');

describe.each(cpuBackends)('train_step builder on %s', (backend) => {
  it('three steps: finite losses that decrease, near ln V at the start', () => {
    const losses = withBackend(backend, () => {
      const t = buildTrainStep(tiny);
      return [t.step(), t.step(), t.step()];
    });
    for (const l of losses) expect(Number.isFinite(l)).toBe(true);
    expect(losses[1]).toBeLessThan(losses[0]);
    expect(losses[2]).toBeLessThan(losses[1]);
    // GPT-2's 0.02 init gives near-uniform logits: the first loss is about ln V.
    expect(Math.abs(losses[0] - Math.log(tiny.V))).toBeLessThan(0.1);
  });
});

describe('randomIds', () => {
  it('fills [B, T] with ids in [0, V), deterministically', () => {
    const a = randomIds(tiny), b = randomIds(tiny);
    expect(a.shape).toEqual([tiny.B, tiny.T]);
    expect(a.data).toEqual(b.data);
    for (const id of a.data) expect(id >= 0 && id < tiny.V).toBe(true);
    expect(new Set(a.data).size).toBeGreaterThan(10);
  });
});
