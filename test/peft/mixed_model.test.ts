/**
 * PeftMixedModel (HF peft's mixed_model.py over tuners/mixed/model.py): LoRA, LoHa, LoKr (and OFT) adapters on
 * one Llama, nested as HF nests them, several active at once. The HF-layout folders lora_llama, loha_llama and
 * lokr_llama loaded into one model give the logits test/fixtures/peft/make_mixed_fixture.py computes in torch
 * for each active set; a module's output is its base output plus the sum of each active adapter's term;
 * merging and mergeAndUnload keep the logits; training moves only the active adapters; HF's refusals.
 */
import * as path from 'path';
import {
  getPeftModel, IA3Config, Linear, LoHaConfig, LoHaLinear, LoKrConfig, LoKrLinear, LoraConfig, LoraLinear, noGrad, OFTConfig, OFTLinear,
  PeftMixedModel, PeftModel, randn, SafetensorsFile, setBackend, type Tensor,
} from '../../lib';
import { expectedLogits, load, logitsOf, PEFT_FIXTURES, trainSteps } from './vera_lycoris_helpers';

const fixture = (name: string) => path.join(PEFT_FIXTURES, name);

/** make_mixed_fixture.py's logits for one active set ('lora+loha+lokr', 'lora+loha', 'loha+lokr'). */
function mixedLogits(set: string): Tensor {
  const st = SafetensorsFile.open(path.join(PEFT_FIXTURES, 'mixed_llama', 'expected.safetensors'));
  try {
    return st.load(set);
  } finally {
    st.close();
  }
}

/** The three fixture folders in one mixed model, loaded in this order (so LoRA is the innermost layer). */
function loadThree(): PeftMixedModel {
  const peft = PeftMixedModel.fromPretrained(load('llama'), fixture('lora_llama'), 'lora');
  peft.loadAdapter(fixture('loha_llama'), 'loha');
  peft.loadAdapter(fixture('lokr_llama'), 'lokr');
  return peft;
}

const tol = { atol: 1e-4, rtol: 1e-4 };

beforeAll(() => setBackend('native'));

