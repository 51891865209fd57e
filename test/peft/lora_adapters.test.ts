/**
 * Several LoRA adapters on one model: mixed batches (one adapter per sample, '__base__' for none, HF's
 * `adapter_names`) against each sample run alone; several active adapters summed; deleteAdapter, unload,
 * mergeAndUnload and disableAdapter.
 */
import * as path from 'path';
import {
  getPeftModel, intTensor, Linear, LlamaForCausalLM, loadHfModel, LoraConfig, LoraLinear, manualSeed, noGrad, PeftModel, setBackend, type Tensor,
} from '../../lib';
import { openGolden } from '../helpers/golden';

const MODELS = path.join(__dirname, '..', 'fixtures', 'models');
const llama = () => loadHfModel(path.join(MODELS, 'llama')) as LlamaForCausalLM;

/** a0 on q/v (r 2), a1 on q/k/down (r 3, rsLoRA): trained-looking (random B). */
function twoAdapters(): PeftModel<LlamaForCausalLM> {
  manualSeed(21);
  const peft = getPeftModel(llama(), new LoraConfig({ r: 2, loraAlpha: 4, targetModules: ['q_proj', 'v_proj'], initLoraWeights: false }), 'a0');
  peft.addAdapter('a1', new LoraConfig({ r: 3, loraAlpha: 5, useRslora: true, targetModules: ['q_proj', 'k_proj', 'down_proj'], initLoraWeights: false }));
  return peft;
}

const ROWS = [[1, 5, 9, 33, 2, 70, 14], [1, 44, 3, 3, 8, 90, 61], [1, 12, 80, 7, 7, 19, 6]];
const batchOf = (rows: number[][]) => ({ inputIds: intTensor(rows) });
const logitsOf = (peft: PeftModel, inputs: object) => noGrad(() => (peft.forward(inputs) as { logits: Tensor }).logits);
const rowsOf = (t: Tensor, b: number) => t.slice(0, b, b + 1).contiguous();

beforeAll(() => setBackend('native'));

describe.each(['js', 'native'] as const)('mixed batches (adapterNames) on %s', (backendName) => {
  beforeAll(() => setBackend(backendName));
  afterAll(() => setBackend('native'));

  it('each sample gets its own adapter (or none): equal to running the samples alone', () => {
    const peft = twoAdapters();
    peft.eval();
    const names = ['a1', '__base__', 'a0'];
    const mixed = logitsOf(peft, { ...batchOf(ROWS), adapterNames: names });
    expect(mixed.shape).toEqual([3, 7, 97]);
    names.forEach((name, b) => {
      const alone = name === '__base__'
        ? peft.disableAdapter(() => logitsOf(peft, batchOf([ROWS[b]])))
        : (peft.setAdapter(name), logitsOf(peft, batchOf([ROWS[b]])));
      expect(rowsOf(mixed, b)).toAllClose(alone, { atol: 1e-5, rtol: 1e-5 });
    });
    // the adapters differ, so this is not trivially true
    peft.setAdapter('a0');
    expect(() => expect(rowsOf(mixed, 0)).toAllClose(logitsOf(peft, batchOf([ROWS[0]])), { atol: 1e-3 })).toThrow();
    // one adapter for every sample == the ordinary forward with it active
    expect(logitsOf(peft, { ...batchOf(ROWS), adapterNames: ['a0', 'a0', 'a0'] })).toAllClose(logitsOf(peft, batchOf(ROWS)), { atol: 1e-5, rtol: 1e-5 });
    // after the call the layers run the active adapter again
    expect(peft.model.namedModules().filter(([, m]) => m instanceof LoraLinear).every(([, m]) => (m as unknown as { mixedNames: unknown }).mixedNames === null)).toBe(true);
  });

  it('refuses what HF refuses (training mode aside: see mixed_batch.test.ts): unknown adapters, a wrong count, merged or DoRA adapters', () => {
    const peft = twoAdapters();
    peft.eval();
    expect(() => logitsOf(peft, { ...batchOf(ROWS), adapterNames: ['a0', 'zz', 'yy'] })).toThrow(/non-existing adapter\(s\): yy, zz/);
    expect(() => logitsOf(peft, { ...batchOf(ROWS), adapterNames: ['a0', 'a1'] })).toThrow(/length of adapterNames should be the same as the number of inputs, but got 2 and 3/);
    peft.merge();
    expect(() => logitsOf(peft, { ...batchOf(ROWS), adapterNames: ['a0', 'a0', 'a1'] })).toThrow(/merged adapters/);
    peft.unmerge();
    peft.addAdapter('d', new LoraConfig({ r: 2, targetModules: ['o_proj'], useDora: true }));
    peft.eval();
    expect(() => logitsOf(peft, { ...batchOf(ROWS), adapterNames: ['d', 'a0', 'a1'] })).toThrow(/DoRA/);
    // a failed mixed call leaves no per-sample state behind
    peft.setAdapter('a0');
    expect(logitsOf(peft, batchOf(ROWS)).shape).toEqual([3, 7, 97]);
  });
});

