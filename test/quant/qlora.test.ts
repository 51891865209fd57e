/**
 * QLoRA on the CPU: a tiny Llama (the golden fixture) with its linear layers quantized (nf4, nf4 with double
 * quantization, int8, bf16) keeps close to the float32 model's loss, and LoRA training on it lowers the loss
 * while the quantized base stays frozen. Also BitsAndBytesConfig's validation.
 */
import * as path from 'path';
import {
  AdaLoraConfig, add, BitFitConfig, fromArray, getPeftModel, IA3Config, loadHfModel, LoraConfig, type Module, noGrad, prepareModelForKbitTraining,
  Linear, OFTConfig, OFTLinear, randn, setBackend, SVDLinear,
} from '../../lib';
import { copyInto } from '../../lib/nn/module';
import { QuantizedLinear } from '../../lib/quant/quantized_linear';
import { quantizationConfigFormat, quantizeModel, setComputeDtype } from '../../lib/quant/quantize_model';
import { backendsWithKernels } from '../helpers/backends';
import { FIXTURES, forward, inputsOf, openGolden } from '../helpers/golden';
import { loadFamily, train } from '../helpers/peft_run';

const CASES = [
  ['nf4', { format: 'nf4' as const }],
  ['nf4 + double quant', { format: 'nf4' as const, doubleQuant: true, groupSize: 32 }],
  ['int8', { format: 'int8' as const }],
  ['bfloat16', { format: 'bfloat16' as const }],
  ['nf4, bf16 compute', { format: 'nf4' as const, computeDtype: 'bfloat16' as const }],
  ['bfloat16, bf16 compute', { format: 'bfloat16' as const, computeDtype: 'bfloat16' as const }],
] as const;

describe.each(backendsWithKernels('dequantize', 'loraForward', 'gemmBf16'))('QLoRA on %s', (name) => {
  beforeAll(() => setBackend(name));

  it.each(CASES)('%s: the quantized model stays near float32, and LoRA training on it lowers the loss', (_, q) => {
    const inputs = inputsOf('llama', openGolden('llama'));
    const reference = loadFamily('llama');
    const floatLoss = forward(reference, inputs).loss.item();
    const model = loadFamily('llama');
    const { layers, bytesBefore, bytesAfter } = quantizeModel(model, q);
    expect(layers).toBeGreaterThan(0);
    expect(bytesAfter).toBeLessThan(bytesBefore / (q.format === 'bfloat16' ? 1.9 : 3.5));
    expect(model.namedModules().some(([p, m]) => p.endsWith('lm_head') && m instanceof QuantizedLinear)).toBe(false);
    const quantLoss = forward(model, inputs).loss.item();
    // A random tiny model has no outlier structure for 4 bits to spare: nf4 moves its loss by ~0.13 nats here.
    expect(Math.abs(quantLoss - floatLoss)).toBeLessThan({ bfloat16: 0.01, int8: 0.05, nf4: 0.2, float16: 0.01 }[q.format]);
    const peft = getPeftModel(model, new LoraConfig({ r: 4, loraAlpha: 8, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] }));
    const losses = train(peft, inputs, 8, 1e-2);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0] - 0.05);
    expect(peft.model.namedParameters().filter(([, t]) => t.requiresGrad).every(([n]) => /lora_[AB]/.test(n))).toBe(true);
    // Merging dequantizes the base, as HF; with dtype 'float32' the merged layers stay float32 and the
    // merged logits equal the adapted ones multiplied in float32 (bf16 compute moves logits by ~0.03 here).
    if ('computeDtype' in q) expect(setComputeDtype(peft.model, 'float32')).toBe(7 * 2);
    const adapted = forward(peft.model as never, inputs).logits.toFloat32Array();
    const merged = peft.mergeAndUnload({ dtype: 'float32' }) as typeof model;
    expect(merged.namedModules().some(([, m]) => m instanceof QuantizedLinear)).toBe(false);
    expect(forward(merged, inputs).logits).toAllClose(adapted, { rtol: 1e-4, atol: 1e-4 });
  });
});

