/** Bad hyperparameters, parameters, gradients and saved states give errors that say what is wrong. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { AdamW, backend, clipGradNorm, clipGradNormTensor, fromArray, getScheduler, LRScheduler, saveSafetensors, scheduleLambda, setBackend, SGD } from '../../lib';
import { loadAddon } from '../../lib/backend/native/addon';
import { hostParams } from '../../lib/backend/native/views';
import { messageOf } from '../helpers/bad_input/case';
import { OPTIM_CASES } from '../helpers/bad_input/optim';
import { bufOf } from '../helpers/bufs';
import { makeParams, setGrads } from './fixtures';

beforeAll(() => setBackend('js'));

describe('optimizer constructors check hyperparameters as torch does', () => {
  const p = () => [fromArray([1, 2, 3], [3])];

  it.each([
    [() => new AdamW(p(), { lr: -1 }), 'AdamW: invalid learning rate -1 (expected a finite number >= 0)'],
    [() => new AdamW(p(), { lr: NaN }), 'AdamW: invalid learning rate NaN'],
    [() => new AdamW(p(), { betas: [1, 0.999] }), 'AdamW: invalid beta parameter at index 0 1 (expected a number in [0, 1))'],
    [() => new AdamW(p(), { betas: [0.9, -0.1] }), 'AdamW: invalid beta parameter at index 1 -0.1'],
    [() => new AdamW(p(), { betas: [0.9] as unknown as [number, number] }), 'AdamW: betas must be a pair [beta1, beta2], got [0.9]'],
    [() => new AdamW(p(), { eps: -1e-8 }), 'AdamW: invalid epsilon value -1e-8'],
    [() => new AdamW(p(), { weightDecay: -0.1 }), 'AdamW: invalid weightDecay value -0.1'],
    [() => new AdamW([{ params: p(), lr: -2 }]), 'AdamW: param group 0: invalid learning rate -2'],
    [() => new SGD(p(), {} as { lr: number }), 'SGD: lr is required'],
    [() => new SGD(p(), { lr: -0.1 }), 'SGD: invalid learning rate -0.1'],
    [() => new SGD(p(), { lr: 0.1, momentum: -1 }), 'SGD: invalid momentum value -1'],
    [() => new SGD(p(), { lr: 0.1, nesterov: true }), 'SGD: Nesterov momentum requires a momentum > 0 and zero dampening (got momentum 0, dampening 0)'],
    [() => new SGD(p(), { lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true }), 'SGD: Nesterov momentum requires a momentum > 0 and zero dampening'],
    [() => new AdamW([]), 'AdamW: got an empty parameter list'],
  ] as [() => unknown, string][])('%#: %s', (make, message) => {
    expect(make).toThrow(message);
  });

  it('refuses a parameter in two groups and a non-contiguous parameter', () => {
    const a = fromArray([1, 2], [2]);
    expect(() => new AdamW([{ params: [a] }, { params: [a] }])).toThrow('AdamW: param group 1: parameter 0 appears in more than one parameter group');
    const m = fromArray([[1, 2, 3], [4, 5, 6]]).T;
    expect(() => new SGD([m], { lr: 1 })).toThrow('SGD: param group 0, parameter 0: parameter [3, 2] is not contiguous');
  });
});

describe('step checks what changed since construction', () => {
  it('a negative lr set on a group, a grad of the wrong shape, a disposed parameter', () => {
    const params = makeParams();
    const opt = new AdamW(params);
    setGrads(params, 0);
    opt.paramGroups[0].lr = -1;
    expect(() => opt.step()).toThrow('AdamW.step: param group 0: invalid learning rate -1');
    opt.paramGroups[0].lr = 1e-3;
    params[1].grad = fromArray([1, 2], [2]);
    expect(() => opt.step()).toThrow("AdamW.step: parameter 1: grad has shape [2], expected the parameter's [4]");
    params[1].grad = null;
    params[2].dispose();
    expect(() => opt.step()).toThrow(/AdamW.step: parameter 2.*was disposed/);
  });
});

describe('loadStateDict validates before changing anything', () => {
  const setup = () => {
    const params = makeParams();
    const opt = new AdamW(params);
    setGrads(params, 0);
    opt.step();
    return { params, opt, sd: opt.stateDict() };
  };

  it('names the parameter index and both shapes', () => {
    const { sd } = setup();
    const other = [fromArray([1, 2, 3, 4, 5, 6], [3, 2]), ...makeParams().slice(1)];
    expect(() => new AdamW(other).loadStateDict(sd)).toThrow('AdamW.loadStateDict: parameter 0 has shape [3, 2] but its saved state has shape [2, 3]');
  });

  it('refuses other group counts, group sizes, buffer lengths, buffer names and indices', () => {
    const { params, opt, sd } = setup();
    const before = opt.stateDict();
    expect(() => new AdamW([{ params: params.slice(0, 1) }, { params: params.slice(1) }]).loadStateDict(sd))
      .toThrow('AdamW.loadStateDict: the saved state has 1 parameter groups, this optimizer 2');
    expect(() => new AdamW(params.slice(0, 2)).loadStateDict(sd)).toThrow('AdamW.loadStateDict: param group 0 has 2 parameters, the saved one 3');
    const short = structuredClone(sd);
    short.state[1].buffers.expAvgSq = new Float32Array(3);
    expect(() => opt.loadStateDict(short)).toThrow('AdamW.loadStateDict: parameter 1 [4]: saved expAvgSq has 3 float32 values, expected 4');
    const renamed = structuredClone(sd);
    renamed.state[2].buffers = { momentumBuffer: new Float32Array(3) };
    expect(() => opt.loadStateDict(renamed)).toThrow('AdamW.loadStateDict: parameter 2: saved buffers [momentumBuffer], expected [expAvg, expAvgSq]');
    const extra = structuredClone(sd);
    extra.state[7] = extra.state[0];
    expect(() => opt.loadStateDict(extra)).toThrow('AdamW.loadStateDict: the saved state is for parameter 7, but there are 3 parameters');
    const badStep = structuredClone(sd);
    badStep.state[0].step = 1.5;
    expect(() => opt.loadStateDict(badStep)).toThrow('AdamW.loadStateDict: parameter 0: step must be a non-negative integer, got 1.5');
    const badLr = structuredClone(sd);
    badLr.paramGroups[0].lr = -3;
    expect(() => opt.loadStateDict(badLr)).toThrow('AdamW.loadStateDict: saved param group 0: invalid learning rate -3');
    // Nothing changed on the way.
    expect(opt.stateDict()).toEqual(before);
  });

  it('refuses files that are not optimizer states, naming the file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peftjs-optim-bad-'));
    try {
      const file = path.join(dir, 'weights.safetensors');
      saveSafetensors(file, { w: fromArray([1, 2], [2]) });
      expect(() => new SGD(makeParams(), { lr: 1 }).loadState(file)).toThrow(`SGD state file ${file}: not an optimizer state file`);
      expect(() => new SGD(makeParams(), { lr: 1 }).loadState(path.join(dir, 'missing.safetensors'))).toThrow(/missing\.safetensors/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('schedules and clipping refuse bad options', () => {
  it.each([
    [() => scheduleLambda('linear', { warmupSteps: 2 }), "schedule 'linear' requires totalSteps"],
    [() => scheduleLambda('cosine', { totalSteps: -1 }), "schedule 'cosine': totalSteps must be a non-negative integer, got -1"],
    [() => scheduleLambda('constant_with_warmup', { warmupSteps: 1.5 }), "schedule 'constant_with_warmup': warmupSteps must be a non-negative integer, got 1.5"],
    [() => scheduleLambda('polynomial' as never), "unknown schedule 'polynomial'"],
    [() => new LRScheduler(new SGD(makeParams(), { lr: 1 }), [() => 1, () => 1]), 'LRScheduler: got 2 lambdas for 1 param groups'],
    [() => getScheduler('constant', new SGD(makeParams(), { lr: 1 })).loadStateDict({ lastStep: 2, baseLrs: [1, 2] }),
      'LRScheduler.loadStateDict: baseLrs must be 1 finite numbers >= 0 (one per param group), got [1,2]'],
    [() => clipGradNorm(makeParams(), -1), 'clipGradNorm: maxNorm must be a number >= 0, got -1'],
    [() => clipGradNorm(makeParams(), 1, 0), 'clipGradNorm: normType must be > 0 or Infinity, got 0'],
    [() => clipGradNormTensor(makeParams(), NaN), 'clipGradNormTensor: maxNorm must be a number >= 0, got NaN'],
  ] as [() => unknown, string][])('%#: %s', (fn, message) => {
    expect(fn).toThrow(message);
  });

  it('clipGradNorm with no gradients returns 0 (clipGradNormTensor a one-element 0)', () => {
    expect(clipGradNorm(makeParams(), 1)).toBe(0);
    expect(clipGradNormTensor(makeParams(), 1).toFloat32Array()).toEqual(new Float32Array([0]));
  });
});

const addon = loadAddon();

/**
 * The kernels' own checks: the bad-input harness (bad-input-kernels.test.ts, cases in
 * helpers/bad_input/optim.ts) runs every field through the registry on every backend; here the addon,
 * called without the registry, gives the same message for every refused range, and refuses arrays of
 * another type or detached.
 */
