/**
 * Module: a tree of named parameters and submodules, addressed by dotted paths exactly as PyTorch and
 * Hugging Face name them (`model.layers.0.self_attn.q_proj.weight`), so PEFT target names and
 * checkpoint keys mean the same thing here as there.
 */
import { backendFor, type Tensor } from '../tensor/tensor';
import { keep } from '../tensor/scope';
import { formatShape } from '../tensor/shape';
import { isCheckpointableStack } from './checkpointing';

/** Makes t a trainable parameter: requires a gradient and is never disposed by a tidy() scope. */
export function parameter(t: Tensor, trainable = true): Tensor {
  keep(t);
  t.requiresGrad = trainable;
  return t;
}

export interface LoadResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

export abstract class Module {
  /** Training mode: dropout is active; eval() turns it off. */
  training = true;
  private readonly params = new Map<string, Tensor | null>();
  private readonly children = new Map<string, Module | null>();

  /** Registers (or replaces) a parameter under a local name; null declares an absent optional one. */
  registerParameter(name: string, t: Tensor | null): Tensor | null {
    checkLocalName(name, 'registerParameter');
    if (t !== null) keep(t);
    this.params.set(name, t);
    return t;
  }

  /** Registers (or replaces) a submodule under a local name. */
  registerModule<M extends Module | null>(name: string, m: M): M {
    checkLocalName(name, 'registerModule');
    if (m === (this as unknown)) throw new Error(`registerModule: a module cannot contain itself ('${name}')`);
    this.children.set(name, m);
    return m;
  }

  /** This module's own parameters (not its children's). */
  localParameters(): [string, Tensor][] {
    return [...this.params].filter((e): e is [string, Tensor] => e[1] !== null);
  }

  namedChildren(): [string, Module][] {
    return [...this.children].filter((e): e is [string, Module] => e[1] !== null);
  }