describe.each(backendsWithKernels('dequantize', 'loraForward'))('merging into a low-precision base on %s', (name) => {
  beforeAll(() => setBackend(name));

  it.each(['bfloat16', 'nf4', 'int8'] as const)('%s: mergeAndUnload() writes bf16 layers (merged == unmerged to bf16 rounding)', (format) => {
    const inputs = inputsOf('llama', openGolden('llama'));
    const model = loadFamily('llama');
    quantizeModel(model, { format, computeDtype: 'bfloat16' });
    const peft = getPeftModel(model, new LoraConfig({ r: 4, loraAlpha: 8, targetModules: ['q_proj', 'v_proj', 'down_proj'] }));
    train(peft, inputs, 3, 1e-2);
    setComputeDtype(peft.model, 'float32');
    const adapted = forward(peft.model as never, inputs).logits.toFloat32Array();
    const merged = peft.mergeAndUnload();
    const layers = merged.namedModules().filter(([, m]) => m instanceof QuantizedLinear) as [string, QuantizedLinear][];
    // Every linear layer of the 2 blocks: 3 merged ones back in bf16, the other 4 untouched in their format.
    expect(layers.length).toBe(14);
    const mergedPaths = layers.filter(([p]) => /(q_proj|v_proj|down_proj)$/.test(p));
    // Stored as bf16, multiplied as the layer was when it merged (float32, set above).
    expect(mergedPaths.map(([, l]) => [l.weight.format, l.computeDtype])).toEqual(mergedPaths.map(() => ['bfloat16', 'float32']));
    setComputeDtype(merged, 'float32');
    // bf16 keeps 8 significant bits: the merged weights move by up to 2^-9 of themselves.
    expect(forward(merged, inputs).logits).toAllClose(adapted, { rtol: 2e-2, atol: 2e-2 });
  });

  it("refuses a merge dtype it does not write", () => {
    const model = loadFamily('llama');
    quantizeModel(model, { format: 'nf4' });
    const peft = getPeftModel(model, new LoraConfig({ r: 2, targetModules: ['q_proj'] }));
    expect(() => peft.mergeAndUnload({ dtype: 'float16' as never })).toThrow("mergeAndUnload: dtype must be 'bfloat16' or 'float32', got 'float16'");
  });
});

describe.each(backendsWithKernels('dequantize', 'loraForward'))('other methods on a quantized base on %s', (name) => {
  beforeAll(() => setBackend(name));

  it('(IA)3 on an nf4 Llama trains its vectors and lowers the loss; merging and mixed batches refuse by name', () => {
    const inputs = inputsOf('llama', openGolden('llama'));
    const model = loadFamily('llama');
    quantizeModel(model, { format: 'nf4' });
    const peft = getPeftModel(model, new IA3Config({ targetModules: ['k_proj', 'v_proj', 'down_proj'], feedforwardModules: ['down_proj'], initIa3Weights: false }));
    const losses = train(peft, inputs, 8, 5e-2);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0] - 0.01);
    expect(() => peft.mergeAndUnload()).toThrow(/Ia3Linear: merging needs a float32 base weight, and this layer's is nf4/);
  });

  it('BitFit on an int8 GPT-2 trains the biases of the quantized layers', () => {
    const inputs = inputsOf('gpt2', openGolden('gpt2'));
    const model = loadFamily('gpt2');
    quantizeModel(model, { format: 'int8' });
    const peft = getPeftModel(model, new BitFitConfig({}));
    const before = peft.model.namedParameters().find(([n]) => /attn\.c_attn\.bias$/.test(n))![1].toFloat32Array();
    const losses = train(peft, inputs, 6, 1e-2);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
    const after = peft.model.namedParameters().find(([n]) => /attn\.c_attn\.bias$/.test(n))![1].toFloat32Array();
    expect(Array.from(after)).not.toEqual(Array.from(before));
  });
});

describe.each(backendsWithKernels('dequantize'))('loading quantized on %s', (name) => {
  beforeAll(() => setBackend(name));

  it.each(['llama', 'gpt2', 'bert'])('%s: quantizing while reading the folder equals loading, then quantizing', (family) => {
    const inputs = inputsOf(family, openGolden(family));
    const q = { format: 'nf4' as const, doubleQuant: true };
    const streamed = loadHfModel(path.join(FIXTURES, family), { quantization: q });
    const after = loadFamily(family);
    quantizeModel(after, q);
    const layers = (m: Module) => m.namedModules().filter(([, x]) => x instanceof QuantizedLinear).map(([p]) => p);
    expect(layers(streamed)).toEqual(layers(after));
    expect(layers(streamed).length).toBeGreaterThan(0);
    expect(forward(streamed, inputs).logits.toFloat32Array()).toEqual(forward(after, inputs).logits.toFloat32Array());
  });
});

