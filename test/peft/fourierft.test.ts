/**
 * FourierFT (HF peft's FourierFTConfig / FourierFTModel / FourierFTLinear): adapter folders in HF's layout
 * written by test/fixtures/peft/make_fourierft_adaption_fixture.py (Llama, GPT-2's Conv1D) load to torch's
 * logits; the frequencies' locations are torch's randperm draws (fourierft_randperm.json); the delta is
 * real(ifft2) of the dense spectrum; save -> load is byte-identical; merged == unmerged; HF's init, names,
 * shapes and trainable counts; training lowers the loss; bad input is an error naming the field.
 */
import * as fs from 'fs';
import * as path from 'path';
import {
  Embedding, FourierFTConfig, FourierFTLinear, fromArray, GPT2Config, GPT2LMHeadModel, getPeftModel, Linear, linear, Mt19937, noGrad,
  PeftModel, setBackend, torchRandpermPrefix,
} from '../../lib';
import { withoutInit } from '../../lib/nn/init';
import { largeN, smallN } from '../../lib/peft/tuners/fourierft/randperm';
import { checkFixture, checkIdentityAtInit, load, logitsOf, PEFT_FIXTURES, rawEntries, tmp, trainSteps } from './vera_lycoris_helpers';

beforeAll(() => setBackend('native'));

const layerAt = (peft: PeftModel, p: string) => peft.model.getSubmodule(p) as FourierFTLinear;

describe.each(['native', 'js'] as const)('HF-layout FourierFT folders on %s', (backendName) => {
  beforeAll(() => setBackend(backendName));
  afterAll(() => setBackend('native'));
  it.each([['fourierft_llama', 'llama'], ['fourierft_gpt2', 'gpt2']])(
    '%s: torch\'s logits, byte-identical round trip, merged == unmerged', (name, family) => {
      const peft = checkFixture(name, family);
      if (family === 'llama') {
        // n_frequency_pattern {down_proj: 100}, else n_frequency 40
        expect(layerAt(peft, 'model.layers.1.mlp.down_proj').specs.get('default')!.nFrequency).toBe(100);
        expect(layerAt(peft, 'model.layers.0.self_attn.q_proj').specs.get('default')!.nFrequency).toBe(40);
      } else {
        expect(peft.peftConfig.get('default')!.toJSON().fan_in_fan_out).toBe(true);
      }
    });
});

describe('FourierFT\'s frequency locations are torch\'s randperm draws', () => {
  const file = JSON.parse(fs.readFileSync(path.join(PEFT_FIXTURES, 'fourierft_randperm.json'), 'utf8')) as {
    torch_version: string; cases: { n: number; seed: number; k: number; first: number[] }[];
  };

  it.each(file.cases.map((c) => [c.n, c.seed, c.k, c.first] as const))('randperm(%d, seed %d)[:%d] equals torch\'s', (n, seed, k, first) => {
    expect(torchRandpermPrefix(n, seed, k)).toEqual(first);
  });

  it('the layer\'s indices are (idx // in, idx % in) of randperm(out * in) under random_loc_seed', () => {
    const peft = getPeftModel(load('llama'), new FourierFTConfig({ nFrequency: 40, randomLocSeed: 7, targetModules: ['v_proj'] }));
    const spec = layerAt(peft, 'model.layers.0.self_attn.v_proj').specs.get('default')!;   // v_proj [16, 32]
    const torchIdx = file.cases.find((c) => c.n === 16 * 32 && c.seed === 7)!.first;
    expect([...spec.rows]).toEqual(torchIdx.map((i) => Math.floor(i / 32)));
    expect([...spec.cols]).toEqual(torchIdx.map((i) => i % 32));
  });

  it('the large-n branch (torch >= 2.1, n >= 2^32 / 20: inside-out with 64-bit draws) tracks the first k entries of the whole-array algorithm', () => {
    // torch 1.13 here draws every n with the small-n branch, so this branch is checked against its own definition.
    for (const [n, seed, k] of [[50, 3, 10], [7, 1, 7], [1000, 777, 33]]) {
      const gen = new Mt19937(seed);
      const r = new Array<number>(n);
      for (let i = 0; i < n; i++) {
        const hi = BigInt(gen.next()), lo = BigInt(gen.next());
        const z = Number(((hi << 32n) | lo) % BigInt(i + 1));
        r[i] = r[z];
        r[z] = i;
      }
      expect(largeN(new Mt19937(seed), n, k)).toEqual(r.slice(0, k));
    }
    // and the small-n branch against the whole-array swap loop
    const gen = new Mt19937(9);
    const r = Array.from({ length: 40 }, (_, i) => i);
    for (let i = 0; i < 39; i++) {
      const z = gen.next() % (40 - i);
      [r[i], r[i + z]] = [r[i + z], r[i]];
    }
    expect(smallN(new Mt19937(9), 40, 40)).toEqual(r);
  });
});

