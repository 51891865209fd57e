/**
 * Prefix tuning through the peft API on the golden tiny models: with the prefixes set to the keys and
 * values the base model computes for a token sequence S, the outputs on X equal the base model's on
 * [S; X] (which checks the table's layout, HF's positions after the prefix and the mask extension);
 * BERT's prefix attention against attention computed by hand; HF's trainable counts with and without the
 * projection; training lowers the loss; cached generation; disabled == base.
 */
import {
  BertConfig, copyInto, fromArray, generate, generateWithAdapter, getPeftModel, KVCache, manualSeed, noGrad,
  PrefixTuningConfig, setBackend, type BertForSequenceClassification, type PretrainedModel, type Tensor,
} from '../../lib';
import { BertSelfAttention } from '../../lib/nn/models/bert/model';
import { hostRandom } from '../helpers/backends';
import { baseOutputs, goldenInputs, loadFamily, peftOutputs, prependByHand, trainLosses } from '../helpers/prompt';

type CausalModel = Exclude<PretrainedModel, BertForSequenceClassification>;

/** The base model's cached keys and values for ids, laid out as HF's prefix table [P, L * 2 * width]. */
function prefixTableOf(model: CausalModel, ids: number[], layers: number, width: number): Float32Array {
  const cache = new KVCache();
  noGrad(() => model.forward({ inputIds: { data: Int32Array.from(ids), shape: [1, ids.length] }, cache }));
  const entries = (cache as unknown as { layers: { k: Tensor; v: Tensor }[] }).layers;
  const p = ids.length, cols = layers * 2 * width;
  const table = new Float32Array(p * cols);
  for (let l = 0; l < layers; l++) {
    const k = entries[l].k.toFloat32Array(), v = entries[l].v.toFloat32Array();
    for (let t = 0; t < p; t++) {
      table.set(k.subarray(t * width, (t + 1) * width), t * cols + 2 * l * width);
      table.set(v.subarray(t * width, (t + 1) * width), t * cols + (2 * l + 1) * width);
    }
  }
  cache.dispose();
  return table;
}

describe.each(['js', 'native'] as const)('prefix tuning on %s', (backendName) => {
  beforeAll(() => setBackend(backendName));

  it.each([['llama', 16, 2], ['gpt2', 32, 4]] as const)('%s: prefixes = the base model\'s keys/values of S give the base model\'s outputs on [S; X]', (family, width, heads) => {
    const { inputs, logits: golden } = goldenInputs(family);
    const model = loadFamily(family) as CausalModel;
    const config = new PrefixTuningConfig({ numVirtualTokens: 3 });
    const peft = getPeftModel(model as PretrainedModel, config);
    // HF's _prepare_prompt_learning_config: grouped-query attention narrows the prefix to the kv heads
    // (Llama: 4 heads of 8 -> 2 kv heads, token_dim 16).
    expect([config.tokenDim, config.numAttentionHeads, config.numLayers]).toEqual([width, heads, 2]);
    // HF: trainable = num_virtual_tokens * num_layers * 2 * token_dim.
    expect(peft.getNbTrainableParameters().trainable).toBe(3 * 2 * 2 * width);
    const s = [7, 21, 40];
    const table = peft.getParameter('prompt_encoder.default.embedding.weight');
    expect(table.shape).toEqual([3, 2 * 2 * width]);
    copyInto(table, fromArray(prefixTableOf(model, s, 2, width), table.shape));

    const [batch, time] = inputs.inputIds.shape;
    const joined: number[] = [];
    for (let b = 0; b < batch; b++) joined.push(...s, ...inputs.inputIds.data.subarray(b * time, (b + 1) * time));
    const expected = baseOutputs(model, { inputIds: { data: Int32Array.from(joined), shape: [batch, 3 + time] }, attentionMask: prependByHand(inputs.attentionMask!, 3, 1) });
    const got = peftOutputs(peft, inputs);
    expect(got.logits.shape).toEqual([batch, time, golden.shape[2]]);
    expect(got.logits).toAllClose(expected.logits.slice(1, 3, 3 + time), { atol: 2e-5, rtol: 1e-5 });
    expect(peft.disableAdapter(() => peftOutputs(peft, inputs).logits)).toAllClose(golden, { rtol: 1e-4, atol: 1e-5 });
  });

  it('bert: the adapter hands each layer its slice of the table (HF\'s [2l, 2l+1] pairs)', () => {
    manualSeed(2);
    const { inputs, logits: golden } = goldenInputs('bert');
    const model = loadFamily('bert');
    const peft = getPeftModel(model, new PrefixTuningConfig({ numVirtualTokens: 2 }));
    const table = peft.getParameter('prompt_encoder.default.embedding.weight').toFloat32Array();
    const batch = inputs.inputIds.shape[0];
    const prefixKeyValues = [0, 1].map((l) => {
      const part = (slot: number) => {
        const out: number[] = [];
        for (let b = 0; b < batch; b++) for (let t = 0; t < 2; t++) out.push(...table.subarray(t * 128 + slot * 32, t * 128 + (slot + 1) * 32));
        return fromArray(out, [batch, 2, 32]);
      };
      return { k: part(2 * l), v: part(2 * l + 1) };
    });
    const got = peftOutputs(peft, inputs);
    expect(got.logits).toAllClose(baseOutputs(model, { ...inputs, prefixKeyValues }).logits, { atol: 1e-6 });
    expect(() => expect(got.logits).toAllClose(golden, { atol: 1e-3 })).toThrow();
    expect(peft.disableAdapter(() => peftOutputs(peft, inputs).logits)).toAllClose(golden, { rtol: 1e-4, atol: 1e-5 });
  });

  it('bert self-attention with a prefix equals softmax(q [pk; k]^T / sqrt(d)) [pv; v] by hand, under the padding mask', () => {
    manualSeed(4);
    const config = new BertConfig({ hiddenSize: 8, numAttentionHeads: 2, intermediateSize: 8, numHiddenLayers: 1, vocabSize: 10 });
    const attn = new BertSelfAttention(config);
    const x = fromArray(hostRandom(3 * 8, 1), [1, 3, 8]);
    const pk = fromArray(hostRandom(2 * 8, 2), [1, 2, 8]), pv = fromArray(hostRandom(2 * 8, 3), [1, 2, 8]);
    const mask = Int32Array.from([1, 1, 1, 1, 0]); // prefix keys, then tokens (the last is padding)
    const got = noGrad(() => attn.forward(x, mask, { k: pk, v: pv })).toFloat32Array();
    const q = noGrad(() => attn.query.forward(x)).toFloat32Array();
    const k = [...pk.toFloat32Array(), ...noGrad(() => attn.key.forward(x)).toFloat32Array()];
    const v = [...pv.toFloat32Array(), ...noGrad(() => attn.value.forward(x)).toFloat32Array()];
    const want = new Float32Array(24);
    for (let h = 0; h < 2; h++) {
      for (let i = 0; i < 3; i++) {
        const scores = [0, 1, 2, 3, 4].map((j) => {
          let s = 0;
          for (let d = 0; d < 4; d++) s += q[i * 8 + h * 4 + d] * k[j * 8 + h * 4 + d];
          return mask[j] ? s / 2 : -Infinity;
        });
        const m = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - m));
        const z = e.reduce((a, b) => a + b, 0);
        for (let d = 0; d < 4; d++) want[i * 8 + h * 4 + d] = e.reduce((acc, w, j) => acc + (w / z) * v[j * 8 + h * 4 + d], 0);
      }
    }
    expect(got).toAllClose(want, { atol: 1e-6 });
  });

  it.each(['llama', 'gpt2', 'bert'])('%s: a short training run lowers the loss (plain and projected prefixes)', (family) => {
    for (const prefixProjection of [false, true]) {
      manualSeed(9);
      const { inputs } = goldenInputs(family);
      const model = loadFamily(family);
      const peft = getPeftModel(model, new PrefixTuningConfig({ numVirtualTokens: 4, prefixProjection, encoderHiddenSize: 16 }));
      const { before, after } = trainLosses(peft, inputs, 10, prefixProjection ? 0.01 : 0.05);
      expect(after).toBeLessThan(before * 0.97);
    }
  });
});