describe('prepareModelForKbitTraining', () => {
  it('freezes every parameter and turns gradient checkpointing on (unless told not to)', () => {
    const model = loadFamily('llama');
    quantizeModel(model, { format: 'nf4' });
    expect(prepareModelForKbitTraining(model)).toBe(model);
    expect(model.parameters().some((t) => t.requiresGrad)).toBe(false);
    expect(model.isGradientCheckpointing).toBe(true);
    const other = prepareModelForKbitTraining(loadFamily('gpt2'), { useGradientCheckpointing: false });
    expect(other.isGradientCheckpointing).toBe(false);
  });
});

describe('BitsAndBytesConfig', () => {
  it('maps loadIn4bit / loadIn8bit to the formats, the head left float32', () => {
    expect(quantizationConfigFormat({ loadIn4bit: true, bnb4bitQuantType: 'nf4', bnb4bitUseDoubleQuant: true }))
      .toEqual({ format: 'nf4', doubleQuant: true, skipModules: ['lm_head', 'classifier', 'score'], computeDtype: 'float32' });
    expect(quantizationConfigFormat({ loadIn4bit: true, bnb4bitComputeDtype: 'bfloat16' }).computeDtype).toBe('bfloat16');
    expect(quantizationConfigFormat({ loadIn8bit: true, llmInt8SkipModules: ['out'] })).toEqual({ format: 'int8', skipModules: ['out'] });
  });

  it('refuses unknown keys, both modes, neither, and fp4', () => {
    expect(() => quantizationConfigFormat({ loadIn4bit: true, bnb_4bit_quant_type: 'nf4' } as never)).toThrow("quantizationConfig: unknown key 'bnb_4bit_quant_type'");
    expect(() => quantizationConfigFormat({ loadIn4bit: true, loadIn8bit: true })).toThrow('you can only load in 4 bit or 8 bit, not both');
    expect(() => quantizationConfigFormat({})).toThrow('neither loadIn4bit nor loadIn8bit is true');
    expect(() => quantizationConfigFormat({ loadIn4bit: true, bnb4bitQuantType: 'fp4' })).toThrow("bnb4bitQuantType 'fp4' is not supported");
    expect(() => quantizationConfigFormat({ loadIn8bit: true, bnb4bitUseDoubleQuant: true })).toThrow('bnb4bit* settings apply to loadIn4bit');
    expect(() => quantizationConfigFormat({ loadIn4bit: true, bnb4bitComputeDtype: 'float16' as never })).toThrow("bnb4bitComputeDtype must be float32 or bfloat16, got 'float16'");
  });
});

