/**
 * Scopes in the manner of tfjs's tidy(): tensors created inside `tidy(fn)` are disposed when fn returns,
 * except those it returns (and those passed to keep()), which move to the enclosing scope. A training
 * loop that runs each step in tidy() keeps its memory flat.
 */

/** What a scope tracks: anything with dispose(). Tensor registers itself on creation. */
export interface Disposable {
  dispose(): void;
  readonly isDisposed: boolean;
}

const stack: Set<Disposable>[] = [];
const kept = new WeakSet<Disposable>();

export function track<T extends Disposable>(t: T): T {
  if (stack.length > 0 && !kept.has(t)) stack[stack.length - 1].add(t);
  return t;
}

/** Exempts a tensor from disposal by every enclosing scope. */
export function keep<T extends Disposable>(t: T): T {
  kept.add(t);
  for (const scope of stack) scope.delete(t);
  return t;
}

function collect(result: unknown, into: Set<Disposable>, seen = new Set<unknown>()): void {
  if (result === null || typeof result !== 'object' || seen.has(result)) return;
  seen.add(result);
  if (typeof (result as Disposable).dispose === 'function' && 'isDisposed' in (result as object)) {
    into.add(result as Disposable);
    return;
  }
  const values = Array.isArray(result) ? result : result instanceof Map ? [...result.values()] : Object.values(result);
  for (const v of values) collect(v, into, seen);
}

export function tidy<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw new TypeError(`tidy: expected a function, got ${typeof fn}`);
  const scope = new Set<Disposable>();
  stack.push(scope);
  let result: T;
  try {
    result = fn();
    if (result instanceof Promise) throw new Error('tidy: fn must be synchronous (it returned a Promise)');
  } catch (e) {
    for (const t of scope) if (!t.isDisposed) t.dispose();
    throw e;
  } finally {
    stack.pop();
  }
  const returned = new Set<Disposable>();
  collect(result, returned);
  for (const t of scope) {
    if (returned.has(t)) continue;
    if (!t.isDisposed) t.dispose();
  }
  for (const t of returned) track(t);
  return result;
}

/** Disposes every tensor found in a value (a tensor, an array, an object of them). */
export function dispose(value: unknown): void {
  const found = new Set<Disposable>();
  collect(value, found);
  for (const t of found) if (!t.isDisposed) t.dispose();
}
