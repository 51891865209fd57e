/**
 * Mixed batches (PeftModel.forward({ ..., adapterNames }), HF's adapter_names) for every tuner that runs
 * them (LoRA, IA3), in training mode: finite-difference checks of the mixed path's gradients (adapter
 * parameters, the input, and for LoRA a training base weight and bias), each adapter's gradient equal to
 * the one it gets alone on its own samples, and the one error for tuners that cannot run mixed batches.
 */
import * as path from 'path';
import {
  AdapterConfig, BASE_ADAPTER_NAME, BitFitConfig, intTensor, loadHfModel, concat, Conv1D, forwardWithAdapterNames, getPeftModel, IA3Config, Ia3Linear, Linear, LoraConfig, LoraLinear,
  manualSeed, Module, mul, PeftModel, PromptTuningConfig, randn, setBackend, setLoraWarningHandler, sumAll, type Tensor,
} from '../../lib';
import { gradcheck } from '../helpers/gradcheck';

const [B, T, K, H, N] = [4, 2, 4, 5, 3];
/** Samples 0 and 3 run a1, sample 1 the base model, sample 2 a0. */
const NAMES = ['a1', BASE_ADAPTER_NAME, 'a0', 'a1'];

/** x [B, T, K] -> up (Linear K->H) -> mid (Linear H->H) -> down (GPT-2 Conv1D H->N). */
class Tiny extends Module {
  readonly up = this.registerModule('up', new Linear(K, H));
  readonly mid = this.registerModule('mid', new Linear(H, H));
  readonly down = this.registerModule('down', new Conv1D(H, N, 0.5));
  forward(inputs: { inputsEmbeds: Tensor }): { logits: Tensor } {
    return { logits: this.down.forward(this.mid.forward(this.up.forward(inputs.inputsEmbeds))) };
  }
}

type Kind = 'lora' | 'ia3';

/** Two adapters that reach different layers (a layer without a sample's adapter runs that sample as the base). */
function tinyPeft(kind: Kind): PeftModel<Tiny> {
  manualSeed(5);
  const peft = kind === 'lora'
    ? getPeftModel(new Tiny(), new LoraConfig({ r: 2, loraAlpha: 4, targetModules: ['up', 'down'], initLoraWeights: false }), 'a0')
    : getPeftModel(new Tiny(), new IA3Config({ targetModules: ['up', 'down'], feedforwardModules: ['down'], initIa3Weights: false }), 'a0');
  if (kind === 'lora') peft.addAdapter('a1', new LoraConfig({ r: 3, loraAlpha: 5, useRslora: true, targetModules: ['up', 'mid'], initLoraWeights: false }));
  else peft.addAdapter('a1', new IA3Config({ targetModules: ['up', 'mid'], feedforwardModules: [], initIa3Weights: false }));
  peft.train();
  return peft;
}

/** Where a gradcheck input goes in the model. */
interface Slot {
  shape: number[];
  install(peft: PeftModel<Tiny>, t: Tensor): void;
}

function adapterSlots(kind: Kind): Slot[] {
  const sites: [string, 'up' | 'mid' | 'down', number, number, number][] = kind === 'lora'
    ? [['a0', 'up', K, H, 2], ['a0', 'down', H, N, 2], ['a1', 'up', K, H, 3], ['a1', 'mid', H, H, 3]]
    : [['a0', 'up', K, H, 0], ['a0', 'down', H, N, 0], ['a1', 'up', K, H, 0], ['a1', 'mid', H, H, 0]];
  return sites.flatMap(([name, site, inF, outF, r]): Slot[] => {
    if (kind === 'ia3') {
      const feedforward = site === 'down';
      return [{ shape: feedforward ? [1, inF] : [outF, 1], install: (p, t) => (p.model[site] as unknown as Ia3Linear).ia3_l.set(name, t) }];
    }
    const layer = (p: PeftModel<Tiny>) => p.model[site] as unknown as LoraLinear;
    return [
      { shape: [r, inF], install: (p, t) => layer(p).lora_A.get(name).setWeight(t) },
      { shape: [outF, r], install: (p, t) => layer(p).lora_B.get(name).setWeight(t) },
    ];
  });
}

/** LoRA: the up layer's base weight and bias train too (bias 'all', or a weight left unfrozen). */
const baseSlots: Slot[] = [
  { shape: [H, K], install: (p, t) => ((p.model.up as unknown as LoraLinear).base_layer as Linear).setWeight(t) },
  { shape: [H], install: (p, t) => { ((p.model.up as unknown as LoraLinear).base_layer as Linear).bias = t; } },
];

