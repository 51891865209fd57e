/**
 * The three model families against PyTorch's numbers (test/fixtures/models, made by make_model_fixtures.py):
 * logits, loss, and every parameter's gradient after one backward, on every CPU backend.
 */
import * as path from 'path';
import {
  BertForSequenceClassification, type IntTensor, loadHfModel, type PretrainedModel, setBackend, SafetensorsFile, type Tensor, tidy,
} from '../../lib';
import { backendsUnderTest } from '../helpers/backends';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'models');

/** Gradients of key biases are float32 noise (softmax ignores a per-row shift): compared to 0 only. */
const noiseGradient = (name: string) => /attention\.self\.key\.bias$/.test(name);

export interface Golden {
  file: SafetensorsFile;
  ids(name: string): IntTensor;
  tensor(name: string): Tensor;
}

export function openGolden(family: string): Golden {
  const file = SafetensorsFile.open(path.join(FIXTURES, family, 'golden.safetensors'));
  return {
    file,
    ids: (name) => {
      const raw = file.loadRaw(name);
      return { data: Int32Array.from(raw.data as BigInt64Array, (v) => Number(v)), shape: raw.shape };
    },
    tensor: (name) => file.load(name),
  };
}

/** The family's batch as the model's inputs. */
export function inputsOf(family: string, g: Golden): Parameters<PretrainedModel['forward']>[0] {
  const base = { inputIds: g.ids('input_ids'), attentionMask: g.ids('attention_mask'), labels: g.ids('labels') };
  return family === 'bert' ? { ...base, tokenTypeIds: g.ids('token_type_ids') } : base;
}

export function forward(model: PretrainedModel, inputs: Parameters<PretrainedModel['forward']>[0]): { logits: Tensor; loss: Tensor } {
  const out = model instanceof BertForSequenceClassification ? model.forward(inputs as never) : (model as Exclude<PretrainedModel, BertForSequenceClassification>).forward(inputs as never);
  return { logits: out.logits, loss: out.loss! };
}

describe.each(backendsUnderTest().filter((b) => b !== 'cuda'))('golden models on %s', (backendName) => {
  beforeAll(() => setBackend(backendName));

  describe.each(['llama', 'gpt2', 'bert'])('%s', (family) => {
    let model: PretrainedModel;
    let golden: Golden;

    beforeAll(() => {
      model = loadHfModel(path.join(FIXTURES, family));
      golden = openGolden(family);
    });
    afterAll(() => {
      model.dispose();
      golden.file.close();
    });

    it('has exactly the fixture\'s parameters under HF names', () => {
      const names = model.namedParameters().map(([n]) => n).sort();
      const expected = golden.file.names().filter((n) => n.startsWith('grad.')).map((n) => n.slice(5)).sort();
      expect(names).toEqual(expected);
    });

    it('matches the logits, the loss and every gradient', () => {
      model.train();
      for (const p of model.parameters()) p.grad = null;
      tidy(() => {
        const { logits, loss } = forward(model, inputsOf(family, golden));
        expect(logits).toAllClose(golden.tensor('logits'), { rtol: 1e-4, atol: 1e-5 });
        expect(loss).toAllClose(golden.tensor('loss'), { rtol: 1e-4, atol: 1e-6 });
        loss.backward();
      });
      for (const [name, p] of model.namedParameters()) {
        const expected = golden.tensor(`grad.${name}`);
        if (noiseGradient(name)) expect(p.grad!).toAllClose(expected, { atol: 1e-6, rtol: 0 });
        else expect({ name, ok: p.grad !== null }).toEqual({ name, ok: true });
        if (!noiseGradient(name)) expect(p.grad!).toAllClose(expected, { rtol: 1e-4, atol: 2e-5 });
        expected.dispose();
      }
    });
  });
});
