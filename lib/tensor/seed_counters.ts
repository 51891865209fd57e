/**
 * Named seed counters: kernels that take an explicit seed per call (LoRA's fused dropout, diff pruning's
 * gates) draw it from a counter that advances each call. The counters are module-level state outside the
 * global random stream, so they are registered here by name: a training checkpoint saves them all and a
 * resumed run continues with the same seeds, reproducing the uninterrupted run bit for bit.
 */

export interface SeedCounter {
  readonly name: string;
  /** The seed to use now; advances the counter. */
  next(): number;
  /** The seed next() will return. */
  peek(): number;
  set(value: number): void;
}

const counters = new Map<string, SeedCounter & { initial: number }>();

function checkValue(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`seed counter '${name}': value must be a non-negative integer, got ${String(value)}`);
}

/** The counter named `name`, created at `initial` on first use (a second call returns the same counter). */
export function seedCounter(name: string, initial = 1): SeedCounter {
  const existing = counters.get(name);
  if (existing) return existing;
  checkValue(name, initial);
  let value = initial;
  const c: SeedCounter & { initial: number } = {
    name,
    initial,
    next: () => value++,
    peek: () => value,
    set: (v: number) => {
      checkValue(name, v);
      value = v;
    },
  };
  counters.set(name, c);
  return c;
}

/** Every counter's next value by name. */
export function getSeedCounters(): Record<string, number> {
  return Object.fromEntries([...counters].map(([n, c]) => [n, c.peek()]));
}

/** Restores counters saved by getSeedCounters(); a saved counter not registered yet is created at its value. */
export function setSeedCounters(state: Record<string, number>): void {
  if (typeof state !== 'object' || state === null) throw new TypeError('setSeedCounters: expected an object of name -> value');
  for (const [n, v] of Object.entries(state)) checkValue(n, v);
  for (const [n, v] of Object.entries(state)) seedCounter(n, v).set(v);
}

/** Puts every counter back to its initial value (with manualSeed, what a seeded fresh run starts from). */
export function resetSeedCounters(): void {
  for (const c of counters.values()) c.set(c.initial);
}
