/**
 * Shared by loha.test.ts, lokr.test.ts and vera.test.ts: the HF-layout fixture folders written by
 * test/fixtures/peft/make_lycoris_vera_fixture.py, and the checks every one of them gets (torch's logits,
 * byte-identical save -> load, merged == unmerged).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadHfModel, noGrad, PeftModel, SafetensorsFile, type Module, type Tensor } from '../../lib';
import { forward, inputsOf, openGolden } from '../helpers/golden';

export const MODELS = path.join(__dirname, '..', 'fixtures', 'models');
export const PEFT_FIXTURES = path.join(__dirname, '..', 'fixtures', 'peft');
export const load = (family: string) => loadHfModel(path.join(MODELS, family)) as unknown as Module;
export const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'peftjs-lyco-vera-'));

export function logitsOf(model: Module, family: string): Tensor {
  const golden = openGolden(family);
  try {
    return noGrad(() => forward(model as never, inputsOf(family, golden)).logits);
  } finally {
    golden.file.close();
  }
}

/** Every tensor of a safetensors file as raw bytes (dtype, shape, data), by key. */
export function rawEntries(file: string): Map<string, { dtype: string; shape: number[]; bytes: Buffer }> {
  const st = SafetensorsFile.open(file);
  try {
    return new Map(st.list().map((info) => {
      const raw = st.loadRaw(info.name);
      const data = raw.data as ArrayLike<number> & { buffer: ArrayBuffer; byteOffset: number; byteLength: number };
      return [info.name, { dtype: info.dtype, shape: [...info.shape], bytes: Buffer.from(data.buffer, data.byteOffset, data.byteLength) }];
    }));
  } finally {
    st.close();
  }
}

export function expectedLogits(dir: string): Tensor {
  const st = SafetensorsFile.open(path.join(dir, 'expected.safetensors'));
  try {
    return st.load('logits');
  } finally {
    st.close();
  }
}

/**
 * Loads fixture `name` on its family's model: torch's logits to 1e-4; the adapter matters; saved again,
 * the same keys, shapes and bytes, loading again to the same logits; merged and unmerged give the same logits
 * (1e-5) unless opts.merges is false.
 */
export function checkFixture(name: string, family: string, opts: { merges?: boolean } = {}): PeftModel {
  const dir = path.join(PEFT_FIXTURES, name);
  const peft = PeftModel.fromPretrained(load(family), dir);
  const logits = logitsOf(peft.model, family);
  const expected = expectedLogits(dir);
  expect(logits).toAllClose(expected, { atol: 1e-4, rtol: 1e-4 });
  const base = peft.disableAdapter(() => logitsOf(peft.model, family));
  expect(() => expect(base).toAllClose(expected, { atol: 1e-2 })).toThrow();

  const out = tmp();
  peft.savePretrained(out);
  const a = rawEntries(path.join(dir, 'adapter_model.safetensors'));
  const b = rawEntries(path.join(out, 'adapter_model.safetensors'));
  expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
  for (const [k, e] of a) {
    expect({ k, dtype: b.get(k)!.dtype, shape: b.get(k)!.shape }).toEqual({ k, dtype: e.dtype, shape: e.shape });
    expect(b.get(k)!.bytes.equals(e.bytes)).toBe(true);
  }
  // and the folder written here loads again to the same logits
  const again = PeftModel.fromPretrained(load(family), out);
  expect(logitsOf(again.model, family)).toAllClose(logits, { atol: 0, rtol: 0 });

  if (opts.merges === false) return peft;  // a method HF cannot merge (the caller checks the refusal)
  peft.merge();
  expect(logitsOf(peft.model, family)).toAllClose(logits, { atol: 1e-5, rtol: 1e-5 });
  peft.unmerge();
  expect(logitsOf(peft.model, family)).toAllClose(logits, { atol: 1e-5, rtol: 1e-5 });
  return peft;
}

/** A fresh adapter with the default (identity) initialisation leaves the base model's logits as they are. */
export function checkIdentityAtInit(make: (model: Module) => PeftModel, family = 'llama'): void {
  const base = logitsOf(load(family), family);
  const peft = make(load(family));
  expect(peft.getNbTrainableParameters().trainable).toBeGreaterThan(0);
  expect(logitsOf(peft.model, family)).toAllClose(base, { atol: 0, rtol: 0 });
}

/** A few AdamW steps on the golden batch: the loss falls; the mean step time (ms) is returned for the report. */
export function trainSteps(peft: PeftModel, family: string, steps = 6): { first: number; last: number; msPerStep: number } {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { AdamW, tidy } = require('../../lib');
  const golden = openGolden(family);
  const inputs = inputsOf(family, golden);
  const opt = new AdamW(peft.trainableParameters(), { lr: 1e-2 });
  const losses: number[] = [];
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < steps; i++) {
    opt.zeroGrad();
    losses.push(tidy(() => {
      const { loss } = forward(peft.model as never, inputs);
      loss.backward();
      return loss.item();
    }));
    opt.step();
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6 / steps;
  golden.file.close();
  return { first: losses[0], last: losses[losses.length - 1], msPerStep: ms };
}
