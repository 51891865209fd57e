/** What the fuzzer found (test/fuzz/loaders.test.ts), each kept as a focused spec. */
import * as fs from 'fs';
import * as path from 'path';
import { AdamW, FileFormatError, fromArray, Llama2cTokenizer, loadLlama2c, loadTokenizer, PeftModel, setBackend, SafetensorsFile, saveSafetensors } from '../../lib';
import { tinyGpt2, writeAdapterFolder } from '../io/adapter_folders';
import { scratchDir } from '../io/helpers';
import { readTrainerState, type TrainerState, writeTrainerState } from '../../lib/train/checkpoint';

const { dir: scratch, cleanup } = scratchDir('fuzz-found');
afterAll(cleanup);
beforeAll(() => setBackend('native'));

test('llama2.c: a header of a billion layers is refused at once (it built a billion weight slots first: a hang)', () => {
  const file = path.join(scratch, 'layers.bin');
  fs.writeFileSync(file, Buffer.concat([Buffer.from(Int32Array.of(8, 12, 1_391_844_120, 2, 1, 16, 4).buffer), Buffer.alloc(4096)]));
  const t0 = Date.now();
  expect(() => loadLlama2c(file)).toThrow(/layers\.bin: truncated: the header \(version 0, dim=8, hidden_dim=12, n_layers=1391844120, .*\) implies \d+ bytes but the file has 4124/);
  expect(Date.now() - t0).toBeLessThan(1000);
});

test('llama2.c tokenizer: a file holding only max_token_length is refused (it loaded as a tokenizer of no tokens)', () => {
  const file = path.join(scratch, 'tok.bin');
  fs.writeFileSync(file, Buffer.from(Int32Array.of(8).buffer));
  expect(() => Llama2cTokenizer.load(file)).toThrow(new FileFormatError('llama2.c tokenizer', file, 'has no tokens (expected at least <unk>, <s>, </s>)'));
});

test('HF tokenizer: a BPE whose vocab is a list is refused (it loaded and encoded every text to no ids)', () => {
  const dir = path.join(scratch, 'bpe-list');
  fs.mkdirSync(dir);
  const json = JSON.parse(fs.readFileSync(path.join(__dirname, '../fixtures/io/tokenizers/gpt2/tokenizer.json'), 'utf8'));
  json.model.vocab = [1, 'a'];
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(json));
  expect(() => loadTokenizer(dir)).toThrow(new FileFormatError('HF tokenizer', path.join(dir, 'tokenizer.json'), 'model "vocab" must be an object of piece -> id, got [1,"a"]'));
});

test('an adapter config that does not fit the model (no bottleneck left) names adapter_config.json', () => {
  const dir = path.join(scratch, 'compacter');
  writeAdapterFolder('COMPACTER', dir);
  const file = path.join(dir, 'adapter_config.json');
  fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), reduction_factor: 2 ** 53 + 2 }));
  expect(() => PeftModel.fromPretrained(tinyGpt2(), dir)).toThrow(`${file}: CompacterConfig: reductionFactor 9007199254740994 leaves no bottleneck for hidden size 32`);
});

test('an optimizer state whose steps do not fit the optimizer names the file', () => {
  const w = fromArray([1, 2, 3], [3]);
  const opt = new AdamW([w], { lr: 0.1 });
  const file = path.join(scratch, 'optimizer.safetensors');
  opt.saveState(file);
  const st = SafetensorsFile.open(file);
  const tensors = Object.fromEntries(st.names().map((n) => [n, st.load(n)]));
  const metadata = { ...st.metadata, steps: JSON.stringify({ 0: true }) };
  st.close();
  saveSafetensors(file, tensors, metadata);
  expect(() => opt.loadState(file)).toThrow(`${file}: AdamW.loadStateDict: parameter 0: step must be a non-negative integer, got true`);
});

describe('trainer_state.json: values out of range are refused where the file is read, naming it', () => {
  const valid = {
    globalStep: 2, epoch: 0, batchInEpoch: 2, shuffleState: 7, randomState: { seed: 1, offset: 8 }, seedCounters: { dropout: 3 },
    scheduler: { lastStep: 2, baseLrs: [0.1] }, earlyStopping: null, totalSteps: 4, firstLoss: 1.5, skippedNonFiniteSteps: 0,
  };
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['a negative seed counter', { seedCounters: { dropout: -1 } }, /seed counter 'dropout' must be a non-negative integer, got -1/],
    ['a shuffle state past 32 bits', { shuffleState: 2 ** 32 }, /'shuffleState' must be below 2\^32, got 4294967296/],
    ['a random offset off the Philox blocks', { randomState: { seed: 1, offset: 6 } }, /'randomState' must be \{seed: .*\}, got \{"seed":1,"offset":6\}/],
  ];
  it.each(cases)('%s', (_, change, message) => {
    const dir = path.join(scratch, `state-${Object.keys(change)[0]}`);
    fs.mkdirSync(dir, { recursive: true });
    writeTrainerState(dir, { ...valid, ...change } as unknown as TrainerState);
    expect(() => readTrainerState(dir)).toThrow(FileFormatError);
    expect(() => readTrainerState(dir)).toThrow(path.join(dir, 'trainer_state.json'));
    expect(() => readTrainerState(dir)).toThrow(message);
  });

  it('accepts the valid state these cases start from', () => {
    const dir = path.join(scratch, 'state-valid');
    fs.mkdirSync(dir, { recursive: true });
    writeTrainerState(dir, valid as unknown as TrainerState);
    expect(readTrainerState(dir).seedCounters).toEqual({ dropout: 3 });
  });
});
