/**
 * P-tuning (PromptEncoderConfig) through the peft API on the golden tiny models: HF's PromptEncoder
 * (parameter names, trainable counts by hand), the MLP's prompts computed by hand on the host, outputs
 * equal the base model on [encoder output; token embeddings], training lowers the loss, disabled == base.
 */
import { getPeftModel, manualSeed, noGrad, type PeftModel, PromptEncoderConfig, setBackend, type Tensor } from '../../lib';
import { baseOutputs, embedsByHand, goldenInputs, loadFamily, peftOutputs, prependByHand, trainLosses } from '../helpers/prompt';

/** y = x W^T + b on the host. */
function linearByHand(x: Float32Array, rows: number, w: Tensor, b: Tensor): Float32Array {
  const [out, inn] = w.shape;
  const wv = w.toFloat32Array(), bv = b.toFloat32Array();
  const y = new Float32Array(rows * out);
  for (let r = 0; r < rows; r++) for (let o = 0; o < out; o++) {
    let s = bv[o];
    for (let i = 0; i < inn; i++) s += x[r * inn + i] * wv[o * inn + i];
    y[r * out + o] = s;
  }
  return y;
}
const reluByHand = (x: Float32Array) => x.map((v) => Math.max(v, 0));

function trainableNames(peft: PeftModel): string[] {
  return peft.namedParameters().filter(([, t]) => t.requiresGrad).map(([n, t]) => `${n} [${t.shape.join(', ')}]`);
}