describe.each(['native', 'js'] as const)('the HF-layout LoRA, LoHa and LoKr folders in one PeftMixedModel on %s', (backendName) => {
  beforeAll(() => setBackend(backendName));
  afterAll(() => setBackend('native'));

  it('each active set gives torch\'s logits; disabled gives the base model\'s', () => {
    const peft = loadThree();
    // HF: a loaded adapter is not activated; the first one (from fromPretrained) is.
    expect(peft.activeAdapters).toEqual(['lora']);
    expect(logitsOf(peft.model, 'llama')).toAllClose(expectedLogits(fixture('lora_llama')), tol);
    peft.setAdapter(['lora', 'loha', 'lokr']);
    expect(logitsOf(peft.model, 'llama')).toAllClose(mixedLogits('lora+loha+lokr'), tol);
    peft.setAdapter(['lora', 'loha']);
    expect(logitsOf(peft.model, 'llama')).toAllClose(mixedLogits('lora+loha'), tol);
    peft.setAdapter(['lokr', 'loha']);  // the order given does not matter: the nesting order is the forward's
    expect(logitsOf(peft.model, 'llama')).toAllClose(mixedLogits('loha+lokr'), tol);
    peft.setAdapter('loha');
    expect(logitsOf(peft.model, 'llama')).toAllClose(expectedLogits(fixture('loha_llama')), tol);
    peft.setAdapter('lokr');
    expect(logitsOf(peft.model, 'llama')).toAllClose(expectedLogits(fixture('lokr_llama')), tol);
    peft.setAdapter(['lora', 'loha', 'lokr']);
    const base = logitsOf(load('llama'), 'llama');
    expect(peft.disableAdapter(() => logitsOf(peft.model, 'llama'))).toAllClose(base, { atol: 0, rtol: 0 });
    expect(logitsOf(peft.model, 'llama')).toAllClose(mixedLogits('lora+loha+lokr'), tol);
  });

  it('merge, unmerge and mergeAndUnload keep the logits (1e-5); the result is the plain model', () => {
    const peft = loadThree();
    peft.setAdapter(['lora', 'loha', 'lokr']);
    const unmerged = logitsOf(peft.model, 'llama');
    peft.merge();
    expect(logitsOf(peft.model, 'llama')).toAllClose(unmerged, { atol: 1e-5, rtol: 1e-5 });
    peft.unmerge();
    expect(logitsOf(peft.model, 'llama')).toAllClose(unmerged, { atol: 1e-5, rtol: 1e-5 });
    const model = peft.mergeAndUnload();
    expect(model.getSubmodule('model.layers.0.self_attn.q_proj').constructor).toBe(Linear);
    expect(model.namedParameters().map(([p]) => p).filter((p) => /lora_|hada_|lokr_|base_layer/.test(p))).toEqual([]);
    expect(logitsOf(model, 'llama')).toAllClose(unmerged, { atol: 1e-5, rtol: 1e-5 });
    expect(logitsOf(model, 'llama')).toAllClose(mixedLogits('lora+loha+lokr'), tol);
  });

  it('loaded in another order (LoRA outermost, over LoKr over LoHa) the same logits', () => {
    const peft = PeftMixedModel.fromPretrained(load('llama'), fixture('loha_llama'), { adapterName: 'loha' });
    peft.loadAdapter(fixture('lokr_llama'), 'lokr');
    peft.loadAdapter(fixture('lora_llama'), 'lora');
    const q = peft.model.getSubmodule('model.layers.0.self_attn.q_proj') as LoraLinear;
    expect(q).toBeInstanceOf(LoraLinear);
    expect(q.base_layer).toBeInstanceOf(LoKrLinear);
    peft.setAdapter(['lora', 'loha', 'lokr']);
    expect(logitsOf(peft.model, 'llama')).toAllClose(mixedLogits('lora+loha+lokr'), tol);
    peft.setAdapter(['loha', 'lora']);
    expect(logitsOf(peft.model, 'llama')).toAllClose(mixedLogits('lora+loha'), tol);
    expect(logitsOf(peft.mergeAndUnload(), 'llama')).toAllClose(mixedLogits('lora+loha'), tol);
  });
});

