/**
 * The optimizer base: parameter groups, the step loop, zeroGrad and state save/load, shared by AdamW
 * and SGD. Updates run in place on each parameter's storage through the active backend's fused kernel;
 * per-parameter buffers (moments, momentum) are tensors on that backend, created on a parameter's
 * first update as torch creates them lazily.
 */
import { zeros } from '../tensor/creation';
import { keep } from '../tensor/scope';
import { backendFor, Tensor } from '../tensor/tensor';
import type { Backend, Kernels } from '../backend/types';
import { formatShape, type OptimizerStateDict, type ParamGroupStateDict, type ParamStateDict } from './state_dict';
import { loadOptimizerState, saveOptimizerState } from './state_file';

/** A group's parameters and hyperparameters; the hyperparameters (lr above all) may be changed between steps. */
export type ParamGroup<H> = H & { params: Tensor[] };

/** What a constructor takes: parameters (one group with the defaults) or groups that override some defaults. */
export type ParamsInput<H> = Tensor[] | ({ params: Tensor[] } & Partial<H>)[];

export interface ParamState {
  step: number;
  buffers: Record<string, Tensor>;
}

export abstract class Optimizer<H extends { lr: number }> {
  readonly paramGroups: ParamGroup<H>[];
  readonly defaults: Readonly<H>;
  private readonly state = new Map<Tensor, ParamState>();

  protected constructor(readonly name: string, params: ParamsInput<H>, defaults: H) {
    this.defaults = Object.freeze({ ...defaults });
    this.checkHyperparameters(defaults, name);
    if (!Array.isArray(params)) throw new TypeError(`${name}: params must be an array of tensors or of {params, ...} groups`);
    if (params.length === 0) throw new RangeError(`${name}: got an empty parameter list`);
    const specs = params.every((p) => p instanceof Tensor) ? [{ params: params as Tensor[] }] : (params as ({ params: Tensor[] } & Partial<H>)[]);
    const seen = new Set<Tensor>();
    this.paramGroups = specs.map((spec, gi) => {
      const where = `${name}: param group ${gi}`;
      if (typeof spec !== 'object' || spec === null || spec instanceof Tensor || !Array.isArray(spec.params))
        throw new TypeError(`${name}: params must be all tensors or all {params: Tensor[], ...} groups (entry ${gi} is neither)`);
      const group = { ...defaults, ...spec, params: [...spec.params] } as ParamGroup<H>;
      for (const [k, v] of Object.entries(spec)) if (v === undefined) (group as Record<string, unknown>)[k] = (defaults as Record<string, unknown>)[k];
      this.checkHyperparameters(group, where);
      group.params.forEach((p, pi) => {
        if (!(p instanceof Tensor)) throw new TypeError(`${where}: parameter ${pi} is not a Tensor`);
        if (seen.has(p)) throw new RangeError(`${where}: parameter ${pi} appears in more than one parameter group`);
        seen.add(p);
        this.checkParam(p, `${where}, parameter ${pi}`);
      });
      return group;
    });
  }

  /** Throws a RangeError/TypeError naming `where` for a value torch.optim would refuse. */
  protected abstract checkHyperparameters(h: H, where: string): void;
  /** The names of the buffers a parameter's state holds once it has been updated (for loadStateDict). */
  protected abstract bufferNames(group: ParamGroup<H>): string[];
  /** One fused update of `param` (contiguous, on backend b) from `grad`; state.step is already incremented. */
  protected abstract update(b: Backend, param: Tensor, grad: Tensor, group: ParamGroup<H>, state: ParamState): void;