describe.each(['js', 'native'] as const)('P-tuning on %s', (backendName) => {
  beforeAll(() => setBackend(backendName));

  it.each(['llama', 'gpt2', 'bert'])('%s, MLP: prompts = mlp_head(embedding) by hand; outputs = the model on [prompts; token embeddings]', (family) => {
    manualSeed(12);
    const { inputs, logits: golden } = goldenInputs(family);
    const model = loadFamily(family);
    const config = new PromptEncoderConfig({ numVirtualTokens: 3, encoderHiddenSize: 16 });
    const peft = getPeftModel(model, config);
    expect(trainableNames(peft)).toEqual([
      'prompt_encoder.default.embedding.weight [3, 32]',
      'prompt_encoder.default.mlp_head.0.weight [16, 32]', 'prompt_encoder.default.mlp_head.0.bias [16]',
      'prompt_encoder.default.mlp_head.2.weight [16, 16]', 'prompt_encoder.default.mlp_head.2.bias [16]',
      'prompt_encoder.default.mlp_head.4.weight [32, 16]', 'prompt_encoder.default.mlp_head.4.bias [32]',
    ]);
    // HF: embedding 3 * 32 + Linear(32, 16) + Linear(16, 16) + Linear(16, 32).
    expect(peft.getNbTrainableParameters().trainable).toBe(96 + (32 * 16 + 16) + (16 * 16 + 16) + (16 * 32 + 32));
    const p = (n: string) => peft.getParameter(`prompt_encoder.default.${n}`);
    const h1 = reluByHand(linearByHand(p('embedding.weight').toFloat32Array(), 3, p('mlp_head.0.weight'), p('mlp_head.0.bias')));
    const h2 = reluByHand(linearByHand(h1, 3, p('mlp_head.2.weight'), p('mlp_head.2.bias')));
    const prompts = linearByHand(h2, 3, p('mlp_head.4.weight'), p('mlp_head.4.bias'));
    const words = (model as unknown as { inputEmbeddings: { weight: Tensor } }).inputEmbeddings.weight.toFloat32Array();
    const byHand: Record<string, unknown> = { ...inputs, inputsEmbeds: embedsByHand(prompts, words, inputs.inputIds, 3, 32), attentionMask: prependByHand(inputs.attentionMask!, 3, 1) };
    if (family === 'bert') byHand.tokenTypeIds = prependByHand(inputs.tokenTypeIds!, 3, 0);
    else byHand.labels = prependByHand(inputs.labels!, 3, -100);
    const got = peftOutputs(peft, inputs);
    expect(got.logits).toAllClose(baseOutputs(model, byHand).logits, { atol: 1e-5, rtol: 1e-5 });
    expect(peft.disableAdapter(() => peftOutputs(peft, inputs).logits)).toAllClose(golden, { rtol: 1e-4, atol: 1e-5 });
  });

  it('LSTM: HF\'s lstm_head (bidirectional) and mlp_head, their trainable count, prompts = mlp_head(lstm_head(embedding))', () => {
    manualSeed(13);
    const model = loadFamily('gpt2');
    const peft = getPeftModel(model, new PromptEncoderConfig({ numVirtualTokens: 3, encoderReparameterizationType: 'LSTM', encoderHiddenSize: 16, encoderNumLayers: 2 }));
    const names = trainableNames(peft);
    expect(names).toContain('prompt_encoder.default.lstm_head.weight_ih_l0 [64, 32]');
    expect(names).toContain('prompt_encoder.default.lstm_head.weight_ih_l1_reverse [64, 32]');
    expect(names).toContain('prompt_encoder.default.mlp_head.0.weight [32, 32]');
    expect(names).toContain('prompt_encoder.default.mlp_head.2.weight [32, 32]');
    // HF: embedding 3 * 32; per layer and direction 4H (in + H) + 8H with H = 16 (in = 32 for layer 0,
    // 2H = 32 for layer 1); mlp_head Linear(2H, 2H) + Linear(2H, 32).
    const lstm = 2 * (4 * 16 * (32 + 16) + 8 * 16) + 2 * (4 * 16 * (32 + 16) + 8 * 16);
    expect(peft.getNbTrainableParameters().trainable).toBe(96 + lstm + (32 * 32 + 32) + (32 * 32 + 32));
    const encoder = (peft.getSubmodule('prompt_encoder.default') as unknown as { lstm_head: { forward(x: Tensor): Tensor } });
    const p = (n: string) => peft.getParameter(`prompt_encoder.default.${n}`);
    const h = noGrad(() => encoder.lstm_head.forward(p('embedding.weight').reshape([1, 3, 32]))).toFloat32Array();
    const want = linearByHand(reluByHand(linearByHand(h, 3, p('mlp_head.0.weight'), p('mlp_head.0.bias'))), 3, p('mlp_head.2.weight'), p('mlp_head.2.bias'));
    const prompts = noGrad(() => (peft.getSubmodule('prompt_encoder.default') as unknown as { prompts(): Tensor }).prompts());
    expect(prompts).toAllClose(want, { atol: 1e-6 });
  });

  it.each([['llama', 'MLP'], ['gpt2', 'MLP'], ['llama', 'LSTM'], ['gpt2', 'LSTM']] as const)('%s, %s: a short training run lowers the loss', (family, type) => {
    manualSeed(14);
    const { inputs } = goldenInputs(family);
    const model = loadFamily(family);
    const peft = getPeftModel(model, new PromptEncoderConfig({ numVirtualTokens: 4, encoderReparameterizationType: type, encoderHiddenSize: 16 }));
    const { before, after } = trainLosses(peft, inputs, 10, 0.01);
    expect(after).toBeLessThan(before * 0.97);
  });
});

it('P-tuning: bad configs are errors naming the field', () => {
  expect(() => new PromptEncoderConfig({ numVirtualTokens: 2, encoderReparameterizationType: 'GRU' as never })).toThrow(/encoderReparameterizationType must be 'MLP' or 'LSTM'/);
  expect(() => new PromptEncoderConfig({ numVirtualTokens: 2, encoderDropout: 1 })).toThrow(/encoderDropout must be in \[0, 1\)/);
  expect(() => new PromptEncoderConfig({ numVirtualTokens: 2, encoderHiddenSize: 2.5 })).toThrow(/encoderHiddenSize must be a positive integer/);
});