describe('nesting as HF\'s MixedModel', () => {
  it('a module targeted by three types nests their layers in load order; parameter paths as HF\'s', () => {
    const peft = loadThree();
    const q = peft.model.getSubmodule('model.layers.0.self_attn.q_proj') as LoKrLinear;
    expect(q).toBeInstanceOf(LoKrLinear);
    expect(q.base_layer).toBeInstanceOf(LoHaLinear);
    expect((q.base_layer as unknown as LoHaLinear).base_layer).toBeInstanceOf(LoraLinear);
    expect(((q.base_layer as unknown as LoHaLinear).base_layer as unknown as LoraLinear).base_layer).toBeInstanceOf(Linear);
    // k_proj: LoHa only; v_proj: LoKr over LoRA; up_proj: LoHa only; down_proj: LoKr over LoRA
    expect(peft.model.getSubmodule('model.layers.0.self_attn.k_proj')).toBeInstanceOf(LoHaLinear);
    const v = peft.model.getSubmodule('model.layers.0.self_attn.v_proj') as LoKrLinear;
    expect(v).toBeInstanceOf(LoKrLinear);
    expect(v.base_layer).toBeInstanceOf(LoraLinear);
    const names = peft.namedParameters().map(([p]) => p);
    const pre = 'base_model.model.model.layers.0.self_attn.q_proj';
    for (const p of [`${pre}.lokr_w1_a.lokr`, `${pre}.base_layer.hada_w1_a.loha`, `${pre}.base_layer.base_layer.lora_A.lora.weight`,
      `${pre}.base_layer.base_layer.base_layer.weight`]) expect(names).toContain(p);
  });

  it('a module\'s output is its base output plus the sum of each active adapter\'s term (1e-5)', () => {
    // LoRA in the middle: LoKr(LoRA(LoHa(Linear))), so LoRA's fused kernel must run the LoHa under it first
    const peft = getPeftModel(load('llama'), new LoHaConfig({ r: 2, targetModules: ['q_proj', 'k_proj'], initWeights: false }), { mixed: true, adapterName: 'loha' });
    expect(peft).toBeInstanceOf(PeftMixedModel);
    peft.addAdapter('lora', new LoraConfig({ r: 4, targetModules: ['q_proj', 'v_proj'], initLoraWeights: false }));
    peft.addAdapter('lokr', new LoKrConfig({ r: 2, targetModules: ['q_proj'], initWeights: false }));
    const q = peft.model.getSubmodule('model.layers.1.self_attn.q_proj') as LoKrLinear;
    expect(q.base_layer).toBeInstanceOf(LoraLinear);
    const x = noGrad(() => randn([2, 5, 32]));
    const run = (names: string[] | null) => noGrad(() => {
      if (names === null) return peft.disableAdapter(() => q.forward(x)).toFloat32Array();
      peft.setAdapter(names);
      return q.forward(x).toFloat32Array();
    });
    const base = run(null);
    const single = ['lora', 'loha', 'lokr'].map((n) => run([n]));
    // each adapter alone changes the output (none starts as the identity here)
    for (const s of single) expect(Math.max(...s.map((v, j) => Math.abs(v - base[j])))).toBeGreaterThan(1e-3);
    const all = run(['lora', 'loha', 'lokr']);
    let worst = 0;
    for (let j = 0; j < base.length; j++) {
      const sum = single.reduce((acc, s) => acc + (s[j] - base[j]), 0);
      worst = Math.max(worst, Math.abs(all[j] - base[j] - sum));
    }
    expect(worst).toBeLessThan(1e-5);
    // and the whole model: merged into the weights, the same logits
    const unmerged = logitsOf(peft.model, 'llama');
    expect(logitsOf(peft.mergeAndUnload(), 'llama')).toAllClose(unmerged, { atol: 1e-5, rtol: 1e-5 });
  });

  it('OFT nests too: over a LoRA its rotation feeds the LoRA as well, and merging (innermost first) keeps the logits', () => {
    const peft = getPeftModel(load('llama'), new LoraConfig({ r: 4, targetModules: ['q_proj'], initLoraWeights: false }), { mixed: true, adapterName: 'lora' });
    peft.addAdapter('oft', new OFTConfig({ r: 0, oftBlockSize: 8, targetModules: ['q_proj', 'o_proj'], initWeights: false }));
    peft.setAdapter(['lora', 'oft']);
    const q = peft.model.getSubmodule('model.layers.0.self_attn.q_proj') as OFTLinear;
    expect(q).toBeInstanceOf(OFTLinear);
    expect(q.base_layer).toBeInstanceOf(LoraLinear);
    const unmerged = logitsOf(peft.model, 'llama');
    peft.setAdapter('lora');
    expect(() => expect(logitsOf(peft.model, 'llama')).toAllClose(unmerged, { atol: 1e-3 })).toThrow();
    peft.setAdapter(['lora', 'oft']);
    expect(logitsOf(peft.mergeAndUnload(), 'llama')).toAllClose(unmerged, { atol: 1e-5, rtol: 1e-5 });
  });

  it('adds to a layer of its own type that is outermost, and wraps again when another type is on top', () => {
    const peft = getPeftModel(load('llama'), new LoraConfig({ targetModules: ['q_proj'] }), { mixed: true, adapterName: 'a' });
    peft.addAdapter('b', new LoraConfig({ targetModules: ['q_proj'] }));
    const path0 = 'model.layers.0.self_attn.q_proj';
    expect((peft.model.getSubmodule(path0) as LoraLinear).adapterNames()).toEqual(['a', 'b']);
    peft.addAdapter('h', new LoHaConfig({ targetModules: ['q_proj'] }));
    peft.addAdapter('c', new LoraConfig({ targetModules: ['q_proj'] }));
    const top = peft.model.getSubmodule(path0) as LoraLinear;
    expect(top.adapterNames()).toEqual(['c']);
    expect(top.base_layer).toBeInstanceOf(LoHaLinear);
    expect(((top.base_layer as unknown as LoHaLinear).base_layer as unknown as LoraLinear).adapterNames()).toEqual(['a', 'b']);
  });
});

