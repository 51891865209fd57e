/**
 * The golden checks every model-family fixture gets (test/fixtures/model/*: HF folders written by plain-torch
 * transcriptions of HF's modeling code): the family's class with exactly the fixture's parameters, logits, loss
 * and every gradient on a padded batch to 1e-4 relative, and 16 greedy tokens through the KV cache.
 * `extra` adds a fixture's own cases, given the loaded model and golden file.
 */
import * as path from 'path';
import { AutoModelForCausalLM, generate, type IntTensor, SafetensorsFile, tidy } from '../../lib';

type CausalLM = ReturnType<typeof AutoModelForCausalLM.fromPretrained>;

/** An int64 tensor of the golden file as the models take ids. */
export function goldenIds(file: SafetensorsFile, name: string): IntTensor {
  const raw = file.loadRaw(name);
  return { data: Int32Array.from(raw.data as BigInt64Array, (v) => Number(v)), shape: raw.shape };
}

export function describeFamilyGoldens(
  root: string, classes: Record<string, abstract new (...args: never[]) => object>,
  extra?: (name: string, get: () => { model: CausalLM; golden: SafetensorsFile }) => void,
): void {
  describe.each(Object.keys(classes))('%s', (name) => {
    let model: CausalLM;
    let golden: SafetensorsFile;

    beforeAll(() => {
      model = AutoModelForCausalLM.fromPretrained(path.join(root, name));
      golden = SafetensorsFile.open(path.join(root, name, 'golden.safetensors'));
    });
    afterAll(() => {
      model.dispose();
      golden.close();
    });

    it('is the family\'s class with exactly the fixture\'s parameters under HF names', () => {
      expect(model).toBeInstanceOf(classes[name]);
      const names = model.namedParameters().map(([n]) => n).sort();
      const expected = golden.names().filter((n) => n.startsWith('grad.')).map((n) => n.slice(5)).sort();
      expect(names).toEqual(expected);
    });

    it('matches the logits, the loss and every gradient', () => {
      model.train();
      for (const p of model.parameters()) p.grad = null;
      tidy(() => {
        const { logits, loss } = model.forward({
          inputIds: goldenIds(golden, 'input_ids'), attentionMask: goldenIds(golden, 'attention_mask'), labels: goldenIds(golden, 'labels'),
        });
        expect(logits).toAllClose(golden.load('logits'), { rtol: 1e-4, atol: 1e-5 });
        expect(loss!).toAllClose(golden.load('loss'), { rtol: 1e-4, atol: 1e-6 });
        loss!.backward();
      });
      for (const [n, p] of model.namedParameters()) {
        expect({ n, ok: p.grad !== null }).toEqual({ n, ok: true });
        const expected = golden.load(`grad.${n}`);
        expect(p.grad!).toAllClose(expected, { rtol: 1e-4, atol: 2e-5 });
        expected.dispose();
      }
      for (const p of model.parameters()) p.grad = null;
    });

    it('generates the script\'s 16 greedy tokens with the KV cache', () => {
      const prompt = Array.from(goldenIds(golden, 'prompt_ids').data);
      const expected = Array.from(goldenIds(golden, 'greedy_ids').data);
      expect(generate(model, prompt, { maxNewTokens: 16 })).toEqual(expected);
    });

    extra?.(name, () => ({ model, golden }));
  });
}
