/** Checks of hyperparameter values with torch.optim's rules, naming the optimizer, group and value. */

export function checkNonNegative(where: string, name: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
    throw new RangeError(`${where}: invalid ${name} ${String(v)} (expected a finite number >= 0)`);
}

export function checkUnitInterval(where: string, name: string, v: unknown): void {
  if (typeof v !== 'number' || !(v >= 0 && v < 1)) throw new RangeError(`${where}: invalid ${name} ${String(v)} (expected a number in [0, 1))`);
}

export function checkBoolean(where: string, name: string, v: unknown): void {
  if (typeof v !== 'boolean') throw new TypeError(`${where}: ${name} must be a boolean, got ${String(v)}`);
}

/** Options without their undefined entries, so `{lr: undefined}` keeps the default as torch's kwargs would. */
export function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