  /** Every module of the tree with its dotted path ('' for this one), parents before children. */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [name, child] of this.namedChildren()) out.push(...child.namedModules(prefix ? `${prefix}.${name}` : name));
    return out;
  }

  /**
   * Every parameter with its dotted path. A tensor shared by two modules (tied embeddings) is listed
   * once, under its first path, as PyTorch does; `withDuplicates` lists every path.
   */
  namedParameters(opts: { prefix?: string; withDuplicates?: boolean } = {}): [string, Tensor][] {
    const seen = new Set<Tensor>();
    const out: [string, Tensor][] = [];
    for (const [path, m] of this.namedModules(opts.prefix ?? '')) {
      for (const [name, t] of m.localParameters()) {
        if (!opts.withDuplicates && seen.has(t)) continue;
        seen.add(t);
        out.push([path ? `${path}.${name}` : name, t]);
      }
    }
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /** The parameters that train (requiresGrad). */
  trainableParameters(): Tensor[] {
    return this.parameters().filter((t) => t.requiresGrad);
  }

  /** Number of parameter elements (shared tensors counted once); trainableOnly counts those that train. */
  numParameters(opts: { trainableOnly?: boolean } = {}): number {
    let n = 0;
    for (const t of this.parameters()) if (!opts.trainableOnly || t.requiresGrad) n += t.size;
    return n;
  }

  getSubmodule(path: string): Module {
    if (path === '') return this;
    let m: Module = this;
    for (const part of path.split('.')) {
      const next = m.children.get(part);
      if (!next) throw new Error(`getSubmodule: no module '${path}' (no '${part}' under '${m.constructor.name}')`);
      m = next;
    }
    return m;
  }

  /** Replaces the submodule at a dotted path (PEFT swaps a Linear for its adapted version this way). */
  setSubmodule(path: string, m: Module): void {
    const dot = path.lastIndexOf('.');
    const parent = dot < 0 ? this : this.getSubmodule(path.slice(0, dot));
    const name = path.slice(dot + 1);
    if (!parent.children.has(name)) throw new Error(`setSubmodule: no module '${path}' to replace`);
    parent.children.set(name, m);
    parent.onChildReplaced(name, m);
  }

  /** After setSubmodule replaced a child: a field of the same name (this.q_proj) follows the registry. */
  protected onChildReplaced(name: string, m: Module): void {
    const self = this as unknown as Record<string, unknown>;
    if (name in self) self[name] = m;
  }

  getParameter(path: string): Tensor {
    const dot = path.lastIndexOf('.');
    const owner = dot < 0 ? this : this.getSubmodule(path.slice(0, dot));
    const t = owner.params.get(path.slice(dot + 1));
    if (!t) throw new Error(`getParameter: no parameter '${path}'`);
    return t;
  }

  /** Whether this stack of blocks recomputes each block in the backward (see gradientCheckpointingEnable). */
  gradientCheckpointing = false;

  /**
   * HF's gradient_checkpointing_enable: every stack of blocks in this module (the decoder or encoder layers)
   * keeps only each block's input during a training forward and recomputes the block in the backward:
   * activation memory drops from every layer's to one layer's plus the inputs, for about one more forward
   * of compute. Gradients equal the unchecked ones; dropout masks replay exactly.
   */
  gradientCheckpointingEnable(): this {
    const stacks = this.namedModules().map(([, m]) => m).filter(isCheckpointableStack);
    if (stacks.length === 0) throw new Error(`gradientCheckpointingEnable: ${this.constructor.name} has no stack of blocks that supports gradient checkpointing`);
    for (const m of stacks) m.gradientCheckpointing = true;
    return this;
  }

  gradientCheckpointingDisable(): this {
    for (const [, m] of this.namedModules()) m.gradientCheckpointing = false;
    return this;
  }

  /** HF's is_gradient_checkpointing: whether any stack in this module checkpoints. */
  get isGradientCheckpointing(): boolean {
    return this.namedModules().some(([, m]) => m.gradientCheckpointing);
  }

  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Stops every parameter training (requiresGrad = false); a frozen weight never gets a gradient. */
  freeze(): this {
    for (const t of this.parameters()) t.requiresGrad = false;
    return this;
  }

  unfreeze(): this {
    for (const t of this.parameters()) t.requiresGrad = true;
    return this;
  }

  /** Every parameter by its dotted path, tied ones under each of their names (as PyTorch's state_dict). */
  stateDict(): Map<string, Tensor> {
    return new Map(this.namedParameters({ withDuplicates: true }));
  }

  /**
   * Copies values into the parameters by name. strict (default): a missing or unexpected key, or a shape
   * that differs, is an error naming them; otherwise the lists come back and matching keys are loaded.
   */
  loadStateDict(dict: Map<string, Tensor> | Record<string, Tensor>, opts: { strict?: boolean } = {}): LoadResult {
    const source = dict instanceof Map ? dict : new Map(Object.entries(dict));
    const own = this.stateDict();
    const missingKeys = [...own.keys()].filter((k) => !source.has(k));
    const unexpectedKeys = [...source.keys()].filter((k) => !own.has(k));
    if ((opts.strict ?? true) && (missingKeys.length > 0 || unexpectedKeys.length > 0))
      throw new Error(`loadStateDict: ${describeKeys('missing', missingKeys)}${missingKeys.length && unexpectedKeys.length ? '; ' : ''}${describeKeys('unexpected', unexpectedKeys)}`);
    for (const [key, target] of own) {
      const src = source.get(key);
      if (src === undefined) continue;
      if (src.rank !== target.rank || src.shape.some((d, i) => d !== target.shape[i]))
        throw new RangeError(`loadStateDict: '${key}' has shape ${formatShape(src.shape)} in the source but ${formatShape(target.shape)} in the model`);
      copyInto(target, src);
    }
    return { missingKeys, unexpectedKeys };
  }

  /** Frees every parameter's memory; the module cannot be used after. */
  dispose(): void {
    for (const t of this.parameters()) t.dispose();
  }
}

function checkLocalName(name: string, op: string): void {
  if (typeof name !== 'string' || name === '' || name.includes('.'))
    throw new Error(`${op}: a local name must be a non-empty string without '.', got '${String(name)}'`);
}

function describeKeys(kind: string, keys: string[]): string {
  if (keys.length === 0) return '';
  const shown = keys.slice(0, 8).map((k) => `'${k}'`).join(', ');
  return `${keys.length} ${kind} key${keys.length > 1 ? 's' : ''}: ${shown}${keys.length > 8 ? ', ...' : ''}`;
}

/** Writes src's values into target's memory (same shape; target contiguous). */
export function copyInto(target: Tensor, src: Tensor): void {
  const be = backendFor(target, 'copyInto');
  if (!target.isContiguous()) throw new Error(`copyInto: target ${formatShape(target.shape)} is not contiguous`);
  be.write(target.buf(), src.toFloat32Array());
}