describe('FourierFT\'s delta weight', () => {
  it('is real(ifft2(dense spectrum)) * scaling (a direct double-precision DFT), on both forward paths', () => {
    for (const backendName of ['native', 'js'] as const) {
      setBackend(backendName);
      const base = noGrad(() => new Linear(7, 5));
      const layer = new FourierFTLinear(base);
      layer.addAdapter('default', { nFrequency: 12, scaling: 3, randomLocSeed: 11, initWeights: false });
      layer.setActiveAdapters(['default']);
      const s = layer.fourierft_spectrum.get('default').toFloat32Array();
      const spec = layer.specs.get('default')!;
      const want = new Float64Array(5 * 7);
      for (let a = 0; a < 5; a++) for (let b = 0; b < 7; b++) {
        let acc = 0;
        for (let f = 0; f < 12; f++) acc += s[f] * Math.cos(2 * Math.PI * (a * spec.rows[f] / 5 + b * spec.cols[f] / 7));
        want[a * 7 + b] = (acc / 35) * 3;
      }
      const delta = noGrad(() => layer.deltaWeight('default'));
      expect(delta).toAllClose(fromArray(Float32Array.from(want), [5, 7]), { atol: 1e-6, rtol: 1e-5 });
      // one token takes ((x V^T) [s; s]) U, a batch x delta^T: the same numbers
      for (const rows of [1, 9]) {
        const x = noGrad(() => fromArray(Float32Array.from({ length: rows * 7 }, (_, i) => Math.sin(i + 1)), [rows, 7]));
        const y = noGrad(() => layer.forward(x));
        const ref = noGrad(() => linear(x, base.weight, base.bias));
        const d = noGrad(() => linear(x, delta));
        expect(noGrad(() => y)).toAllClose(noGrad(() => fromArray(Float32Array.from(ref.toFloat32Array(), (v, i) => v + d.toFloat32Array()[i]), [rows, 5])), { atol: 1e-6, rtol: 1e-5 });
      }
    }
    setBackend('native');
  });
});

