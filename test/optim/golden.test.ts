/** AdamW, SGD, the schedules and clipGradNorm against torch 1.13's numbers, on every CPU backend. */
import { AdamW, clipGradNorm, clipGradNormTensor, fromArray, getScheduler, type Optimizer, type ScheduleName, setBackend, SGD, type Tensor } from '../../lib';
import { backendsUnderTest, backendsWithKernels } from '../helpers/backends';
import { golden, makeParams, setGrads } from './fixtures';

const cpuBackends = backendsWithKernels('adamwStep');
const TOL = { atol: 1e-7, rtol: 1e-6 };

const CASES: Record<string, (ps: Tensor[]) => Optimizer<{ lr: number }>> = {
  adamw: (ps) => new AdamW(ps, { lr: 1e-2, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.1 }),
  adamw_defaults: (ps) => new AdamW(ps),
  adamw_groups: (ps) => new AdamW([{ params: ps.slice(0, 1), lr: 2e-2 }, { params: ps.slice(1), lr: 5e-3, weightDecay: 0, betas: [0.8, 0.99] }],
    { lr: 1e-2, weightDecay: 0.05 }),
  sgd: (ps) => new SGD(ps, { lr: 0.1 }),
  sgd_momentum: (ps) => new SGD(ps, { lr: 0.1, momentum: 0.9 }),
  sgd_nesterov: (ps) => new SGD(ps, { lr: 0.1, momentum: 0.9, nesterov: true }),
  sgd_dampening_wd: (ps) => new SGD(ps, { lr: 0.05, momentum: 0.8, dampening: 0.5, weightDecay: 0.01 }),
  sgd_groups: (ps) => new SGD([{ params: ps.slice(0, 1), lr: 0.2 }, { params: ps.slice(1), momentum: 0.5 }], { lr: 0.1, momentum: 0.9 }),
};

describe.each(cpuBackends)('optimizers against torch on %s', (name) => {
  beforeAll(() => setBackend(name));

  it('covers every fixture case', () => {
    expect(Object.keys(CASES).sort()).toEqual(Object.keys(golden.optimizers).sort());
  });

  it.each(Object.keys(CASES))('%s: 5 steps (one parameter without a grad on step 2)', (key) => {
    const params = makeParams();
    const opt = CASES[key](params);
    golden.optimizers[key].forEach((expected, step) => {
      setGrads(params, step);
      opt.step();
      params.forEach((p, i) => expect(p).toAllClose(Float32Array.from(expected[i]), TOL));
    });
    opt.zeroGrad();
    expect(params.every((p) => p.grad === null)).toBe(true);
    opt.dispose();
    params.forEach((p) => p.dispose());
  });

  it.each(golden.clip.map((c) => [c.maxNorm, c.normType, c] as const))('clipGradNorm maxNorm=%f normType=%s', (_m, _n, c) => {
    const params = makeParams();
    setGrads(params, 0);
    const total = clipGradNorm(params, c.maxNorm, c.normType === 'inf' ? Infinity : c.normType);
    expect(total).toAllClose(c.totalNorm, TOL);
    params.forEach((p, i) => expect(p.grad!).toAllClose(Float32Array.from(c.grads[i]), TOL));
    params.forEach((p) => { p.grad!.dispose(); p.dispose(); });
  });

  // The device path (what clipGradNorm runs on a GPU): float32 sums, the norm left in a one-element tensor.
  it.each(golden.clip.filter((c) => c.normType === 2).map((c) => [c.maxNorm, c] as const))('clipGradNormTensor maxNorm=%f', (_m, c) => {
    const params = makeParams();
    setGrads(params, 0);
    const total = clipGradNormTensor(params, c.maxNorm);
    expect(total.shape).toEqual([1]);
    expect(total.item()).toAllClose(c.totalNorm, { atol: 1e-6, rtol: 1e-5 });
    params.forEach((p, i) => expect(p.grad!).toAllClose(Float32Array.from(c.grads[i]), { atol: 1e-6, rtol: 1e-5 }));
    total.dispose();
    params.forEach((p) => { p.grad!.dispose(); p.dispose(); });
  });
});

describe('schedules against torch LambdaLR with HF lambdas', () => {
  it.each(Object.keys(golden.schedules))('%s', (key) => {
    const g = golden.schedules[key];
    setBackend('js');
    const params = g.baseLrs.map(() => fromArray([0], [1]));
    const opt = new SGD(params.map((p, i) => ({ params: [p], lr: g.baseLrs[i] })), { lr: 0.1 });
    const sched = getScheduler(key as ScheduleName, opt, { warmupSteps: g.options.warmup, totalSteps: g.options.total });
    const lrs = [sched.getLastLr()];
    for (let s = 1; s < g.lrs.length; s++) {
      sched.step();
      lrs.push(sched.getLastLr());
      expect(opt.paramGroups.map((pg) => pg.lr)).toEqual(sched.getLastLr());
    }
    lrs.forEach((row, s) => row.forEach((lr, i) => expect(lr).toBeCloseTo(g.lrs[s][i], 15)));
  });
});