  /** Applies one update to every parameter that has a gradient; returns the closure's loss when one is given. */
  step(closure?: () => number): number | undefined {
    const loss = closure === undefined ? undefined : closure();
    this.paramGroups.forEach((g, gi) => this.checkHyperparameters(g, `${this.name}.step: param group ${gi}`));
    let index = 0;
    for (const group of this.paramGroups) {
      for (const param of group.params) {
        const where = `${this.name}.step: parameter ${index++}`;
        if (param.grad === null) continue;
        this.checkParam(param, where);
        const b = backendFor(param, `${this.name}.step`);
        const grad = this.checkedGrad(param, where);
        let state = this.state.get(param);
        if (state === undefined) {
          state = { step: 0, buffers: {} };
          this.state.set(param, state);
        }
        state.step++;
        try {
          this.update(b, param, grad, group, state);
        } catch (e) {
          state.step--;  // the update did not happen
          throw e;
        } finally {
          if (grad !== param.grad) grad.dispose();
        }
      }
    }
    return loss;
  }

  /** Drops every gradient (torch's zero_grad(set_to_none=True)): each grad tensor is disposed and set to null. */
  zeroGrad(): void {
    for (const group of this.paramGroups) for (const p of group.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** The buffer `name` of a parameter's state, created as zeros on the active backend and kept out of scopes. */
  protected buffer(state: ParamState, name: string, param: Tensor): Tensor {
    let t = state.buffers[name];
    if (t === undefined) {
      t = keep(zeros([...param.shape]));
      state.buffers[name] = t;
    }
    return t;
  }

  /** A kernel of backend b, or an error saying the backend lacks it. */
  protected kernel<K extends 'adamwStep' | 'sgdStep'>(b: Backend, k: K): Kernels[K] {
    return b.kernels.get(k, `${this.name}.step`);
  }

  /** Every parameter in the flat order of the groups (the indices of stateDict). */
  private allParams(): Tensor[] {
    return this.paramGroups.flatMap((g) => g.params);
  }

  private checkParam(p: Tensor, where: string): void {
    p.assertAlive(where);
    if (!p.isContiguous()) throw new Error(`${where}: parameter ${formatShape(p.shape)} is not contiguous (updates run in place on its storage)`);
  }

  private checkedGrad(param: Tensor, where: string): Tensor {
    const grad = param.grad!;
    grad.assertAlive(`${where} grad`);
    if (grad.shape.length !== param.shape.length || grad.shape.some((d, i) => d !== param.shape[i]))
      throw new RangeError(`${where}: grad has shape ${formatShape(grad.shape)}, expected the parameter's ${formatShape(param.shape)}`);
    if (grad.device !== param.device) throw new Error(`${where}: grad is on '${grad.device}', the parameter on '${param.device}'`);
    return grad.isContiguous() ? grad : grad.contiguous();
  }

  /** Buffers copied to host arrays, update counts, and each group's hyperparameters with its parameter indices. */
  stateDict(): OptimizerStateDict {
    const params = this.allParams();
    const state: Record<number, ParamStateDict> = {};
    params.forEach((p, i) => {
      const s = this.state.get(p);
      if (s === undefined) return;
      const buffers: Record<string, Float32Array> = {};
      for (const [name, t] of Object.entries(s.buffers)) buffers[name] = t.toFloat32Array();
      state[i] = { step: s.step, shape: [...p.shape], buffers };
    });
    let next = 0;
    const paramGroups = this.paramGroups.map((g) => {
      const { params: ps, ...hyper } = g;
      return { ...structuredClone(hyper), params: ps.map(() => next++) } as ParamGroupStateDict;
    });
    return { state, paramGroups };
  }

  /**
   * Restores a stateDict() of an optimizer of the same kind over parameters of the same shapes, in the same
   * groups. Everything is checked before anything changes; errors name the parameter index and both shapes.
   */
  loadStateDict(sd: OptimizerStateDict): void {
    const where = `${this.name}.loadStateDict`;
    if (typeof sd !== 'object' || sd === null || typeof sd.state !== 'object' || sd.state === null || !Array.isArray(sd.paramGroups))
      throw new TypeError(`${where}: expected {state, paramGroups}`);
    if (sd.paramGroups.length !== this.paramGroups.length)
      throw new RangeError(`${where}: the saved state has ${sd.paramGroups.length} parameter groups, this optimizer ${this.paramGroups.length}`);
    const groups = sd.paramGroups.map((saved, gi) => {
      const own = this.paramGroups[gi];
      if (!Array.isArray(saved.params) || saved.params.length !== own.params.length)
        throw new RangeError(`${where}: param group ${gi} has ${own.params.length} parameters, the saved one ${Array.isArray(saved.params) ? saved.params.length : 'none'}`);
      const { params: _ignored, ...hyper } = saved;
      const merged = { ...own, ...structuredClone(hyper), params: own.params } as ParamGroup<H>;
      this.checkHyperparameters(merged, `${where}: saved param group ${gi}`);
      return merged;
    });
    const params = this.allParams();
    const loaded = new Map<Tensor, { step: number; buffers: Record<string, Float32Array> }>();
    for (const [key, s] of Object.entries(sd.state)) {
      const i = Number(key);
      if (!Number.isInteger(i) || i < 0 || i >= params.length)
        throw new RangeError(`${where}: the saved state is for parameter ${key}, but there are ${params.length} parameters`);
      const p = params[i];
      const group = groups.find((g) => g.params.includes(p))!;
      if (typeof s !== 'object' || s === null) throw new TypeError(`${where}: parameter ${i}: state must be an object`);
      if (!Number.isInteger(s.step) || s.step < 0) throw new RangeError(`${where}: parameter ${i}: step must be a non-negative integer, got ${String(s.step)}`);
      if (!Array.isArray(s.shape) || s.shape.length !== p.shape.length || s.shape.some((d, k) => d !== p.shape[k]))
        throw new RangeError(`${where}: parameter ${i} has shape ${formatShape(p.shape)} but its saved state has shape ${Array.isArray(s.shape) ? formatShape(s.shape) : String(s.shape)}`);
      const expected = this.bufferNames(group);
      const names = Object.keys(s.buffers ?? {});
      if (names.length !== expected.length || !expected.every((n) => names.includes(n)))
        throw new RangeError(`${where}: parameter ${i}: saved buffers [${names.join(', ')}], expected [${expected.join(', ')}]`);
      for (const n of expected) {
        const v = s.buffers[n];
        if (!isFloat32Array(v) || v.length !== p.size)
          throw new RangeError(`${where}: parameter ${i} ${formatShape(p.shape)}: saved ${n} has ${isFloat32Array(v) ? v.length : 'no'} float32 values, expected ${p.size}`);
      }
      loaded.set(p, { step: s.step, buffers: s.buffers });
    }
    // Checked: now replace the state and the hyperparameters.
    for (const s of this.state.values()) for (const t of Object.values(s.buffers)) t.dispose();
    this.state.clear();
    for (const [p, s] of loaded) {
      const buffers: Record<string, Tensor> = {};
      const b = backendFor(p, where);
      for (const [n, values] of Object.entries(s.buffers)) {
        const t = keep(zeros([...p.shape]));
        b.write(t.buf(), values);
        buffers[n] = t;
      }
      this.state.set(p, { step: s.step, buffers });
    }
    groups.forEach((g, gi) => Object.assign(this.paramGroups[gi], g));
  }

  /** Writes stateDict() to one safetensors file (buffers as tensors, the rest as JSON metadata), atomically. */
  saveState(file: string): void {
    saveOptimizerState(file, this.name, this.stateDict());
  }

  /** Reads a saveState() file and loadStateDict()s it. */
  loadState(file: string): void {
    const state = loadOptimizerState(file, this.name);
    try {
      this.loadStateDict(state);
    } catch (e) {
      // The file read as a state file but its steps or shapes do not fit this optimizer: name the file.
      if (e instanceof Error && !e.message.includes(file)) e.message = `${file}: ${e.message}`;
      throw e;
    }
  }

  /** Frees every state buffer (the optimizer can still step: buffers are recreated as zeros). */
  dispose(): void {
    for (const s of this.state.values()) for (const t of Object.values(s.buffers)) t.dispose();
    this.state.clear();
  }
}

/** Also true for a Float32Array of another realm (a vm context, structuredClone in a test runner). */
function isFloat32Array(v: unknown): v is Float32Array {
  return Object.prototype.toString.call(v) === '[object Float32Array]';
}
