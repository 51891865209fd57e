/** Shared by the bottleneck-adapter and Compacter specs: the three tiny models, their adapter sites, training, corruption. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { AdamW, loadHfModel, noGrad, type PeftConfig, type PeftModel, SafetensorsFile, saveSafetensors, type Tensor, tidy } from '../../lib';
import { forward, inputsOf, openGolden, type Golden } from '../helpers/golden';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'models');
export const loadFamily = (family: string) => loadHfModel(path.join(FIXTURES, family));

export type Family = 'llama' | 'gpt2' | 'bert';
export const FAMILIES: Family[] = ['llama', 'gpt2', 'bert'];

/** The fixtures' sizes (test/fixtures/models/<family>/config.json): hidden 32 and 2 blocks in all three. */
export const HIDDEN = 32;
export const BLOCKS = 2;

/** Each family's attention-output and FFN-output projections, block by block. */
export function expectedSites(family: Family, adapterType: 'houlsby' | 'pfeiffer'): string[] {
  const [attn, ffn] = {
    llama: ['model.layers.#.self_attn.o_proj', 'model.layers.#.mlp.down_proj'],
    gpt2: ['transformer.h.#.attn.c_proj', 'transformer.h.#.mlp.c_proj'],
    bert: ['bert.encoder.layer.#.attention.output.dense', 'bert.encoder.layer.#.output.dense'],
  }[family];
  const out: string[] = [];
  for (let b = 0; b < BLOCKS; b++) {
    if (adapterType === 'houlsby') out.push(attn.replace('#', String(b)));
    out.push(ffn.replace('#', String(b)));
  }
  return out;
}

export interface Batch {
  golden: Golden;
  inputs: ReturnType<typeof inputsOf>;
}

export function batchOf(family: Family): Batch {
  const golden = openGolden(family);
  return { golden, inputs: inputsOf(family, golden) };
}

export const logitsOf = (peft: PeftModel, b: Batch): Tensor => noGrad(() => forward(peft.model as never, b.inputs).logits);
export const lossOf = (peft: PeftModel, b: Batch): number => noGrad(() => tidy(() => forward(peft.model as never, b.inputs).loss.item()));

/** steps of AdamW on the fixture batch; returns the loss before and after. */
export function train(peft: PeftModel, b: Batch, steps: number, lr: number): { before: number; after: number } {
  const before = lossOf(peft, b);
  const opt = new AdamW(peft.trainableParameters(), { lr, weightDecay: 0 });
  for (let i = 0; i < steps; i++) {
    opt.zeroGrad();
    tidy(() => forward(peft.model as never, b.inputs).loss.backward());
    opt.step();
  }
  return { before, after: lossOf(peft, b) };
}

export function tempDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `peftjs-${tag}-`));
}

/** The saved tensors of an adapter folder: name -> shape. */
export function savedShapes(dir: string): Record<string, number[]> {
  const st = SafetensorsFile.open(path.join(dir, 'adapter_model.safetensors'));
  try {
    return Object.fromEntries(st.names().map((n) => [n, [...st.load(n).shape]]));
  } finally {
    st.close();
  }
}

/** A copy of an adapter folder with its weights rewritten by edit (key -> tensor). */
export function rewrittenCopy(dir: string, edit: (tensors: Record<string, Tensor>) => Record<string, Tensor>): string {
  const out = tempDir('corrupt');
  fs.copyFileSync(path.join(dir, 'adapter_config.json'), path.join(out, 'adapter_config.json'));
  const st = SafetensorsFile.open(path.join(dir, 'adapter_model.safetensors'));
  const tensors: Record<string, Tensor> = {};
  for (const n of st.names()) tensors[n] = st.load(n);
  st.close();
  saveSafetensors(path.join(out, 'adapter_model.safetensors'), edit(tensors), { format: 'pt' });
  return out;
}

/** A copy of an adapter folder whose adapter_config.json is edited. */
export function configCopy(dir: string, edit: (json: Record<string, unknown>) => void): string {
  const out = tempDir('corrupt');
  fs.copyFileSync(path.join(dir, 'adapter_model.safetensors'), path.join(out, 'adapter_model.safetensors'));
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
  edit(json);
  fs.writeFileSync(path.join(out, 'adapter_config.json'), JSON.stringify(json));
  return out;
}

/** A copy of an adapter folder whose weights file is cut to half its length. */
export function truncatedCopy(dir: string): string {
  const out = tempDir('corrupt');
  fs.copyFileSync(path.join(dir, 'adapter_config.json'), path.join(out, 'adapter_config.json'));
  const bytes = fs.readFileSync(path.join(dir, 'adapter_model.safetensors'));
  fs.writeFileSync(path.join(out, 'adapter_model.safetensors'), bytes.subarray(0, Math.floor(bytes.length / 2)));
  return out;
}

export type { PeftConfig };