describe('setAdapter, deleteAdapter and training', () => {
  it('setAdapter activates several, makes them trainable and freezes the rest; unknown names are HF\'s error', () => {
    const peft = loadThree();
    const counts = (n: string) => peft.adapterParameters(n).reduce((a, [, t]) => a + t.shape.reduce((x, y) => x * y, 1), 0);
    // loaded without isTrainable: frozen
    expect(peft.getNbTrainableParameters().trainable).toBe(0);
    peft.setAdapter(['lora', 'lokr']);
    expect(peft.getNbTrainableParameters().trainable).toBe(counts('lora') + counts('lokr'));
    expect(peft.adapterParameters('loha').every(([, t]) => !t.requiresGrad)).toBe(true);
    peft.setAdapter(['loha'], { inferenceMode: true });
    expect(peft.getNbTrainableParameters().trainable).toBe(0);
    expect(() => peft.setAdapter(['lora', 'nope', 'zz'])).toThrow("setAdapter: Adapter(s) ['nope', 'zz'] not found, available adapters: ['loha', 'lokr', 'lora']");
  });

  it('training a few steps moves only the active adapters\' parameters; the loss falls', () => {
    const peft = getPeftModel(load('llama'), new LoraConfig({ r: 4, targetModules: ['q_proj', 'v_proj'] }), { mixed: true, adapterName: 'lora' });
    peft.addAdapter('loha', new LoHaConfig({ r: 2, targetModules: ['q_proj', 'up_proj'], initWeights: false }));
    peft.addAdapter('lokr', new LoKrConfig({ r: 2, targetModules: ['q_proj', 'down_proj'], initWeights: false }));
    peft.setAdapter(['lora', 'loha']);
    const snapshot = () => new Map(peft.namedParameters().map(([p, t]) => [p, Float32Array.from(t.toFloat32Array())]));
    const before = snapshot();
    const { first, last } = trainSteps(peft, 'llama', 4);
    expect(last).toBeLessThan(first);
    const after = snapshot();
    const moved = [...before].filter(([p, v]) => after.get(p)!.some((x, i) => x !== v[i])).map(([p]) => p);
    const owner = (p: string) => (/\.lora_[AB]\.lora\./.test(p) ? 'lora' : /\.hada_w\w+\.loha$/.test(p) ? 'loha' : /\.lokr_w\w+\.lokr$/.test(p) ? 'lokr' : 'base');
    expect(new Set(moved.map(owner))).toEqual(new Set(['lora', 'loha']));
    // every LoRA and LoHa tensor moved (B starts at zero and gets a gradient; A moves from the next step)
    const all = [...before.keys()];
    expect(all.filter((p) => owner(p) === 'lora' || owner(p) === 'loha').every((p) => moved.includes(p))).toBe(true);
  });

  it('deleteAdapter drops an adapter from every layer it is in; the others stay active', () => {
    const peft = loadThree();
    peft.setAdapter(['lora', 'loha', 'lokr']);
    peft.deleteAdapter('loha');
    expect([...peft.peftConfig.keys()]).toEqual(['lora', 'lokr']);
    expect(peft.activeAdapters).toEqual(['lora', 'lokr']);
    expect(peft.namedParameters().some(([p]) => p.includes('hada_'))).toBe(false);
    expect(() => peft.deleteAdapter('loha')).toThrow("deleteAdapter: Adapter(s) ['loha'] not found, available adapters: ['lokr', 'lora']");
    peft.merge();
    expect(() => peft.deleteAdapter('lora')).toThrow(/Cannot delete adapter\(s\) \['lora'\] because they are merged/);
  });
});

