/** Small models and synthetic data for the trainer specs. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  fromArray, GPT2Config, GPT2LMHeadModel, type IntTensor, loadHfModel, manualSeed, meanAll, Module, mul, parameter, sqrt, type Tensor, type TokenizedExample,
} from '../../lib';

export const FIXTURES = path.join(__dirname, '..', 'fixtures', 'models');

/** The golden tiny GPT-2 (vocab 89, 2 layers, width 32, no dropout). */
export const goldenGpt2 = () => loadHfModel(path.join(FIXTURES, 'gpt2'));
export const goldenBert = () => loadHfModel(path.join(FIXTURES, 'bert'));

/** A fresh tiny GPT-2 with dropout on, initialized from a fixed seed (so two calls give equal models). */
export function dropoutGpt2(seed = 1): GPT2LMHeadModel {
  manualSeed(seed);
  return new GPT2LMHeadModel(new GPT2Config({ vocabSize: 89, nPositions: 64, nEmbd: 32, nLayer: 2, nHead: 4, residPdrop: 0.1, embdPdrop: 0.1, attnPdrop: 0.1, bosTokenId: 88, eosTokenId: 88 }));
}

/** Sequences that count up by 3 modulo 89 from different starts: a rule a tiny model learns in a few dozen steps. */
export function countingData(n: number, lengths: number[] = [8]): TokenizedExample[] {
  return Array.from({ length: n }, (_, k) => {
    const len = lengths[k % lengths.length];
    return { inputIds: Array.from({ length: len }, (_, t) => (7 * k + 3 * t) % 89) };
  });
}

export function tempDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `peftjs-${tag}-`));
}

/** Every parameter's values by path. */
export function weightsOf(model: Module): Map<string, Float32Array> {
  return new Map(model.namedParameters().map(([p, t]) => [p, t.toFloat32Array()]));
}

/** The token that makes AbsModel's loss NaN: a bad value in the data. */
export const POISON_TOKEN = 88;

/**
 * A model of one vector w whose loss is mean |w| (as sqrt(w * w)), times NaN for a batch holding
 * POISON_TOKEN: NaN and Inf from elementwise ops and a mean alone, where a spec controls exactly which step
 * gets them. At w = 0 the loss is finite (0) but its gradient is NaN: sqrt's infinite slope at 0 times 2w.
 */
export class AbsModel extends Module {
  readonly w: Tensor;

  constructor(values: number[]) {
    super();
    this.w = this.registerParameter('w', parameter(fromArray(values)))!;
  }

  forward(inputs: { inputIds: IntTensor }): { logits: Tensor; loss: Tensor } {
    const abs = meanAll(sqrt(mul(this.w, this.w)));
    return { logits: this.w, loss: inputs.inputIds.data.includes(POISON_TOKEN) ? mul(abs, fromArray([NaN])) : abs };
  }

  /** Overwrites w (a NaN written between steps: a parameter gone bad). */
  set(values: number[]): void {
    this.loadStateDict({ w: fromArray(values) });
  }
}

/** n three-token examples for AbsModel, the ones at `poisoned` holding POISON_TOKEN. */
export function absData(n: number, poisoned: number[] = []): TokenizedExample[] {
  return Array.from({ length: n }, (_, k) => ({ inputIds: poisoned.includes(k) ? [1, POISON_TOKEN, 3] : [1, 2, 3] }));
}
