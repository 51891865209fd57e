/**
 * Prompt tuning through the peft API on the golden tiny models: the outputs equal the base model run on
 * [virtual token embeddings; token embeddings] assembled by hand; TEXT init equals the base model on the
 * text's ids put before the inputs; HF's trainable counts; training lowers the loss; disabled == base.
 */
import {
  type BertForSequenceClassification, getPeftModel, manualSeed, PromptTuningConfig, setBackend, type Tokenizer,
  generate, generateWithAdapter, GPT2LMHeadModel, type PretrainedModel, type Tensor,
} from '../../lib';
import { baseOutputs, embedsByHand, goldenInputs, loadFamily, peftOutputs, prependByHand, trainLosses } from '../helpers/prompt';

const stubTokenizer = (ids: number[]): Tokenizer => ({
  vocabSize: 100, bosId: null, eosId: null, padId: null, encode: () => [...ids], decode: () => '',
});

describe.each(['js', 'native'] as const)('prompt tuning on %s', (backendName) => {
  beforeAll(() => setBackend(backendName));

  it.each(['llama', 'gpt2', 'bert'])('%s: outputs equal the model on [virtual; token embeddings] built by hand; disabled == base', (family) => {
    manualSeed(11);
    const { inputs, logits: golden } = goldenInputs(family);
    const model = loadFamily(family);
    const baseCount = model.numParameters();
    const config = new PromptTuningConfig({ numVirtualTokens: 3 });
    const peft = getPeftModel(model, config);
    // Filled from config.json as HF's _prepare_prompt_learning_config does (hidden 32, 2 layers, 4 heads).
    expect([config.tokenDim, config.numLayers, config.numAttentionHeads, config.numTransformerSubmodules]).toEqual([32, 2, 4, 1]);
    // HF: trainable = num_virtual_tokens * token_dim = 3 * 32 (the PromptEmbedding table); the base is frozen.
    expect(peft.getNbTrainableParameters()).toEqual({ trainable: 96, all: baseCount + 96 });
    expect(peft.namedParameters().filter(([, t]) => t.requiresGrad).map(([n]) => n)).toEqual(['prompt_encoder.default.embedding.weight']);

    const table = peft.getParameter('prompt_encoder.default.embedding.weight');
    const words = (model as unknown as { inputEmbeddings: { weight: Tensor } }).inputEmbeddings.weight;
    const byHand: Record<string, unknown> = {
      ...inputs,
      inputsEmbeds: embedsByHand(table.toFloat32Array(), words.toFloat32Array(), inputs.inputIds, 3, 32),
      attentionMask: prependByHand(inputs.attentionMask!, 3, 1),
    };
    if (family === 'bert') byHand.tokenTypeIds = prependByHand(inputs.tokenTypeIds!, 3, 0);
    else byHand.labels = prependByHand(inputs.labels!, 3, -100);
    const expected = baseOutputs(model, byHand);
    const got = peftOutputs(peft, inputs);
    const [batch, time] = inputs.inputIds.shape;
    expect(got.logits.shape).toEqual(family === 'bert' ? [batch, 3] : [batch, 3 + time, golden.shape[2]]);
    expect(got.logits).toAllClose(expected.logits, { atol: 1e-6, rtol: 1e-6 });
    expect(got.loss.item()).toBeCloseTo(expected.loss.item(), 6);
    // The virtual tokens change the real tokens' outputs.
    const real = family === 'bert' ? got.logits : got.logits.slice(1, 3, 3 + time);
    expect(() => expect(real).toAllClose(golden, { atol: 1e-3 })).toThrow();
    expect(peft.disableAdapter(() => peftOutputs(peft, inputs).logits)).toAllClose(golden, { rtol: 1e-4, atol: 1e-5 });
  });

  it.each(['llama', 'gpt2'])('%s: TEXT init equals the base model with the text\'s ids before the inputs', (family) => {
    const { inputs } = goldenInputs(family);
    const model = loadFamily(family);
    // 2 text ids for 5 virtual tokens: HF repeats them and cuts to 5 -> [5, 9, 5, 9, 5].
    const config = new PromptTuningConfig({ numVirtualTokens: 5, promptTuningInit: 'TEXT', promptTuningInitText: 'hi', tokenizer: stubTokenizer([5, 9]) });
    const peft = getPeftModel(model, config);
    expect(config.toJSON()).not.toHaveProperty('tokenizer');
    const ids = prependByHand(inputs.inputIds, 0, 0);
    const [batch, time] = ids.shape;
    const withText: number[] = [];
    for (let b = 0; b < batch; b++) withText.push(5, 9, 5, 9, 5, ...ids.data.subarray(b * time, (b + 1) * time));
    const expected = baseOutputs(model, { inputIds: { data: Int32Array.from(withText), shape: [batch, 5 + time] }, attentionMask: prependByHand(inputs.attentionMask!, 5, 1) });
    expect(peftOutputs(peft, { inputIds: inputs.inputIds, attentionMask: inputs.attentionMask }).logits).toAllClose(expected.logits, { atol: 1e-5, rtol: 1e-5 });
  });

  it('SAMPLE_VOCAB init copies rows of the word embeddings', () => {
    manualSeed(3);
    const model = loadFamily('gpt2');
    const peft = getPeftModel(model, new PromptTuningConfig({ numVirtualTokens: 4, promptTuningInit: 'SAMPLE_VOCAB' }));
    const table = peft.getParameter('prompt_encoder.default.embedding.weight').toFloat32Array();
    const words = (model as GPT2LMHeadModel).transformer.wte.weight.toFloat32Array();
    for (let r = 0; r < 4; r++) {
      const row = table.subarray(r * 32, (r + 1) * 32);
      let found = false;
      for (let v = 0; v < 89 && !found; v++) found = words.subarray(v * 32, (v + 1) * 32).every((x, i) => x === row[i]);
      expect(found).toBe(true);
    }
  });

  it.each(['llama', 'gpt2', 'bert'])('%s: a short training run lowers the loss and moves only the prompt', (family) => {
    manualSeed(5);
    const { inputs } = goldenInputs(family);
    const model = loadFamily(family);
    const frozen = model.namedParameters().map(([n, t]) => [n, t.toFloat32Array()] as const);
    const peft = getPeftModel(model, new PromptTuningConfig({ numVirtualTokens: 4, taskType: family === 'bert' ? 'SEQ_CLS' : 'CAUSAL_LM' }));
    const { before, after } = trainLosses(peft, inputs, 10, 0.05);
    expect(after).toBeLessThan(before * 0.97);
    for (const [n, v] of frozen) expect(model.getParameter(n)).toAllClose(v, { atol: 0, rtol: 0 });
  });
});