describe.each(backendsWithKernels('dequantize', 'loraForward'))('AdaLoRA on a quantized base (HF\'s SVDLinear4bit / 8bitLt) on %s', (name) => {
  beforeAll(() => setBackend(name));

  it.each(['nf4', 'int8'] as const)('%s: base GEMM plus the adapter term, training and budgeting on the frozen base; merging refused by name', (format) => {
    const inputs = inputsOf('llama', openGolden('llama'));
    const model = loadFamily('llama');
    quantizeModel(model, { format });
    const peft = getPeftModel(model, new AdaLoraConfig({ targetModules: ['q_proj', 'v_proj', 'down_proj'], initR: 4, targetR: 2, tinit: 1, tfinal: 1, deltaT: 1, totalStep: 6, initLoraWeights: false }));
    const layer = peft.model.getSubmodule('model.layers.0.self_attn.q_proj') as SVDLinear;
    expect(layer.base_layer).toBeInstanceOf(QuantizedLinear);
    // the layer's output: the quantized base's own forward plus x (A * E)^T B^T * scaling / (ranknum + 1e-5)
    const x = noGrad(() => randn([3, layer.inFeatures], { seed: 5 }));
    const want = noGrad(() => {
      const [a, e, b, xv] = [layer.lora_A.get('default'), layer.lora_E.get('default'), layer.lora_B.get('default'), x].map((t) => t.toFloat32Array());
      const inF = layer.inFeatures, out = layer.outFeatures, r = 4, scale = layer.specs.get('default')!.scaling / Math.fround(4 + 1e-5);
      const term = new Float32Array(3 * out);
      for (let t = 0; t < 3; t++) for (let i = 0; i < r; i++) {
        let u = 0;
        for (let k = 0; k < inF; k++) u += xv[t * inF + k] * a[i * inF + k];
        for (let o = 0; o < out; o++) term[t * out + o] += b[o * r + i] * e[i] * u * scale;
      }
      return add(layer.base_layer.forward(x), fromArray(term, [3, out]));
    });
    expect(noGrad(() => layer.forward(x))).toAllClose(want, { rtol: 1e-4, atol: 1e-5 });

    const before = new Map(model.namedParameters().filter(([p]) => !/lora_/.test(p)).map(([p, t]) => [p, t.toFloat32Array()]));
    const losses = train(peft, inputs, 6, 1e-2, undefined, (step) => peft.updateAndAllocate(step));
    expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
    expect(peft.trainableParameters().length).toBe(3 * 2 * 3);  // A, B, E of three targets in two layers
    for (const [p, t] of model.namedParameters()) if (before.has(p)) expect(t.toFloat32Array()).toEqual(before.get(p));
    const kept = Object.values((peft.peftConfig.get('default') as AdaLoraConfig).rankPattern!).map((v) => v.filter(Boolean).length);
    expect(kept.reduce((a, b) => a + b, 0)).toBe(2 * 3 * 2);  // target_r per layer
    expect(() => peft.mergeAndUnload()).toThrow(/SVDLinear: merging needs a float32 base weight, and this layer's is (nf4|int8)/);
  });
});

describe.each(backendsWithKernels('dequantize'))('OFT on a quantized base (HF\'s oft/bnb.py) on %s', (name) => {
  beforeAll(() => setBackend(name));

  it.each(['nf4', 'int8'] as const)('%s: the input rotated, then the base\'s own GEMM; training leaves the base frozen; merging refused by name', (format) => {
    const inputs = inputsOf('llama', openGolden('llama'));
    const model = loadFamily('llama');
    quantizeModel(model, { format });
    const peft = getPeftModel(model, new OFTConfig({ targetModules: ['q_proj', 'v_proj'], oftBlockSize: 8, r: 0, initWeights: false }));
    const layer = peft.model.getSubmodule('model.layers.0.self_attn.q_proj') as OFTLinear;
    expect(layer.base_layer).toBeInstanceOf(QuantizedLinear);
    // the same adapter on the float32 layer with the quantized base's dequantized weight: the same output
    const x = noGrad(() => randn([3, layer.inFeatures], { seed: 6 }));
    const q = layer.base_layer as QuantizedLinear;
    const float = new OFTLinear(noGrad(() => {
      const l = new Linear(q.inFeatures, q.outFeatures, { bias: q.bias !== null });
      if (q.bias && l.bias) copyInto(l.bias, q.bias);
      copyInto(l.weight, q.weight.dequantize());
      return l;
    }));
    float.addAdapter('default', peft.peftConfig.get('default') as OFTConfig);
    copyInto(float.oft_R.get('default').weight, layer.oft_R.get('default').weight);
    float.setActiveAdapters(['default']);
    expect(noGrad(() => layer.forward(x))).toAllClose(noGrad(() => float.forward(x)), { rtol: 1e-4, atol: 1e-4 });

    const before = new Map(model.namedParameters().filter(([p]) => !/oft_/.test(p)).map(([p, t]) => [p, t.toFloat32Array()]));
    const losses = train(peft, inputs, 6, 1e-2);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
    for (const [p, t] of model.namedParameters()) if (before.has(p)) expect(t.toFloat32Array()).toEqual(before.get(p));
    expect(() => peft.mergeAndUnload()).toThrow(new RegExp(`OFTLinear: merging needs a float32 base weight, and this layer's is ${format}`));
  });
});
