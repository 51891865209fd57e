/** Bad hyperparameters, parameters, gradients and saved states give errors that say what is wrong. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { AdamW, clipGradNorm, fromArray, getScheduler, LRScheduler, saveSafetensors, scheduleLambda, setBackend, SGD } from '../../lib';
import { loadAddon, type NativeAddon } from '../../lib/backend/native/addon';
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
  ] as [() => unknown, string][])('%#: %s', (fn, message) => {
    expect(fn).toThrow(message);
  });

  it('clipGradNorm with no gradients returns 0', () => {
    expect(clipGradNorm(makeParams(), 1)).toBe(0);
  });
});

const addon = loadAddon();

(addon ? describe : describe.skip)('native optimizer entry points reject bad input', () => {
  const f = (n: number) => new Float32Array(n);
  type Spec = { fn: keyof NativeAddon; op: string; args: () => unknown[]; dims: number[]; arrays: number[] };
  const specs: Spec[] = [
    { fn: 'adamwStep', op: 'adamwStep', args: () => [5, f(5), f(5), f(5), f(5), 1e-3, 0.9, 0.999, 1e-8, 0.01, 1], dims: [0, 10], arrays: [1, 2, 3, 4] },
    { fn: 'sgdStep', op: 'sgdStep', args: () => [5, f(5), f(5), f(5), 0.1, 0.9, 0, false, 0, true], dims: [0], arrays: [1, 2, 3] },
    { fn: 'sumSquares', op: 'sumSquares', args: () => [f(5), 5], dims: [1], arrays: [0] },
  ];
  const call = (spec: Spec, args: unknown[]) => () => (addon as unknown as Record<string, (...a: unknown[]) => unknown>)[spec.fn](...args);

  describe.each(specs)('$fn', (spec) => {
    const nameRe = new RegExp(`^${spec.op}: `);
    it('accepts its valid arguments and rejects a wrong count', () => {
      expect(call(spec, spec.args())).not.toThrow();
      expect(call(spec, spec.args().slice(0, -1))).toThrow(/expected \d+ arguments, got \d+/);
    });
    it('rejects a value of the wrong type in every position', () => {
      spec.args().forEach((_, i) => {
        const args = spec.args();
        args[i] = Symbol.for('wrong') as unknown;
        expect(call(spec, args)).toThrow(nameRe);
      });
    });
    it('rejects negative, NaN, fractional and huge sizes', () => {
      for (const i of spec.dims) for (const bad of [-1, NaN, 1.5, Infinity, 2 ** 53]) {
        const args = spec.args();
        args[i] = bad;
        expect(call(spec, args)).toThrow(nameRe);
      }
    });
    it('rejects arrays that are too short, of the wrong type, or detached', () => {
      for (const i of spec.arrays) {
        for (const bad of [f(1), new Float64Array(64), [1, 2, 3, 4, 5]]) {
          const args = spec.args();
          args[i] = bad;
          expect(call(spec, args)).toThrow(nameRe);
        }
        const buffer = addon!.alloc(64);
        const detached = new Float32Array(buffer);
        addon!.free(buffer);
        const args = spec.args();
        args[i] = detached;
        expect(call(spec, args)).toThrow(/disposed tensor's storage is empty/);
      }
    });
  });

  it('checks hyperparameter ranges and combinations, naming expected and actual', () => {
    expect(() => addon!.adamwStep(5, f(4), f(5), f(5), f(5), 1e-3, 0.9, 0.999, 1e-8, 0, 1)).toThrow("adamwStep: argument 'param' has 4 elements, expected at least 5");
    expect(() => addon!.adamwStep(5, f(5), f(5), f(5), f(5), -1e-3, 0.9, 0.999, 1e-8, 0, 1)).toThrow('adamwStep: lr must be >= 0, got');
    expect(() => addon!.adamwStep(5, f(5), f(5), f(5), f(5), 1e-3, 1, 0.999, 1e-8, 0, 1)).toThrow('adamwStep: beta1 must be in [0, 1), got 1');
    expect(() => addon!.adamwStep(5, f(5), f(5), f(5), f(5), 1e-3, 0.9, 0.999, 1e-8, 0, 0)).toThrow('adamwStep: step must be >= 1');
    expect(() => addon!.adamwStep(5, f(5), f(5), f(5), f(5), Infinity, 0.9, 0.999, 1e-8, 0, 1)).toThrow('adamwStep: lr must be finite, got Infinity');
    expect(() => addon!.sgdStep(5, f(5), f(5), null, 0.1, 0.9, 0, false, 0, true)).toThrow('sgdStep: momentum 0.900000 needs a momentumBuf of 5 elements, got null');
    expect(() => addon!.sgdStep(5, f(5), f(5), f(5), 0.1, 0, 0, true, 0, true)).toThrow('sgdStep: nesterov momentum requires a momentum > 0 and zero dampening');
    expect(() => addon!.sgdStep(5, f(5), f(5), null, 0.1, 0, 0, false, 0, true)).not.toThrow();
  });
});
