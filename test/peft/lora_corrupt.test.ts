/** Corrupt LoRA adapter folders: every problem is an error that names the file and what is wrong. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { LlamaForCausalLM, loadHfModel, PeftModel, randn, SafetensorsFile, saveSafetensors, setBackend, type Tensor } from '../../lib';

const MODELS = path.join(__dirname, '..', 'fixtures', 'models');
const GOOD = path.join(__dirname, '..', 'fixtures', 'peft', 'lora_llama');
const llama = () => loadHfModel(path.join(MODELS, 'llama')) as LlamaForCausalLM;

/** A copy of the good fixture folder, changed by `edit`. */
function folder(edit: (dir: string) => void): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peftjs-lora-bad-'));
  for (const f of ['adapter_config.json', 'adapter_model.safetensors']) fs.copyFileSync(path.join(GOOD, f), path.join(dir, f));
  edit(dir);
  return dir;
}

const weightsOf = (dir: string) => path.join(dir, 'adapter_model.safetensors');
const configOf = (dir: string) => path.join(dir, 'adapter_config.json');

/** Rewrites the weights with `change` applied to the tensor map. */
function rewrite(dir: string, change: (t: Map<string, Tensor>) => void): void {
  const st = SafetensorsFile.open(weightsOf(dir));
  const tensors = new Map(st.names().map((k) => [k, st.load(k)]));
  st.close();
  change(tensors);
  saveSafetensors(weightsOf(dir), Object.fromEntries(tensors), { format: 'pt' });
}

function editConfig(dir: string, change: (c: Record<string, unknown>) => void): void {
  const c = JSON.parse(fs.readFileSync(configOf(dir), 'utf8'));
  change(c);
  fs.writeFileSync(configOf(dir), JSON.stringify(c));
}

/** Loading fails with an error naming the file (its full path) and matching `problem`. */
function expectLoadError(dir: string, file: string, problem: RegExp): void {
  let err: Error | null = null;
  try {
    PeftModel.fromPretrained(llama(), dir);
  } catch (e) {
    err = e as Error;
  }
  expect(err).not.toBeNull();
  expect(err!.message).toContain(file);
  expect(err!.message).toMatch(problem);
}

const A0 = 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight';

beforeAll(() => setBackend('native'));

describe('corrupt adapter weights', () => {
  it('the good folder loads (the baseline of every case below)', () => {
    expect(() => PeftModel.fromPretrained(llama(), folder(() => {}))).not.toThrow();
  });

  it.each([
    ['cut in the data', (size: number) => size - 100],
    ['cut in the header', () => 40],
    ['cut in the header length', () => 5],
    ['empty', () => 0],
  ])('truncated (%s)', (_, at) => {
    const dir = folder((d) => fs.truncateSync(weightsOf(d), at(fs.statSync(weightsOf(d)).size)));
    expectLoadError(dir, weightsOf(dir), /truncat|too short|short|end of file|bytes/i);
  });

  it('a missing key', () => {
    const dir = folder((d) => rewrite(d, (t) => t.delete(A0)));
    expectLoadError(dir, weightsOf(dir), new RegExp(`missing 1 key\\(s\\): 'model\\.layers\\.0\\.self_attn\\.q_proj\\.lora_A\\.weight'`));
  });

  it('an unexpected key (a module the config does not target)', () => {
    const dir = folder((d) => rewrite(d, (t) => t.set('base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight', t.get(A0)!)));
    expectLoadError(dir, weightsOf(dir), /unexpected 1 key\(s\): 'model\.layers\.0\.self_attn\.k_proj\.lora_A\.weight'/);
  });

  it('a key without the base_model.model. prefix', () => {
    const dir = folder((d) => rewrite(d, (t) => { t.set('model.layers.0.self_attn.q_proj.lora_A.weight', t.get(A0)!); t.delete(A0); }));
    expectLoadError(dir, weightsOf(dir), /does not start with 'base_model\.model\.'/);
  });

  it('a wrong shape (rank 3 where the config says 4)', () => {
    const dir = folder((d) => rewrite(d, (t) => t.set(A0, randn([3, 32]))));
    expectLoadError(dir, weightsOf(dir), /'model\.layers\.0\.self_attn\.q_proj\.lora_A\.weight' has shape \[3, 32\], the model's adapter has \[4, 32\]/);
  });

  it('no weights file at all', () => {
    const dir = folder((d) => fs.unlinkSync(weightsOf(d)));
    expectLoadError(dir, weightsOf(dir), /does not exist/);
  });
});

describe('bad adapter_config.json', () => {
  it('not JSON', () => {
    const dir = folder((d) => fs.writeFileSync(configOf(d), '{"peft_type": "LORA", "r": 4,'));
    expectLoadError(dir, configOf(dir), /JSON|Unexpected end/i);
  });

  it('not an object', () => {
    const dir = folder((d) => fs.writeFileSync(configOf(d), '[1, 2]'));
    expectLoadError(dir, configOf(dir), /expected a JSON object/);
  });

  it('an unknown peft_type', () => {
    const dir = folder((d) => editConfig(d, (c) => { c.peft_type = 'LORAX'; }));
    expectLoadError(dir, configOf(dir), /peft_type "LORAX" is not supported/);
  });

  it.each([
    ['r = 0', (c: Record<string, unknown>) => { c.r = 0; }, /r must be a positive integer, got 0/],
    ['r = 2.5', (c: Record<string, unknown>) => { c.r = 2.5; }, /r must be a positive integer, got 2.5/],
    ['r a string', (c: Record<string, unknown>) => { c.r = '4'; }, /'r' must be a number, got "4"/],
    ['lora_dropout 1', (c: Record<string, unknown>) => { c.lora_dropout = 1; }, /loraDropout must be in \[0, 1\)/],
    ['bias unknown', (c: Record<string, unknown>) => { c.bias = 'some'; }, /bias must be 'none', 'all' or 'lora_only'/],
    ['use_dora not a boolean', (c: Record<string, unknown>) => { c.use_dora = 'yes'; }, /'use_dora' must be a boolean/],
    ['init_lora_weights eva', (c: Record<string, unknown>) => { c.init_lora_weights = 'eva'; }, /initLoraWeights 'eva' is not supported/],
    ['a rank_pattern of 0', (c: Record<string, unknown>) => { c.rank_pattern = { q_proj: 0 }; }, /rankPattern\['q_proj'\] must be a positive integer/],
    ['lora_bias on (a newer peft feature)', (c: Record<string, unknown>) => { c.lora_bias = true; }, /'lora_bias' = true is not supported/],
  ])('%s', (_, change, problem) => {
    const dir = folder((d) => editConfig(d, change));
    expectLoadError(dir, configOf(dir), problem);
  });

  it('no adapter_config.json', () => {
    const dir = folder((d) => fs.unlinkSync(configOf(d)));
    expectLoadError(dir, configOf(dir), /does not exist/);
  });
});