describe.each(['lora', 'ia3'] as const)('mixed batches through %s layers, in training mode', (kind) => {
  let warnings: Parameters<typeof setLoraWarningHandler>[0];
  beforeAll(() => { warnings = setLoraWarningHandler(() => {}); });  // Conv1D's fan_in_fan_out notice
  afterAll(() => { setLoraWarningHandler(warnings); setBackend('native'); });

  it('finite differences: the mixed path\'s gradients of every adapter parameter and of x', () => {
    const slots = [...adapterSlots(kind), ...(kind === 'lora' ? baseSlots : [])];
    const worst = gradcheck({
      inputs: [{ shape: [B, T, K] }, ...slots.map((s) => ({ shape: s.shape }))],
      fn: (x, ...params) => {
        const peft = tinyPeft(kind);
        slots.forEach((s, i) => s.install(peft, params[i]));
        return (peft.forward({ inputsEmbeds: x, adapterNames: NAMES }) as { logits: Tensor }).logits;
      },
    });
    expect(worst).toBeLessThan(1e-6);
  });

  it.each(['js', 'native'] as const)('on %s: each adapter\'s gradient is the one it gets alone on its own samples', (backendName) => {
    setBackend(backendName);
    const peft = tinyPeft(kind);
    const x = randn([B, T, K], { seed: 11 }).requiresGrad_();
    const r = randn([B, T, N], { seed: 12 });
    const loss = (logits: Tensor, proj: Tensor) => sumAll(mul(logits, proj));
    const gradsOf = (name: string) => peft.adapterParameters(name).map(([path, t]) => [path, t.grad?.toFloat32Array() ?? null] as const);
    const clearGrads = () => peft.parameters().forEach((t) => { t.grad = null; });

    loss((peft.forward({ inputsEmbeds: x, adapterNames: NAMES }) as { logits: Tensor }).logits, r).backward();
    const mixed = { a0: gradsOf('a0'), a1: gradsOf('a1') };
    const mixedDx = x.grad!;
    for (const grads of Object.values(mixed)) expect(grads.every(([, g]) => g !== null)).toBe(true);

    const samples = (t: Tensor, idx: number[]) => concat(idx.map((b) => t.slice(0, b, b + 1)), 0).contiguous();
    for (const name of [...new Set(NAMES)]) {
      const idx = NAMES.flatMap((n, b) => (n === name ? [b] : []));
      clearGrads();
      const xs = samples(x, idx).detach().requiresGrad_();
      const run = () => loss((peft.forward({ inputsEmbeds: xs }) as { logits: Tensor }).logits, samples(r, idx)).backward();
      if (name === BASE_ADAPTER_NAME) peft.disableAdapter(run);
      else {
        peft.setAdapter(name);
        run();
        const alone = gradsOf(name);
        alone.forEach(([path, g], i) => {
          expect(mixed[name as 'a0' | 'a1'][i][0]).toBe(path);
          expect(mixed[name as 'a0' | 'a1'][i][1]!).toAllClose(g!, { atol: 1e-5, rtol: 1e-4 });
        });
      }
      expect(samples(mixedDx, idx)).toAllClose(xs.grad!, { atol: 1e-5, rtol: 1e-4 });
    }

    // An adapter no sample names gets no gradient; the names are gone after the call.
    clearGrads();
    loss((peft.forward({ inputsEmbeds: x, adapterNames: ['a1', 'a1', BASE_ADAPTER_NAME, 'a1'] }) as { logits: Tensor }).logits, r).backward();
    expect(gradsOf('a0').every(([, g]) => g === null)).toBe(true);
    expect(gradsOf('a1').every(([, g]) => g !== null)).toBe(true);
    peft.setAdapter('a0');
    peft.eval();
    const plain = (peft.forward({ inputsEmbeds: x }) as { logits: Tensor }).logits;
    const allA0 = (forwardWithAdapterNames(peft, { inputsEmbeds: x }, ['a0', 'a0', 'a0', 'a0']) as { logits: Tensor }).logits;
    expect(allA0).toAllClose(plain, { atol: 1e-5, rtol: 1e-5 });
  });

  it('refuses merged adapters and a wrong count, in the layer and at the model', () => {
    const peft = tinyPeft(kind);
    const x = randn([B, T, K], { seed: 1 });
    expect(() => peft.forward({ inputsEmbeds: x, adapterNames: ['a0', 'a1'] }))
      .toThrow(/length of adapterNames should be the same as the number of inputs, but got 2 and 4/);
    expect(() => peft.forward({ inputsEmbeds: x, adapterNames: ['a0', 'zz', 'a1', 'yy'] })).toThrow(/non-existing adapter\(s\): yy, zz/);
    peft.merge(['a0']);
    expect(() => peft.forward({ inputsEmbeds: x, adapterNames: NAMES })).toThrow(/cannot run a mixed batch \(adapterNames\) with merged adapters/);
    peft.unmerge();
    const layer = peft.model.up as unknown as { setMixedBatch(n: string[] | null): void; forward(x: Tensor): Tensor };
    layer.setMixedBatch(['a0']);
    expect(() => layer.forward(x)).toThrow(/adapterNames has 1 names but the batch has 4 samples/);
    layer.setMixedBatch(null);
  });
});

describe('tuners without mixed batches', () => {
  it('give one error naming the tuner (and the layer kind where its layers cannot)', () => {
    const gpt2 = () => loadHfModel(path.join(__dirname, '..', 'fixtures', 'models', 'gpt2'));
    const refuse = (peft: PeftModel) => () => peft.forward({ inputIds: intTensor([[1, 5], [2, 6]]), adapterNames: ['default', 'default'] });
    const unsupported = (what: string) =>
      new RegExp(`^forward with adapterNames: ${what} cannot run a mixed batch \\(one adapter per sample\\); LoRA \\(Linear and Conv1D layers\\) and IA3 can$`);
    expect(refuse(getPeftModel(gpt2(), new BitFitConfig({})))).toThrow(unsupported('BITFIT adapters'));
    expect(refuse(getPeftModel(gpt2(), new PromptTuningConfig({ numVirtualTokens: 2 })))).toThrow(unsupported('PROMPT_TUNING adapters'));
    expect(refuse(getPeftModel(gpt2(), new AdapterConfig({})))).toThrow(unsupported('BOTTLENECK_ADAPTER adapters on \\w+ layers'));
  });
});