describe('prompt tuning: generation, bad configs', () => {
  beforeAll(() => setBackend('native'));

  it.each(['llama', 'gpt2'])('%s: cached generation equals greedy decoding over the full [virtual; tokens] forward', (family) => {
    manualSeed(7);
    const model = loadFamily(family) as Exclude<PretrainedModel, BertForSequenceClassification>;
    const peft = getPeftModel(model, new PromptTuningConfig({ numVirtualTokens: 3 }));
    const prompt = [3, 14, 15];
    const got = generateWithAdapter(peft, prompt, { maxNewTokens: 5 });
    const ids = [...prompt];
    for (let i = 0; i < 5; i++) {
      const logits = peftOutputs(peft, { inputIds: { data: Int32Array.from(ids), shape: [1, ids.length] } }).logits;
      const last = logits.slice(1, logits.shape[1] - 1).toFloat32Array();
      ids.push(last.indexOf(Math.max(...last)));
    }
    expect(got).toEqual(ids.slice(prompt.length));
    // Disabled: the base model's own generation.
    expect(peft.disableAdapter(() => generateWithAdapter(peft, prompt, { maxNewTokens: 5 }))).toEqual(generate(model, prompt, { maxNewTokens: 5 }));
  });

  it('bad configs are errors naming the field', () => {
    expect(() => new PromptTuningConfig({ numVirtualTokens: 0 })).toThrow(/numVirtualTokens must be a positive integer/);
    expect(() => new PromptTuningConfig({ numVirtualTokens: 2, promptTuningInit: 'TEXT' })).toThrow(/needs promptTuningInitText/);
    expect(() => new PromptTuningConfig({ numVirtualTokens: 2, promptTuningInit: 'WORDS' as never })).toThrow(/promptTuningInit must be/);
    const model = loadFamily('gpt2');
    expect(() => getPeftModel(model, new PromptTuningConfig({ numVirtualTokens: 2, promptTuningInit: 'TEXT', promptTuningInitText: 'x' })))
      .toThrow(/needs a tokenizer/);
  });
});

