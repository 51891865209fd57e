/**
 * The sequence-classification heads of Qwen2, Qwen3, Mistral, Gemma, Gemma 2 and Phi-3 against PyTorch
 * (test/fixtures/model/make_family_classifier_golden.py transcribes HF's <Family>ForSequenceClassification: a
 * bias-free `score` Linear on the decoder's final hidden states, pooled at each row's last non-pad token by
 * pad_token_id, cross-entropy loss): each HF classifier folder loads through AutoModelForSequenceClassification
 * as the family's class, and the pooled logits and the loss of a batch with a full, a right-padded and a
 * left-padded row match to 1e-4 on the js and native backends, with the attention mask and without it.
 */
import * as path from 'path';
import {
  AutoModelForSequenceClassification, GemmaForSequenceClassification, noGrad, Phi3ForSequenceClassification, Qwen2ForSequenceClassification,
  Qwen3ForSequenceClassification, SafetensorsFile, setBackend, type Tensor,
} from '../../lib';
import { Gemma2ForSequenceClassification } from '../../lib/nn/models/gemma2/model';
import { MistralForSequenceClassification } from '../../lib/nn/models/mistral/model';
import { backendsWithKernels } from '../helpers/backends';
import { goldenIds } from '../helpers/family_goldens';

const ROOT = path.join(__dirname, '..', 'fixtures', 'model', 'family_classifier');
const CLASSES = {
  qwen2: Qwen2ForSequenceClassification, qwen3: Qwen3ForSequenceClassification, mistral: MistralForSequenceClassification,
  gemma: GemmaForSequenceClassification, gemma2: Gemma2ForSequenceClassification, phi3: Phi3ForSequenceClassification,
} as const;

describe.each(backendsWithKernels('rmsNormForward', 'embeddingForward', 'rope', 'attentionForward', 'crossEntropyForward'))('classification heads of the families against PyTorch on %s', (backendName) => {
  beforeAll(() => setBackend(backendName));
  afterAll(() => setBackend('js'));

  it.each(Object.keys(CLASSES) as (keyof typeof CLASSES)[])('%s', (family) => {
    const model = AutoModelForSequenceClassification.fromPretrained(path.join(ROOT, family));
    const golden = SafetensorsFile.open(path.join(ROOT, family, 'golden.safetensors'));
    try {
      expect(model).toBeInstanceOf(CLASSES[family]);
      expect(model.config.numLabels).toBe(3);
      expect(model.config.padTokenId).toBe(0);
      expect(model.namedParameters().map(([n]) => n)).toContain('score.weight');
      model.eval();
      const inputIds = goldenIds(golden, 'input_ids'), labels = goldenIds(golden, 'labels');
      const { logits, loss } = noGrad(() => model.forward({ inputIds, attentionMask: goldenIds(golden, 'attention_mask'), labels }));
      expect(logits).toAllClose(golden.load('logits'), { rtol: 1e-4, atol: 1e-5 });
      expect(loss as Tensor).toAllClose(golden.load('loss'), { rtol: 1e-4, atol: 1e-6 });
      // No attention mask: the left pads are attended to, the pooling still finds each row's last real token.
      const bare = noGrad(() => model.forward({ inputIds }).logits);
      expect(bare).toAllClose(golden.load('logits_no_mask'), { rtol: 1e-4, atol: 1e-5 });
    } finally {
      golden.close();
      model.dispose();
    }
  });
});

describe('which token the last-token head pools', () => {
  beforeAll(() => setBackend('native'));

  it('by pad_token_id as HF (with pad = eos, a trailing eos the mask keeps is not pooled), and by the mask too', () => {
    const model = AutoModelForSequenceClassification.fromPretrained(path.join(ROOT, 'qwen2'));
    try {
      model.eval();
      const pad = model.config.padTokenId!;
      const ids = (row: number[]) => ({ data: Int32Array.from(row), shape: [1, row.length] });
      const ones = (n: number) => ({ data: new Int32Array(n).fill(1), shape: [1, n] });
      // Causal attention: position 2's state is the same with or without the token after it.
      const withEos = noGrad(() => model.forward({ inputIds: ids([5, 9, 13, pad]), attentionMask: ones(4) }).logits);
      const without = noGrad(() => model.forward({ inputIds: ids([5, 9, 13]), attentionMask: ones(3) }).logits);
      expect(withEos).toAllClose(without, { rtol: 1e-5, atol: 1e-6 });
      // padded with another id than pad_token_id, masked: the mask still keeps the pad out (HF would pool it)
      const otherPad = noGrad(() => model.forward({ inputIds: ids([5, 9, 13, 21]), attentionMask: { data: Int32Array.from([1, 1, 1, 0]), shape: [1, 4] } }).logits);
      expect(otherPad).toAllClose(without, { rtol: 1e-5, atol: 1e-6 });
      const atEos = noGrad(() => model.forward({ inputIds: ids([5, 9, 13, 21]), attentionMask: ones(4) }).logits);
      expect(withEos).not.toAllClose(atEos, { rtol: 1e-3, atol: 1e-4 });  // the control: pooling position 3 differs
    } finally {
      model.dispose();
    }
  });
});
