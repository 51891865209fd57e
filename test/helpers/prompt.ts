/** Shared pieces of the prompt-learning specs: golden models, inputs built by hand, a short training run. */
import * as path from 'path';
import { AdamW, fromArray, loadHfModel, noGrad, type PeftModel, type PretrainedModel, type Tensor, tidy } from '../../lib';
import { FIXTURES, forward, inputsOf, openGolden } from './golden';

export const loadFamily = (family: string): PretrainedModel => loadHfModel(path.join(FIXTURES, family));

export function goldenInputs(family: string) {
  const golden = openGolden(family);
  const inputs = inputsOf(family, golden);
  const logits = golden.tensor('logits');
  golden.file.close();
  return { inputs: inputs as ReturnType<typeof inputsOf> & { tokenTypeIds?: { data: Int32Array; shape: readonly number[] } }, logits };
}

/** The word embeddings of `ids` ([B, T]) with `rows` ([n, d] host values) before each sequence's, built on the host. */
export function embedsByHand(table: Float32Array, words: Float32Array, ids: { data: Int32Array; shape: readonly number[] }, n: number, d: number): Tensor {
  const [batch, time] = ids.shape;
  const out = new Float32Array(batch * (n + time) * d);
  for (let b = 0; b < batch; b++) {
    out.set(table.subarray(0, n * d), b * (n + time) * d);
    for (let t = 0; t < time; t++) {
      const id = ids.data[b * time + t];
      out.set(words.subarray(id * d, (id + 1) * d), (b * (n + time) + n + t) * d);
    }
  }
  return fromArray(out, [batch, n + time, d]);
}

/** [B, n + T] ints with `value` in the first n columns. */
export function prependByHand(t: { data: Int32Array; shape: readonly number[] }, n: number, value: number) {
  const [batch, cols] = t.shape;
  const out: number[] = [];
  for (let b = 0; b < batch; b++) out.push(...new Array(n).fill(value), ...t.data.subarray(b * cols, (b + 1) * cols));
  return { data: Int32Array.from(out), shape: [batch, n + cols] };
}

export function peftOutputs(peft: PeftModel, inputs: unknown): { logits: Tensor; loss: Tensor } {
  return noGrad(() => peft.forward(inputs)) as { logits: Tensor; loss: Tensor };
}

export function baseOutputs(model: PretrainedModel, inputs: unknown): { logits: Tensor; loss: Tensor } {
  return noGrad(() => forward(model, inputs as never));
}

/** Losses before and after `steps` AdamW steps on the adapter's parameters. */
export function trainLosses(peft: PeftModel, inputs: unknown, steps = 8, lr = 0.05): { before: number; after: number } {
  const params = peft.trainableParameters();
  const opt = new AdamW(params, { lr, weightDecay: 0 });
  const loss = () => tidy(() => (peft.forward(inputs) as { loss: Tensor }).loss.item());
  const before = noGrad(loss);
  for (let i = 0; i < steps; i++) {
    opt.zeroGrad();
    tidy(() => (peft.forward(inputs) as { loss: Tensor }).loss.backward());
    opt.step();
  }
  return { before, after: noGrad(loss) };
}
