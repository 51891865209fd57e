/**
 * Optimizer and scheduler state: stateDict -> loadStateDict and saveState -> loadState into fresh
 * objects, then continuing, gives bit for bit the parameters of an uninterrupted run.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { AdamW, fromArray, getScheduler, listSafetensors, type LRScheduler, type Optimizer, setBackend, SGD, type Tensor } from '../../lib';
import { backendsUnderTest, backendsWithKernels } from '../helpers/backends';
import { golden, makeParams, setGrads } from './fixtures';

const cpuBackends = backendsWithKernels('adamwStep', 'sgdStep');
const STEPS = golden.grads.length;

type Make = (ps: Tensor[]) => Optimizer<{ lr: number }>;
const MAKERS: [string, Make][] = [
  ['AdamW with groups', (ps) => new AdamW([{ params: ps.slice(0, 2), lr: 2e-2 }, { params: ps.slice(2), weightDecay: 0 }], { weightDecay: 0.1 })],
  ['SGD with nesterov momentum', (ps) => new SGD(ps, { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01 })],
  ['SGD without momentum', (ps) => new SGD(ps, { lr: 0.1 })],
];

function run(from: number, to: number, params: Tensor[], opt: Optimizer<{ lr: number }>, sched: LRScheduler): void {
  for (let s = from; s < to; s++) {
    setGrads(params, s);
    opt.step();
    sched.step();
    opt.zeroGrad();
  }
}

let dir: string;
beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peftjs-optim-')); });
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe.each(cpuBackends)('optimizer state on %s', (name) => {
  beforeAll(() => setBackend(name));

  describe.each(MAKERS)('%s', (_label, make) => {
    const uninterrupted = () => {
      const params = makeParams();
      const opt = make(params);
      const sched = getScheduler('linear', opt, { warmupSteps: 1, totalSteps: STEPS + 1 });
      run(0, STEPS, params, opt, sched);
      return params.map((p) => p.toFloat32Array());
    };

    for (const via of ['stateDict', 'file'] as const) {
      it(`resumes bit-exactly through ${via === 'file' ? 'saveState/loadState' : 'stateDict/loadStateDict'}`, () => {
        const want = uninterrupted();
        // First half, then save everything a checkpoint holds.
        const params = makeParams();
        const opt = make(params);
        const sched = getScheduler('linear', opt, { warmupSteps: 1, totalSteps: STEPS + 1 });
        run(0, 2, params, opt, sched);
        const file = path.join(dir, `${name}-${_label.replace(/ /g, '_')}.safetensors`);
        const saved = via === 'file' ? (opt.saveState(file), null) : opt.stateDict();
        const schedState = JSON.parse(JSON.stringify(sched.stateDict()));
        const values = params.map((p) => p.toFloat32Array());
        opt.dispose();
        // A fresh process' worth of objects: parameters from the saved values, a new optimizer (its lrs are
        // the constructor's until the state is loaded) and a new scheduler.
        const params2 = values.map((v, i) => fromArray(v, golden.shapes[i]));
        const opt2 = make(params2);
        const sched2 = getScheduler('linear', opt2, { warmupSteps: 1, totalSteps: STEPS + 1 });
        if (via === 'file') opt2.loadState(file);
        else opt2.loadStateDict(saved!);
        sched2.loadStateDict(schedState);
        run(2, STEPS, params2, opt2, sched2);
        params2.forEach((p, i) => expect(p.toFloat32Array()).toEqual(want[i]));
      });
    }
  });

  it('stateDict holds host copies, step counts, shapes and hyperparameters', () => {
    const params = makeParams();
    const opt = new AdamW([{ params: params.slice(0, 1), lr: 0.5 }, { params: params.slice(1) }], { betas: [0.8, 0.9] });
    setGrads(params, 0);
    opt.step();
    setGrads(params, 1);  // parameter 2 has no grad on this step
    opt.step();
    const sd = opt.stateDict();
    expect(Object.keys(sd.state)).toEqual(['0', '1', '2']);
    expect(sd.state[0].step).toBe(2);
    expect(sd.state[2].step).toBe(1);
    expect(sd.state[1].shape).toEqual([4]);
    expect(sd.state[0].buffers.expAvg).toBeInstanceOf(Float32Array);
    expect(sd.paramGroups).toEqual([
      { lr: 0.5, betas: [0.8, 0.9], eps: 1e-8, weightDecay: 1e-2, params: [0] },
      { lr: 1e-3, betas: [0.8, 0.9], eps: 1e-8, weightDecay: 1e-2, params: [1, 2] },
    ]);
    // A copy: changing it does not change the optimizer.
    sd.state[0].buffers.expAvg[0] = 123;
    expect(opt.stateDict().state[0].buffers.expAvg[0]).not.toBe(123);
  });

  it('writes a safetensors file with the buffers as tensors and the rest as metadata', () => {
    const params = makeParams();
    const opt = new SGD(params, { lr: 0.1, momentum: 0.9 });
    setGrads(params, 0);
    opt.step();
    const file = path.join(dir, 'sgd.safetensors');
    opt.saveState(file);
    const { tensors, metadata } = listSafetensors(file);
    expect(tensors.map((t) => [t.name, t.shape])).toEqual([
      ['state.0.momentumBuffer', [2, 3]], ['state.1.momentumBuffer', [4]], ['state.2.momentumBuffer', [3]]]);
    expect(metadata.format).toBe('peftjs-optimizer');
    expect(metadata.optimizer).toBe('SGD');
    expect(JSON.parse(metadata.param_groups)[0].momentum).toBe(0.9);
    // Loading it into an AdamW is refused.
    expect(() => new AdamW(makeParams()).loadState(file)).toThrow(/the state is of a SGD optimizer, not AdamW/);
    // No temporary files are left behind.
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('sets lr per group, and the schedule multiplies each group\'s base lr', () => {
    const params = makeParams();
    const opt = new SGD([{ params: params.slice(0, 1), lr: 1 }, { params: params.slice(1), lr: 0.1 }], { lr: 0.5 });
    const sched = getScheduler('constant_with_warmup', opt, { warmupSteps: 2 });
    expect(sched.getLastLr()).toEqual([0, 0]);
    sched.step();
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([0.5, 0.05]);
    sched.step();
    expect(sched.getLastLr()).toEqual([1, 0.1]);
    opt.paramGroups[1].lr = 0.25;
    const before = params[1].toFloat32Array();
    setGrads(params, 0);
    opt.step();
    const g = Float32Array.from(golden.grads[0][1]);
    expect(params[1]).toAllClose(before.map((v, i) => v - 0.25 * g[i]), { atol: 1e-7, rtol: 1e-6 });
  });
});