describe('FourierFT adapters as HF peft makes them', () => {
  it('keys and shapes: <module>.fourierft_spectrum [n_frequency], nothing else; config keys and HF\'s defaults', () => {
    const peft = getPeftModel(load('llama'), new FourierFTConfig({ nFrequency: 30, targetModules: ['q_proj', 'up_proj'], nFrequencyPattern: { up_proj: 50 } }));
    const dir = tmp();
    peft.savePretrained(dir);
    const e = rawEntries(path.join(dir, 'adapter_model.safetensors'));
    expect(Object.fromEntries([...e].map(([k, v]) => [k, v.shape]))).toEqual(Object.fromEntries([0, 1].flatMap((l) => [
      [`base_model.model.model.layers.${l}.self_attn.q_proj.fourierft_spectrum`, [30]],
      [`base_model.model.model.layers.${l}.mlp.up_proj.fourierft_spectrum`, [50]],
    ])));
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
    expect(config).toMatchObject({ peft_type: 'FOURIERFT', n_frequency: 30, scaling: 150, random_loc_seed: 777, fan_in_fan_out: false, bias: 'none',
      init_weights: false, n_frequency_pattern: { up_proj: 50 }, target_modules: ['q_proj', 'up_proj'], inference_mode: true });
    const d = new FourierFTConfig();
    expect([d.nFrequency, d.scaling, d.randomLocSeed, d.initWeights, d.fanInFanOut, d.bias]).toEqual([1000, 150, 777, false, false, 'none']);
  });

  it('init: HF\'s default (init_weights false) draws the spectrum ~ N(0, 1), so it is not the identity; init_weights true is zeros, the identity', () => {
    checkIdentityAtInit((m) => getPeftModel(m, new FourierFTConfig({ nFrequency: 20, targetModules: ['q_proj', 'down_proj'], initWeights: true })));
    const base = logitsOf(load('llama'), 'llama');
    const peft = getPeftModel(load('llama'), new FourierFTConfig({ nFrequency: 200, targetModules: ['q_proj', 'down_proj'] }));
    const s = layerAt(peft, 'model.layers.0.self_attn.q_proj').fourierft_spectrum.get('default').toFloat32Array();
    const mean = s.reduce((a, b) => a + b, 0) / s.length, variance = s.reduce((a, b) => a + (b - mean) ** 2, 0) / s.length;
    expect(Math.abs(mean)).toBeLessThan(0.3);
    expect(variance).toBeGreaterThan(0.6);
    expect(variance).toBeLessThan(1.5);
    expect(() => expect(logitsOf(peft.model, 'llama')).toAllClose(base, { atol: 1e-3 })).toThrow();
  });

  it('fan_in_fan_out follows the layer as HF corrects it; bias \'fourier_only\' trains the adapted layers\' biases', () => {
    const onLlama = getPeftModel(load('llama'), new FourierFTConfig({ nFrequency: 8, targetModules: ['q_proj'], fanInFanOut: true }));
    expect(onLlama.peftConfig.get('default')!.toJSON().fan_in_fan_out).toBe(false);
    const peft = getPeftModel(load('gpt2'), new FourierFTConfig({ nFrequency: 8, bias: 'fourier_only' }));
    // default GPT-2 target: mlp.c_proj (HF's FourierFT mapping), not LoRA's c_attn
    expect(peft.peftConfig.get('default')!.toJSON()).toMatchObject({ target_modules: ['mlp.c_proj'], fan_in_fan_out: true });
    const trainable = peft.model.namedParameters().filter(([, t]) => t.requiresGrad).map(([p]) => p).sort();
    expect(trainable).toEqual([0, 1].flatMap((l) => [`transformer.h.${l}.mlp.c_proj.base_layer.bias`, `transformer.h.${l}.mlp.c_proj.fourierft_spectrum.default`]).sort());
  });

  it('trains: the loss falls, only the spectra get gradients (Llama, and GPT-2\'s Conv1D)', () => {
    const peft = getPeftModel(load('llama'), new FourierFTConfig({ nFrequency: 64, scaling: 30, targetModules: ['q_proj', 'v_proj', 'up_proj'] }));
    const { first, last, msPerStep } = trainSteps(peft, 'llama');
    expect(last).toBeLessThan(first);
    expect(peft.model.namedParameters().filter(([, t]) => t.requiresGrad).every(([p]) => p.includes('.fourierft_spectrum.'))).toBe(true);
    process.stdout.write(`fourierft step (tiny llama, 64 frequencies on q/v/up): ${msPerStep.toFixed(2)} ms\n`);
    const gpt2 = getPeftModel(load('gpt2'), new FourierFTConfig({ nFrequency: 64, scaling: 30, targetModules: ['c_attn', 'c_fc'] }));
    const g = trainSteps(gpt2, 'gpt2');
    expect(g.last).toBeLessThan(g.first);
  });

  it('trainable count of a default FourierFTConfig on GPT-2 small (1000 frequencies on each mlp.c_proj): HF\'s', () => {
    const model = withoutInit(() => new GPT2LMHeadModel(new GPT2Config()));
    const peft = getPeftModel(model, new FourierFTConfig());
    // fourierft_spectrum [1000] on each of 12 mlp.c_proj; GPT-2 small has 124,439,808 parameters.
    expect(peft.getNbTrainableParameters()).toEqual({ trainable: 12000, all: 124439808 + 12000 });
    const lines: string[] = [];
    peft.printTrainableParameters((l) => lines.push(l));
    expect(lines).toEqual(['trainable params: 12,000 || all params: 124,451,808 || trainable%: 0.0096']);
    peft.dispose();
  });
});