describe('adapter management', () => {
  it('setAdapter with several names sums their terms; merge of both matches', () => {
    const peft = twoAdapters();
    const inputs = batchOf(ROWS);
    const base = peft.disableAdapter(() => logitsOf(peft, inputs));
    const q = peft.model.getSubmodule('model.layers.0.self_attn.q_proj') as LoraLinear;
    const x = noGrad(() => (q.base_layer.weight as Tensor).slice(0, 0, 4).contiguous());  // any [4, 32] input
    const term = (names: string[]) => { peft.setAdapter(names); return noGrad(() => q.forward(x)); };
    const y0 = term(['a0']).toFloat32Array(), y1 = term(['a1']).toFloat32Array(), both = term(['a0', 'a1']).toFloat32Array();
    const b = noGrad(() => q.base_layer.forward(x)).toFloat32Array();
    expect(both).toAllClose(y0.map((v, i) => v + y1[i] - b[i]), { atol: 1e-5, rtol: 1e-5 });
    expect(peft.activeAdapters).toEqual(['a0', 'a1']);
    const summed = logitsOf(peft, inputs);
    expect(() => expect(summed).toAllClose(base, { atol: 1e-3 })).toThrow();
    peft.merge();
    expect(logitsOf(peft, inputs)).toAllClose(summed, { atol: 1e-5, rtol: 1e-5 });
    peft.unmerge();
  });

  it('deleteAdapter removes its weights and config; the other runs alone', () => {
    const peft = twoAdapters();
    const inputs = batchOf(ROWS);
    peft.setAdapter('a1');
    const only1 = logitsOf(peft, inputs);
    peft.setAdapter(['a0', 'a1']);
    peft.deleteAdapter('a0');
    expect([...peft.peftConfig.keys()]).toEqual(['a1']);
    expect(peft.activeAdapters).toEqual(['a1']);
    expect(peft.model.namedParameters().some(([n]) => n.includes('.a0.'))).toBe(false);
    expect(logitsOf(peft, inputs)).toAllClose(only1, { atol: 1e-6 });
    // v_proj had only a0: its layer still wraps the base and adds nothing
    const v = peft.model.getSubmodule('model.layers.0.self_attn.v_proj') as LoraLinear;
    expect(v.adapterNames()).toEqual([]);
    expect(() => peft.deleteAdapter('a0')).toThrow(/no adapter named 'a0'/);
  });

  it('disableAdapter gives the base outputs inside its scope only', () => {
    const peft = twoAdapters();
    const golden = openGolden('llama');
    const inputs = { inputIds: golden.ids('input_ids') };
    const adapted = logitsOf(peft, inputs);
    expect(peft.disableAdapter(() => logitsOf(peft, inputs))).toAllClose(golden.tensor('logits'), { atol: 1e-5, rtol: 1e-4 });
    expect(logitsOf(peft, inputs)).toAllClose(adapted, { atol: 0, rtol: 0 });
    golden.file.close();
  });

  it('unload gives back the base model, untouched', () => {
    const peft = twoAdapters();
    const golden = openGolden('llama');
    const inputs = { inputIds: golden.ids('input_ids') };
    const model = peft.unload();
    expect(model.namedModules().some(([, m]) => m instanceof LoraLinear)).toBe(false);
    expect(model.getSubmodule('model.layers.0.self_attn.q_proj')).toBeInstanceOf(Linear);
    expect([...model.stateDict().keys()].some((k) => k.includes('lora'))).toBe(false);
    expect(noGrad(() => model.forward(inputs).logits)).toAllClose(golden.tensor('logits'), { atol: 1e-5, rtol: 1e-4 });
    golden.file.close();
  });

  it('mergeAndUnload returns the plain base model with merged weights and the adapted outputs', () => {
    const peft = twoAdapters();
    peft.setAdapter(['a0', 'a1']);
    const inputs = batchOf(ROWS);
    const adapted = logitsOf(peft, inputs);
    const w0 = ((peft.model.getSubmodule('model.layers.1.self_attn.k_proj') as LoraLinear).base_layer.weight as Tensor).toFloat32Array();
    const model = peft.mergeAndUnload();
    expect(model.namedModules().some(([, m]) => m instanceof LoraLinear)).toBe(false);
    const keys = [...model.stateDict().keys()];
    const fresh = [...llama().stateDict().keys()];
    expect(keys.sort()).toEqual(fresh.sort());
    expect(model.getParameter('model.layers.1.self_attn.k_proj.weight').toFloat32Array().some((v, i) => v !== w0[i])).toBe(true);
    expect(noGrad(() => model.forward(inputs).logits)).toAllClose(adapted, { atol: 1e-5, rtol: 1e-5 });
  });
});
