/**
 * Shared by oft.test.ts and boft.test.ts: a finite-difference check of an adapter layer's gradients (the
 * Cayley maps, the batched products and the butterfly reorders have hand-written or composed backwards),
 * and the round trip of an adapter between an interleaved-RoPE Llama and the HF folder saved from it.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  AdamW, getPeftModel, Linear, LlamaConfig, LlamaForCausalLM, loadHfModel, manualSeed, type Module, noGrad, type PeftConfig, PeftModel,
  randn, saveModelFolder, type Tensor, tidy,
} from '../../lib';
import { mul, sumAll } from '../../lib/tensor/ops';

/**
 * Loss = sum(layer(x) * c) for a fixed x and c; every element of `param` gets its central difference
 * (float32, step 1e-2) compared with the analytic gradient.
 */
export function checkGradients(make: (base: Linear) => Module & { forward(x: Tensor): Tensor }, param: (layer: Module) => Tensor, inF: number, outF: number): void {
  manualSeed(3);
  const base = new Linear(inF, outF);
  base.freeze();
  const layer = make(base);
  const x = noGrad(() => randn([5, inF]));
  const c = noGrad(() => randn([5, outF]));
  const loss = () => sumAll(mul(layer.forward(x), c));
  const p = param(layer);
  p.grad?.dispose();
  p.grad = null;
  tidy(() => loss().backward());
  const analytic = p.grad!.toFloat32Array();
  const values = p.toFloat32Array();
  const at = (v: Float32Array) => noGrad(() => tidy(() => {
    p.data.set(v);
    return loss().item();
  }));
  const h = 1e-2;
  for (let i = 0; i < values.length; i++) {
    const plus = values.slice(), minus = values.slice();
    plus[i] += h;
    minus[i] -= h;
    const numeric = (at(plus) - at(minus)) / (2 * h);
    expect(Math.abs(numeric - analytic[i])).toBeLessThan(2e-2 * Math.max(1, Math.abs(numeric)));
  }
  p.data.set(values);
}

/** A small Llama keeping q/k rows in llama2.c's interleaved RoPE order (GQA), always with the same weights. */
const interleavedConfig = () => new LlamaConfig({
  vocabSize: 64, hiddenSize: 32, intermediateSize: 48, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2, ropeInterleaved: true,
});
const interleaved = () => {
  manualSeed(7);
  return new LlamaForCausalLM(interleavedConfig());
};
type Batch = { data: Int32Array; shape: number[] };
type Forward = { forward(inputs: { inputIds: Batch; labels?: Batch }): { logits: Tensor; loss?: Tensor } };
const batch: Batch = { data: Int32Array.from([1, 5, 9, 33, 12, 60, 7, 2]), shape: [1, 8] };
const run = (m: Module) => noGrad(() => tidy(() => (m as unknown as Forward).forward({ inputIds: batch }).logits.toFloat32Array()));
const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

/** Trained a few steps on the interleaved model, saved, loaded on its HF folder: the same logits, and not the base's. */
export function interleavedRoundTrip(config: PeftConfig, lr: number): void {
  const hfFolder = fs.mkdtempSync(path.join(os.tmpdir(), 'peftjs-oft-rope-'));
  const model = interleaved();
  const base = run(model);
  saveModelFolder(model, hfFolder);
  const peft = getPeftModel(model, config);
  peft.train();
  const opt = new AdamW(peft.trainableParameters(), { lr, weightDecay: 0 });
  for (let step = 0; step < 3; step++) {
    opt.zeroGrad();
    tidy(() => (peft as unknown as Forward).forward({ inputIds: batch, labels: batch }).loss!.backward());
    opt.step();
  }
  opt.dispose();
  peft.eval();
  const want = run(peft);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peftjs-oft-rope-adapter-'));
  peft.savePretrained(dir);
  peft.dispose();
  const loaded = PeftModel.fromPretrained(loadHfModel(hfFolder) as unknown as Module, dir);
  const got = run(loaded);
  loaded.dispose();
  expect(maxAbsDiff(want, base)).toBeGreaterThan(1e-3);
  expect(maxAbsDiff(got, want)).toBeLessThan(1e-4);
}