describe('bad FourierFT input is an error naming the field', () => {
  it('in the constructor', () => {
    expect(() => new FourierFTConfig({ nFrequency: 0 })).toThrow(/FourierFTConfig: nFrequency must be a positive integer, got 0/);
    expect(() => new FourierFTConfig({ nFrequency: 2.5 })).toThrow(/nFrequency must be a positive integer, got 2\.5/);
    expect(() => new FourierFTConfig({ scaling: '150' as never })).toThrow(/FourierFTConfig: scaling must be a number, got "150"/);
    expect(() => new FourierFTConfig({ randomLocSeed: 1.5 })).toThrow(/FourierFTConfig: randomLocSeed must be an integer/);
    expect(() => new FourierFTConfig({ bias: 'lora_only' as never })).toThrow(/bias must be 'none', 'all' or 'fourier_only', got "lora_only"/);
    expect(() => new FourierFTConfig({ initWeights: 'yes' as never })).toThrow(/initWeights must be a boolean/);
    expect(() => new FourierFTConfig({ nFrequencyPattern: { q_proj: 0 } })).toThrow(/nFrequencyPattern\['q_proj'\] must be a positive integer, got 0/);
    expect(() => new FourierFTConfig({ targetModules: '.*q_proj', layersToTransform: [0] })).toThrow(/layersToTransform cannot be used when targetModules is a str/);
    expect(() => new FourierFTConfig({ targetModules: ['q_proj'], layersPattern: 'layers' })).toThrow(/when layersPattern is specified, layersToTransform must also be specified/);
  });

  it('on the model: more frequencies than the weight has entries, unsupported modules, targets not found', () => {
    // v_proj [16, 32] has 512 entries
    expect(() => getPeftModel(load('llama'), new FourierFTConfig({ nFrequency: 513, targetModules: ['v_proj'] })))
      .toThrow(/n_frequency should be less than or equal to the product of the input and output dimensions but the value passed is 513 and the product is 512/);
    expect(() => getPeftModel(load('llama'), new FourierFTConfig({ nFrequency: 8, targetModules: ['embed_tokens'] })))
      .toThrow(new RegExp(`'model\\.embed_tokens' \\(${Embedding.name}\\) is not supported`));
    expect(() => getPeftModel(load('llama'), new FourierFTConfig({ nFrequency: 8, targetModules: ['nope'] }))).toThrow(/target modules \["nope"\] not found/);
  });

  it('in adapter_config.json and the weights: the file and the key named', () => {
    const dir = tmp();
    const src = path.join(PEFT_FIXTURES, 'fourierft_llama');
    for (const f of fs.readdirSync(src)) fs.copyFileSync(path.join(src, f), path.join(dir, f));
    const file = path.join(dir, 'adapter_config.json');
    const good = JSON.parse(fs.readFileSync(file, 'utf8'));
    const withField = (k: string, v: unknown) => fs.writeFileSync(file, JSON.stringify({ ...good, [k]: v }));
    withField('n_frequency', '40');
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/adapter_config\.json.*'n_frequency' must be a number, got "40"/);
    withField('random_loc_seed', null);
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/adapter_config\.json.*'random_loc_seed' must be a number, got null/);
    withField('n_frequency_pattern', { down_proj: -1 });
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/adapter_config\.json: FourierFTConfig: nFrequencyPattern\['down_proj'\] must be a positive integer/);
    // a config whose n_frequency does not match the file's spectra
    withField('n_frequency', 41);
    expect(() => PeftModel.fromPretrained(load('llama'), dir)).toThrow(/'model\.layers\.0\.self_attn\.q_proj\.fourierft_spectrum' has shape \[40\], the model's adapter has \[41\]/);
  });
});
