/** The torch golden numbers (test/fixtures/optim/make_optim_fixtures.py) and helpers to replay them. */
import * as fs from 'fs';
import * as path from 'path';
import { fromArray, type Tensor } from '../../lib';

export interface Golden {
  shapes: number[][];
  init: number[][];
  grads: number[][][];
  missing: [number, number][];
  optimizers: Record<string, number[][][]>;
  schedules: Record<string, { options: { warmup?: number; total?: number }; baseLrs: number[]; lrs: number[][] }>;
  clip: { maxNorm: number; normType: number | 'inf'; totalNorm: number; grads: number[][] }[];
}

export const golden: Golden = JSON.parse(
  fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'optim', 'optim_golden.json'), 'utf8'));

export function makeParams(): Tensor[] {
  return golden.init.map((v, i) => {
    const t = fromArray(v, golden.shapes[i]);
    t.requiresGrad = true;
    return t;
  });
}

/** Sets each parameter's grad for a step of the fixture (null where the fixture has none). */
export function setGrads(params: Tensor[], step: number): void {
  params.forEach((p, i) => {
    p.grad?.dispose();
    p.grad = golden.missing.some(([s, k]) => s === step && k === i) ? null : fromArray(golden.grads[step][i], golden.shapes[i]);
  });
}