describe('what PeftMixedModel refuses, as HF', () => {
  it('an incompatible type is an error naming it and the compatible ones', () => {
    const message = "The provided `peft_type` 'IA3' is not compatible with the `PeftMixedModel`. Compatible types are: LORA, LOHA, LOKR, OFT";
    const model = load('llama');
    expect(() => getPeftModel(model, new IA3Config({ targetModules: ['k_proj'], feedforwardModules: [] }), { mixed: true })).toThrow(message);
    expect(model.getSubmodule('model.layers.0.self_attn.k_proj')).toBeInstanceOf(Linear);   // untouched
    const peft = getPeftModel(load('llama'), new LoraConfig({ targetModules: ['q_proj'] }), { mixed: true });
    expect(() => peft.addAdapter('ia3', new IA3Config({ targetModules: ['k_proj'], feedforwardModules: [] }))).toThrow(message);
    expect([...peft.peftConfig.keys()]).toEqual(['default']);
    expect(() => PeftMixedModel.fromPretrained(load('llama'), fixture('vera_llama'))).toThrow(/Adapter of type VERA is not supported for mixed models\./);
    expect(() => peft.loadAdapter(fixture('vera_llama'), 'vera')).toThrow(/The provided `peft_type` 'VERA' is not compatible/);
  });

  it('saving, weighted adapters, mixed batches and a taken name', () => {
    const peft = loadThree();
    expect(() => peft.savePretrained('/nonexistent')).toThrow('Saving is not supported for PeftMixedModel (yet).');
    expect(() => peft.addWeightedAdapter(['lora'], [1], 'w')).toThrow('Weighted adapters are not supported for PeftMixedModel (yet).');
    expect(() => peft.forward({ inputIds: null, adapterNames: ['lora'] })).toThrow(/adapterNames .* is not supported/);
    expect(() => peft.addAdapter('loha', new LoHaConfig({ targetModules: ['q_proj'] }))).toThrow("Adapter with name 'loha' already exists.");
  });

  it('a failed addition leaves the model as it was (a LoKr factor that does not divide a later target)', () => {
    const peft = loadThree();
    peft.setAdapter(['lora', 'loha', 'lokr']);
    const before = peft.model.namedParameters().map(([p]) => p);
    // 16 divides q_proj (added to its LoKr layer) and k_proj (a new LoKr layer over its LoHa), not gate_proj's 56
    expect(() => peft.addAdapter('bad', new LoKrConfig({ targetModules: ['q_proj', 'k_proj', 'gate_proj'], decomposeFactor: 16 })))
      .toThrow(/decomposeFactor 16 does not divide out_features 56 of 'model.layers.0.mlp.gate_proj'/);
    expect(peft.model.namedParameters().map(([p]) => p)).toEqual(before);
    expect(peft.model.getSubmodule('model.layers.0.self_attn.k_proj')).toBeInstanceOf(LoHaLinear);
    expect([...peft.peftConfig.keys()]).toEqual(['lora', 'loha', 'lokr']);
    expect(logitsOf(peft.model, 'llama')).toAllClose(mixedLogits('lora+loha+lokr'), tol);
  });

  it('a PeftModel still holds one type only', () => {
    const peft = getPeftModel(load('llama'), new LoHaConfig({ targetModules: ['q_proj'] }));
    expect(peft).not.toBeInstanceOf(PeftMixedModel);
    expect(() => peft.addAdapter('l', new LoraConfig({ targetModules: ['q_proj'] }))).toThrow(/holds LOHA adapters; a LORA adapter cannot join them/);
    expect(PeftModel.fromPretrained(load('llama'), fixture('lora_llama'))).not.toBeInstanceOf(PeftMixedModel);
  });
});
