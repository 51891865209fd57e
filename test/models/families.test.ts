/**
 * Qwen2, Qwen3, Gemma, Mistral and Gemma 2 against PyTorch's numbers (test/fixtures/model/make_families_golden.py transcribes
 * HF's modeling code): each tiny model (2 layers, hidden 64, 4 heads, 2 KV heads, vocab 256) is loaded from
 * its HF folder through AutoModelForCausalLM, and its logits, loss and every parameter's gradient on a padded
 * batch match to 1e-4 relative on every CPU backend; 16 greedy tokens through the KV cache equal the script's.
 * Mistral's and Gemma 2's sliding window (4) is shorter than their batch (11 tokens) and than the prompt plus
 * the generated tokens (21), so the window hides keys in training and in cached generation; Gemma 2's
 * attention and final logits are soft-capped hard enough to bend them.
 */
import * as path from 'path';
import { AutoModelForCausalLM, GemmaForCausalLM, generate, type IntTensor, Qwen2ForCausalLM, Qwen3ForCausalLM, SafetensorsFile, setBackend, tidy } from '../../lib';
import { Gemma2ForCausalLM } from '../../lib/nn/models/gemma2/model';
import { MistralForCausalLM } from '../../lib/nn/models/mistral/model';
import { backendsWithKernels } from '../helpers/backends';

const FAMILIES = path.join(__dirname, '..', 'fixtures', 'model', 'families');
const CLASSES = {
  qwen2: Qwen2ForCausalLM, qwen3: Qwen3ForCausalLM, gemma: GemmaForCausalLM, mistral: MistralForCausalLM, gemma2: Gemma2ForCausalLM,
} as const;

function ids(file: SafetensorsFile, name: string): IntTensor {
  const raw = file.loadRaw(name);
  return { data: Int32Array.from(raw.data as BigInt64Array, (v) => Number(v)), shape: raw.shape };
}

describe.each(backendsWithKernels('rmsNormForward', 'rmsNormBackward', 'embeddingForward', 'rope', 'attentionForward', 'attentionBackward', 'crossEntropyForward'))('model families against PyTorch on %s', (backendName) => {
  beforeAll(() => setBackend(backendName));

  describe.each(Object.keys(CLASSES) as (keyof typeof CLASSES)[])('%s', (family) => {
    let model: ReturnType<typeof AutoModelForCausalLM.fromPretrained>;
    let golden: SafetensorsFile;

    beforeAll(() => {
      model = AutoModelForCausalLM.fromPretrained(path.join(FAMILIES, family));
      golden = SafetensorsFile.open(path.join(FAMILIES, family, 'golden.safetensors'));
    });
    afterAll(() => {
      model.dispose();
      golden.close();
    });

    it('is the family\'s class with exactly the fixture\'s parameters under HF names', () => {
      expect(model).toBeInstanceOf(CLASSES[family]);
      const names = model.namedParameters().map(([n]) => n).sort();
      const expected = golden.names().filter((n) => n.startsWith('grad.')).map((n) => n.slice(5)).sort();
      expect(names).toEqual(expected);
    });

    it('matches the logits, the loss and every gradient', () => {
      model.train();
      for (const p of model.parameters()) p.grad = null;
      tidy(() => {
        const { logits, loss } = model.forward({ inputIds: ids(golden, 'input_ids'), attentionMask: ids(golden, 'attention_mask'), labels: ids(golden, 'labels') });
        expect(logits).toAllClose(golden.load('logits'), { rtol: 1e-4, atol: 1e-5 });
        expect(loss!).toAllClose(golden.load('loss'), { rtol: 1e-4, atol: 1e-6 });
        loss!.backward();
      });
      for (const [name, p] of model.namedParameters()) {
        expect({ name, ok: p.grad !== null }).toEqual({ name, ok: true });
        const expected = golden.load(`grad.${name}`);
        expect(p.grad!).toAllClose(expected, { rtol: 1e-4, atol: 2e-5 });
        expected.dispose();
      }
      for (const p of model.parameters()) p.grad = null;
    });

    it('generates the script\'s 16 greedy tokens with the KV cache', () => {
      const prompt = Array.from(ids(golden, 'prompt_ids').data);
      const expected = Array.from(ids(golden, 'greedy_ids').data);
      expect(generate(model, prompt, { maxNewTokens: 16 })).toEqual(expected);
    });
  });
});
