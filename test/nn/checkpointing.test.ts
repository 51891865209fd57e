/**
 * Gradient checkpointing: the gradients of a checkpointed training step equal the plain step's on Llama,
 * GPT-2 and BERT, for full fine-tuning and for LoRA, with dropout on (so the masks must replay), and with
 * a mixed batch of adapters (whose names must be reinstated for the recomputation).
 */
import {
  Dropout, fromArray, getPeftModel, LoraConfig, manualSeed, memory, type Module, releaseGraph, resetSeedCounters, mul, type PeftModel, type PretrainedModel, randn, setBackend,
  sumAll, tanh, type Tensor, tidy,
} from '../../lib';
import { checkpoint } from '../../lib/tensor/checkpoint';
import { backendsWithKernels } from '../helpers/backends';
import { forward, inputsOf, openGolden } from '../helpers/golden';
import { loadFamily } from '../helpers/peft_run';

const FAMILIES = [
  ['llama', ['q_proj', 'v_proj', 'down_proj']],
  ['gpt2', ['c_attn', 'c_fc']],
  ['bert', ['query', 'value']],
] as const;

/** Turns every Dropout of the model on at p (the fixtures' configs have 0). */
function withDropout(model: Module, p: number): void {
  for (const [, m] of model.namedModules()) if (m instanceof Dropout) (m as unknown as { p: number }).p = p;
}

/** One training step's loss and every trainable parameter's gradient, from the same random state. */
function step(model: PretrainedModel, inputs: Parameters<PretrainedModel['forward']>[0], seed: number): { loss: number; grads: Map<string, Float32Array> } {
  const params = model.namedParameters().filter(([, t]) => t.requiresGrad);
  for (const [, t] of params) t.grad = null;
  manualSeed(seed);
  resetSeedCounters();
  const loss = tidy(() => {
    const l = forward(model, inputs).loss;
    l.backward();
    return l.item();
  });
  return { loss, grads: new Map(params.map(([n, t]) => [n, t.grad!.toFloat32Array()])) };
}

/** LoRA's B starts at zero (so dA would be 0): give every B random values. */
function randomizeLoraB(peft: PeftModel): void {
  for (const [name, t] of peft.model.namedParameters()) if (/lora_B/.test(name)) t.data.set(randn(t.shape, { seed: 3, std: 0.1 }).toFloat32Array());
}

function expectSameGrads(a: Map<string, Float32Array>, b: Map<string, Float32Array>): void {
  expect([...b.keys()]).toEqual([...a.keys()]);
  for (const [name, g] of a) {
    expect(g.some((v) => v !== 0)).toBe(true);
    expect(b.get(name)!).toAllClose(g, { rtol: 1e-5, atol: 1e-7 });
  }
}

describe.each(backendsWithKernels('attentionBackward', 'loraBackward'))('gradient checkpointing on %s', (backendName) => {
  beforeAll(() => setBackend(backendName));

  it.each(FAMILIES)('%s: full fine-tuning gives the plain gradients', (family) => {
    const model = loadFamily(family);
    withDropout(model, 0.1);
    model.train();
    const inputs = inputsOf(family, openGolden(family));
    const plain = step(model, inputs, 7);
    expect(model.isGradientCheckpointing).toBe(false);
    model.gradientCheckpointingEnable();
    expect(model.isGradientCheckpointing).toBe(true);
    const checked = step(model, inputs, 7);
    expect(checked.loss).toBe(plain.loss);
    expectSameGrads(plain.grads, checked.grads);
    model.gradientCheckpointingDisable();
    expect(model.isGradientCheckpointing).toBe(false);
  });

  it.each(FAMILIES)('%s: LoRA with dropout gives the plain gradients (masks replay)', (family, targets) => {
    const base = loadFamily(family);
    withDropout(base, 0.1);
    const peft = getPeftModel(base, new LoraConfig({ r: 4, loraAlpha: 8, loraDropout: 0.2, targetModules: [...targets], fanInFanOut: family === 'gpt2'}));
    randomizeLoraB(peft);
    peft.train();
    const inputs = inputsOf(family, openGolden(family));
    const plain = step(peft.model as PretrainedModel, inputs, 11);
    peft.gradientCheckpointingEnable();
    const checked = step(peft.model as PretrainedModel, inputs, 11);
    expect(checked.loss).toBe(plain.loss);
    expectSameGrads(plain.grads, checked.grads);
  });

  it('a mixed batch recomputes each row with its own adapter', () => {
    const base = loadFamily('llama');
    const peft = getPeftModel(base, new LoraConfig({ r: 4, loraAlpha: 8, targetModules: ['q_proj', 'v_proj'] }));
    peft.addAdapter('other', new LoraConfig({ r: 2, loraAlpha: 4, targetModules: ['q_proj', 'v_proj'] }));
    randomizeLoraB(peft);
    const inputs = inputsOf('llama', openGolden('llama'));
    const batch = inputs.inputIds.shape[0];
    const names = Array.from({ length: batch }, (_, i) => ['default', 'other', '__base__'][i % 3]);
    const run = () => {
      const params = peft.model.namedParameters().filter(([n]) => /lora_/.test(n));
      for (const [, t] of params) { t.requiresGrad_(); t.grad = null; }
      tidy(() => {
        const out = peft.forward({ ...inputs, adapterNames: names }) as { loss: Tensor };
        out.loss.backward();
      });
      return new Map(params.map(([n, t]) => [n, t.grad ? t.grad.toFloat32Array() : new Float32Array(0)]));
    };
    const plain = run();
    peft.gradientCheckpointingEnable();
    expectSameGrads(plain, run());
  });

  it.each(FAMILIES)('%s: the forward keeps only each block\'s input (live bytes after the forward)', (family) => {
    const model = loadFamily(family);
    model.train();
    const inputs = inputsOf(family, openGolden(family));
    const liveAfterForward = () => tidy(() => {
      const before = memory().numBytes;
      const { loss } = forward(model, inputs);
      const grown = memory().numBytes - before;
      releaseGraph(loss);
      return grown;
    });
    const plain = liveAfterForward();
    model.gradientCheckpointingEnable();
    expect(liveAfterForward()).toBeLessThan(plain / 2);
  });

  it('checkpoint() passes input gradients on and leaves the forward value unchanged', () => {
    const w = fromArray([0.5, -1, 2]).requiresGrad_();
    const x = fromArray([1, 2, 3]).requiresGrad_();
    const block = (t: Tensor) => tanh(mul(t, w));
    sumAll(block(x)).backward();
    const plain = { dx: x.grad!.toFloat32Array(), dw: w.grad!.toFloat32Array() };
    x.grad = null;
    w.grad = null;
    const out = checkpoint(block, [x], [w]);
    expect(out.toFloat32Array()).toEqual(block(x).toFloat32Array());
    sumAll(out).backward();
    expect(x.grad!.toFloat32Array()).toEqual(plain.dx);
    expect(w.grad!.toFloat32Array()).toEqual(plain.dw);
  });
});
