/**
 * Reverse-mode autograd: each op whose inputs need a gradient records a node on its output (the op's
 * name, its inputs, the tensors its backward needs, and the backward itself). `backward(loss)` walks the
 * nodes in reverse topological order, accumulating gradients; leaves that require a gradient (parameters)
 * receive theirs in `.grad`. An input that needs no gradient is never differentiated: the backward is
 * told which inputs need one, so a frozen weight costs no dW.
 *
 * Memory: a node keeps untracked views of what it saved (so tidy() may dispose the originals) and drops
 * them once its backward has run, or when the graph is released without a backward.
 */
import { keep } from './scope';
import { formatShape } from './shape';
import { Tensor } from './tensor';

/** The gradient of each input (null where the input needs none or the op has none). */
export type BackwardFn = (grad: Tensor, saved: Tensor[], needs: boolean[]) => (Tensor | null)[];

export class GradNode {
  private saved: Tensor[];
  private released = false;

  constructor(
    readonly op: string,
    readonly inputs: readonly Tensor[],
    readonly needs: readonly boolean[],
    saved: Tensor[],
    private readonly backwardFn: BackwardFn,
  ) {
    this.saved = saved;
  }

  run(grad: Tensor): (Tensor | null)[] {
    if (this.released) throw new Error(`backward: the graph through '${this.op}' was already used or released; run the forward again (or pass retainGraph)`);
    return this.backwardFn(grad, this.saved, [...this.needs]);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    for (const t of this.saved) t?.dispose();
    this.saved = [];
  }
}

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn without recording: nothing computed inside gets a gradient (evaluation, updates, backward). */
export function noGrad<T>(fn: () => T): T {
  const before = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = before;
  }
}

/** Turns recording on inside a noGrad scope. */
export function enableGrad<T>(fn: () => T): T {
  const before = gradEnabled;
  gradEnabled = true;
  try {
    return fn();
  } finally {
    gradEnabled = before;
  }
}

/** Whether an op on these inputs must be recorded. */
export function needsGrad(...inputs: (Tensor | null | undefined)[]): boolean {
  if (!gradEnabled) return false;
  for (const t of inputs) if (t && t.requiresGrad) return true;
  return false;
}

/** An untracked view of t that keeps its storage alive (for a node's saved tensors). */
function retain(t: Tensor): Tensor {
  return keep(new Tensor(t.storage, t.shape, t.strides, t.offset));
}

/**
 * Records `out = op(inputs)` when any input requires a gradient (and recording is on); `save` lists
 * the tensors the backward reads, handed back to it in order. Returns out.
 */
export function record(out: Tensor, op: string, inputs: (Tensor | null | undefined)[], backward: BackwardFn,
                       save: (Tensor | null | undefined)[] = []): Tensor {
  const present = inputs.map((t) => t ?? null);
  if (!needsGrad(...present)) return out;
  const tensors = present.map((t) => t ?? (null as unknown as Tensor));
  const needs = present.map((t) => t !== null && t.requiresGrad);
  const saved = save.map((t) => (t ? retain(t) : (null as unknown as Tensor)));
  out.requiresGrad = true;
  out.gradFn = new GradNode(op, tensors, needs, saved, backward);
  return out;
}

/** The nodes reachable from root, in topological order (inputs before the tensors made from them). */
function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  const stack: [Tensor, number][] = [[root, 0]];
  visited.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    const inputs = t.gradFn ? t.gradFn.inputs : [];
    if (i < inputs.length) {
      top[1]++;
      const next = inputs[i];
      if (next && next.requiresGrad && !visited.has(next)) {
        visited.add(next);
        stack.push([next, 0]);
      }
    } else {
      order.push(t);
      stack.pop();
    }
  }
  return order;
}

function checkGradShape(t: Tensor, g: Tensor, op: string): void {
  if (g.rank !== t.rank || g.shape.some((d, i) => d !== t.shape[i]))
    throw new Error(`backward: '${op}' produced a gradient of shape ${formatShape(g.shape)} for an input of shape ${formatShape(t.shape)}`);
}

export interface BackwardOptions {
  /** The gradient of the root (default: 1 for a one-element root). */
  grad?: Tensor;
  /** Keep the graph's saved tensors so backward can run through it again. */
  retainGraph?: boolean;
}

/**
 * Computes the gradient of root with respect to every leaf that requires one, accumulating into `.grad`.
 * Intermediate gradients are freed as soon as they are consumed.
 */
export function backward(root: Tensor, opts: BackwardOptions = {}): void {
  root.assertAlive('backward');
  if (!root.requiresGrad) throw new Error(`backward: the tensor ${formatShape(root.shape)} does not require a gradient (nothing it was computed from has requiresGrad)`);
  if (opts.grad === undefined && root.size !== 1)
    throw new Error(`backward: a gradient must be given for a non-scalar root of shape ${formatShape(root.shape)}`);
  if (opts.grad !== undefined) checkGradShape(root, opts.grad, 'the root');
  const order = topoOrder(root);
  const grads = new Map<Tensor, Tensor>();
  noGrad(() => {
    const seed = opts.grad ? opts.grad.clone() : fullLike(root, 1);
    grads.set(root, seed);
    for (let idx = order.length - 1; idx >= 0; idx--) {
      const t = order[idx];
      const g = grads.get(t);
      if (g === undefined) continue;
      grads.delete(t);
      const node = t.gradFn;
      if (node === null) {
        accumulateLeaf(t, g);
        continue;
      }
      const inputGrads = node.run(g);
      g.dispose();
      if (!opts.retainGraph) node.release();
      node.inputs.forEach((input, i) => {
        const ig = inputGrads[i];
        if (ig === null || ig === undefined) return;
        if (!node.needs[i]) {
          ig.dispose();
          return;
        }
        checkGradShape(input, ig, node.op);
        const prev = grads.get(input);
        if (prev === undefined) grads.set(input, ig);
        else {
          grads.set(input, addInto(prev, ig));
          ig.dispose();
        }
      });
    }
  });
}

function accumulateLeaf(t: Tensor, g: Tensor): void {
  const contiguous = g.isContiguous() ? g : g.contiguous();
  if (contiguous !== g) g.dispose();
  if (t.grad === null || t.grad.isDisposed) {
    t.grad = keep(contiguous);
    return;
  }
  t.grad = keep(addInto(t.grad, contiguous));
  contiguous.dispose();
}

/** Releases the saved tensors of every node reachable from root (a forward whose backward is not wanted). */
export function releaseGraph(root: Tensor): void {
  for (const t of topoOrder(root)) if (t.gradFn) t.gradFn.release();
}

// Filled in by ops.ts (which imports this module) to avoid an import cycle.
let fullLike: (t: Tensor, value: number) => Tensor = () => {
  throw new Error('autograd: ops not loaded');
};
let addInto: (acc: Tensor, g: Tensor) => Tensor = () => {
  throw new Error('autograd: ops not loaded');
};

export function installAutogradOps(ops: { fullLike: typeof fullLike; addInto: typeof addInto }): void {
  fullLike = ops.fullLike;
  addInto = ops.addInto;
}