describe('prefix tuning: projection, generation, HF\'s numbers', () => {
  beforeAll(() => setBackend('native'));

  it('prefixProjection: HF\'s PrefixEncoder (embedding, transform.0 Linear, Tanh, transform.2 Linear) and its trainable count', () => {
    const model = loadFamily('gpt2');
    const config = new PrefixTuningConfig({ numVirtualTokens: 3, prefixProjection: true, encoderHiddenSize: 8 });
    const peft = getPeftModel(model, config);
    expect(peft.namedParameters().filter(([, t]) => t.requiresGrad).map(([n, t]) => `${n} [${t.shape.join(', ')}]`)).toEqual([
      'prompt_encoder.default.embedding.weight [3, 32]',
      'prompt_encoder.default.transform.0.weight [8, 32]', 'prompt_encoder.default.transform.0.bias [8]',
      'prompt_encoder.default.transform.2.weight [128, 8]', 'prompt_encoder.default.transform.2.bias [128]',
    ]);
    // HF: embedding 3 * 32 + Linear(32, 8) (32 * 8 + 8) + Linear(8, 2 * 2 * 32) (8 * 128 + 128).
    expect(peft.getNbTrainableParameters().trainable).toBe(96 + 264 + 1152);
    // encoderHiddenSize defaults to token_dim as HF fills it.
    const other = new PrefixTuningConfig({ numVirtualTokens: 3, prefixProjection: true });
    getPeftModel(loadFamily('gpt2'), other);
    expect(other.encoderHiddenSize).toBe(32);
  });

  it.each(['llama', 'gpt2'])('%s: cached generation equals greedy decoding over full forwards', (family) => {
    manualSeed(8);
    const model = loadFamily(family) as CausalModel;
    const peft = getPeftModel(model as PretrainedModel, new PrefixTuningConfig({ numVirtualTokens: 3 }));
    const prompt = [3, 14, 15];
    const got = generateWithAdapter(peft, prompt, { maxNewTokens: 5 });
    const ids = [...prompt];
    for (let i = 0; i < 5; i++) {
      const logits = peftOutputs(peft, { inputIds: { data: Int32Array.from(ids), shape: [1, ids.length] } }).logits;
      const last = logits.slice(1, logits.shape[1] - 1).toFloat32Array();
      ids.push(last.indexOf(Math.max(...last)));
    }
    expect(got).toEqual(ids.slice(prompt.length));
    expect(peft.disableAdapter(() => generateWithAdapter(peft, prompt, { maxNewTokens: 5 }))).toEqual(generate(model, prompt, { maxNewTokens: 5 }));
  });
});
