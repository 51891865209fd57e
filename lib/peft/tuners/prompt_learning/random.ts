/** Uniform integers in [0, n) from the seeded global stream (manualSeed makes them reproducible). */
import { rand } from '../../../tensor/creation';

export function randomInts(count: number, n: number): number[] {
  const u = rand([count]);
  const values = u.toFloat32Array();
  u.dispose();
  return Array.from(values, (x) => Math.min(n - 1, Math.floor(x * n)));
}
