/**
 * LoRA on an embedding table (HF's lora.Embedding): A = 0 and B ~ N(0, 1) at init, the lookup
 * table[ids] + s A^T[ids] B^T, gradients only for A and B, merge / unmerge, HF's saved keys
 * (`...embed_tokens.lora_embedding_A`, no `.weight`), reload, and the refusals (DoRA, weighted, mixed batch).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  AdamW, copyInto, getPeftModel, intTensor, loadHfModel, LoraConfig, noGrad, PeftModel, randn, SafetensorsFile, setBackend, tidy,
} from '../../lib';
import { LoraEmbedding } from '../../lib/peft/tuners/lora/embedding_layer';
import { forward, inputsOf, openGolden } from '../helpers/golden';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'models');
const loadLlama = () => loadHfModel(path.join(FIXTURES, 'llama'));
const VOCAB = 97, HIDDEN = 32;

/** table[ids] + s A^T[ids] B^T, by hand on the host. */
function lookupByHand(table: Float32Array, a: Float32Array, b: Float32Array, r: number, s: number, ids: number[]): Float32Array {
  const out = new Float32Array(ids.length * HIDDEN);
  ids.forEach((id, t) => {
    for (let j = 0; j < HIDDEN; j++) {
      let acc = 0;
      for (let k = 0; k < r; k++) acc += a[k * VOCAB + id] * b[j * r + k];
      out[t * HIDDEN + j] = table[id * HIDDEN + j] + s * acc;
    }
  });
  return out;
}

describe.each(['js', 'native'] as const)('LoRA on embed_tokens, %s backend', (backendName) => {
  beforeAll(() => setBackend(backendName));

  it('starts as the identity (A = 0, B ~ N(0, 1)) and looks up table[ids] + s A^T[ids] B^T', () => {
    const peft = getPeftModel(loadLlama(), new LoraConfig({ r: 4, loraAlpha: 8, targetModules: ['embed_tokens'] }));
    const layer = peft.model.getSubmodule('model.embed_tokens') as LoraEmbedding;
    expect(layer).toBeInstanceOf(LoraEmbedding);
    const a = layer.lora_embedding_A.get('default'), b = layer.lora_embedding_B.get('default');
    expect([a.shape, b.shape]).toEqual([[4, VOCAB], [HIDDEN, 4]]);
    expect(a.toFloat32Array().every((v) => v === 0)).toBe(true);
    const bv = b.toFloat32Array();
    const std = Math.sqrt(bv.reduce((acc, v) => acc + v * v, 0) / bv.length);
    expect(std).toBeGreaterThan(0.7);
    expect(std).toBeLessThan(1.3);
    expect(peft.getNbTrainableParameters().trainable).toBe(4 * (VOCAB + HIDDEN));

    const ids = [3, 0, 96, 3, 41];
    const table = layer.base_layer.weight.toFloat32Array();
    const atInit = noGrad(() => layer.forward(intTensor([ids])));
    expect(atInit.toFloat32Array()).toEqual(lookupByHand(table, a.toFloat32Array(), bv, 4, 2, ids));
    noGrad(() => copyInto(a, randn([4, VOCAB], { seed: 5 })));
    const got = noGrad(() => layer.forward(intTensor([ids])));
    expect(got.shape).toEqual([1, ids.length, HIDDEN]);
    expect(got).toAllClose(lookupByHand(table, a.toFloat32Array(), bv, 4, 2, ids), { atol: 1e-5, rtol: 1e-5 });
    peft.dispose();
  });

  it('trains only A and B, merges and unmerges, and saves and reloads under HF\'s keys', () => {
    const golden = openGolden('llama');
    const inputs = inputsOf('llama', golden);
    const peft = getPeftModel(loadLlama(), new LoraConfig({ r: 2, loraAlpha: 4, targetModules: ['embed_tokens', 'q_proj'] }));
    const trainable = peft.model.namedParameters().filter(([, t]) => t.requiresGrad).map(([n]) => n);
    expect(trainable.filter((n) => n.includes('embed_tokens'))).toEqual([
      'model.embed_tokens.lora_embedding_A.default', 'model.embed_tokens.lora_embedding_B.default',
    ]);
    const table = peft.model.getParameter('model.embed_tokens.base_layer.weight');
    const tableBefore = table.toFloat32Array();
    const logits = () => noGrad(() => forward(peft.model as never, inputs).logits);
    const base = logits();
    const opt = new AdamW(peft.trainableParameters(), { lr: 2e-2 });
    const losses: number[] = [];
    for (let i = 0; i < 4; i++) {
      opt.zeroGrad();
      losses.push(tidy(() => {
        const { loss } = forward(peft.model as never, inputs);
        loss.backward();
        return loss.item();
      }));
      opt.step();
    }
    expect(losses[3]).toBeLessThan(losses[0]);
    expect(table).toAllClose(tableBefore, { atol: 0, rtol: 0 });
    const a = peft.model.getParameter('model.embed_tokens.lora_embedding_A.default');
    expect(a.toFloat32Array().some((v) => v !== 0)).toBe(true);
    const adapted = logits();
    expect(() => expect(adapted).toAllClose(base, { atol: 1e-4 })).toThrow();
    expect(peft.disableAdapter(() => logits())).toAllClose(base, { atol: 1e-6 });

    peft.merge();
    expect(() => expect(table).toAllClose(tableBefore, { atol: 1e-6 })).toThrow();
    expect(logits()).toAllClose(adapted, { atol: 1e-5, rtol: 1e-5 });
    peft.unmerge();
    expect(table).toAllClose(tableBefore, { atol: 1e-6, rtol: 1e-6 });

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peftjs-lora-emb-'));
    peft.savePretrained(dir);
    const st = SafetensorsFile.open(path.join(dir, 'adapter_model.safetensors'));
    const keys = st.list().map((e) => e.name).filter((k) => k.includes('embed_tokens'));
    expect(keys.sort()).toEqual(['base_model.model.model.embed_tokens.lora_embedding_A', 'base_model.model.model.embed_tokens.lora_embedding_B']);
    expect(st.list().find((e) => e.name.endsWith('lora_embedding_A'))!.shape).toEqual([2, VOCAB]);
    st.close();
    const reloaded = PeftModel.fromPretrained(loadLlama(), dir);
    expect(noGrad(() => forward(reloaded.model as never, inputs).logits)).toAllClose(adapted, { atol: 1e-6 });
    golden.file.close();
    peft.dispose();
    reloaded.dispose();
  });

  it('refuses what it cannot do on an embedding, naming it', () => {
    expect(() => getPeftModel(loadLlama(), new LoraConfig({ targetModules: ['embed_tokens'], useDora: true })))
      .toThrow(/LoraEmbedding: DoRA is not supported on embedding layers/);
    const peft = getPeftModel(loadLlama(), new LoraConfig({ r: 2, targetModules: ['embed_tokens'] }));
    peft.addAdapter('other', new LoraConfig({ r: 2, targetModules: ['embed_tokens'] }));
    expect(() => peft.addWeightedAdapter(['default', 'other'], [0.5, 0.5], 'mix', 'linear'))
      .toThrow(/addWeightedAdapter: adapters on embedding layers cannot be combined yet \(model\.embed_tokens\)/);
    peft.eval();
    expect(() => peft.forward({ inputIds: intTensor([[1, 2]]), adapterNames: ['default'] })).toThrow(/LORA adapters on LoraEmbedding layers cannot run a mixed batch/);
    peft.dispose();
  });
});
