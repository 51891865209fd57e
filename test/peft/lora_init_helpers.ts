/** What the LoRA initialisation specs (lora_init, lora_loftq) share: host values, a scaled closeness check, SVD sign canonicalisation. */
import type { Tensor } from '../../lib';

export const host = (t: Tensor): number[] => Array.from(t.toFloat32Array());
export const maxAbs = (v: number[]): number => v.reduce((m, x) => Math.max(m, Math.abs(x)), 0);

/** max |actual - expected| below tol times the largest |value| of scaleOf (the expected values by default). */
export function expectClose(actual: number[], expected: number[], tol: number, what: string, scaleOf = expected): void {
  expect(actual.length).toBe(expected.length);
  const scale = Math.max(maxAbs(scaleOf), 1e-6);
  const worst = Math.max(...actual.map((v, i) => Math.abs(v - expected[i])));
  if (!(worst / scale < tol)) throw new Error(`${what}: max |diff| ${worst} vs scale ${scale}`);
}

/** Each pair (A row j, B column j) signed so that A row j's largest |value| is positive (SVD's signs are free). */
export function canon(a: number[], b: number[], r: number): { a: number[]; b: number[] } {
  const inF = a.length / r, out = b.length / r;
  const a2 = [...a], b2 = [...b];
  for (let j = 0; j < r; j++) {
    let best = 0;
    for (let i = 0; i < inF; i++) if (Math.abs(a[j * inF + i]) > Math.abs(best)) best = a[j * inF + i];
    if (best < 0) {
      for (let i = 0; i < inF; i++) a2[j * inF + i] = -a2[j * inF + i];
      for (let i = 0; i < out; i++) b2[i * r + j] = -b2[i * r + j];
    }
  }
  return { a: a2, b: b2 };
}