(addon ? describe : describe.skip)('native optimizer entry points, called without the registry', () => {
  const js = backend('js');
  const jsBuf = (n: number) => bufOf(js, new Float32Array(n));

  describe.each(OPTIM_CASES.map((c) => [c.kernel, c] as const))('%s', (name, c) => {
    const raw = (p: unknown) => (addon as unknown as Record<string, (p: unknown) => unknown>)[name](p);

    it("gives the registry's message for every refused range", () => {
      for (const [change, message] of c.ranges) {
        const p = { ...c.params(jsBuf), ...change };
        expect([change, messageOf(() => raw(hostParams(p)))]).toEqual([change, `${name}: ${message}`]);
        expect([change, messageOf(() => (js.kernels.get(name, 'test') as (p: unknown) => unknown)(p))]).toEqual([change, `${name}: ${message}`]);
      }
    });

    it('refuses arrays of another type or detached', () => {
      const valid = hostParams(c.params(jsBuf));
      for (const field of c.bufs) {
        for (const bad of [new Float64Array(64), [1, 2, 3, 4, 5], 5]) {
          expect(() => raw({ ...valid, [field]: bad })).toThrow(new RegExp(`^${name}: argument '${field}' must be a Float32Array, got`));
        }
        const buffer = addon!.alloc(64);
        const detached = new Float32Array(buffer);
        addon!.free(buffer);
        expect(() => raw({ ...valid, [field]: detached })).toThrow(/disposed tensor's storage is empty/);
      }
    });
  });

  it('sgdStep without momentum needs no momentum buffer, and ignores one', () => {
    const p = (momentumBuf: Float32Array | null) => ({ n: 5, param: new Float32Array(5), grad: new Float32Array(5), momentumBuf, lr: 0.1, momentum: 0,
      dampening: 0, nesterov: false, weightDecay: 0, firstStep: true });
    expect(() => addon!.sgdStep(p(null))).not.toThrow();
    expect(() => addon!.sgdStep(p(new Float32Array(1)))).toThrow("sgdStep: argument 'momentumBuf' has 1 elements, expected at least 5");
    const unused = new Float32Array(5).fill(7);
    addon!.sgdStep(p(unused));
    expect(Array.from(unused)).toEqual(new Array(5).fill(7));
  });
});
