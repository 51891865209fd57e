/**
 * --quantize / --dtype on the CLI: stories260K's loss on a text stays close to float32's when its linear
 * layers are stored as bf16, int8 or nf4, and contradictory or unknown values are refused before loading.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CliError } from '../../lib/cli/args';
import { evalLossCommand } from '../../lib/cli/eval_loss_command';
import { trainCommand } from '../../lib/cli/train_command';

const MODEL = path.join(__dirname, '..', '..', '..', 'shared', 'models', 'stories260K', 'stories260K.bin');
const TEXT = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends. ' +
  'One day, she saw a big red ball under a tree. She ran to get it and kicked it high into the sky.';
const haveModel = fs.existsSync(MODEL);
if (!haveModel) console.warn(`storage flag specs with stories260K skipped: ${MODEL} is missing (../shared is not beside the checkout)`);

describe('--quantize and --dtype', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peftjs-storage-'));
  const text = path.join(dir, 'story.txt');
  fs.writeFileSync(text, TEXT);
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  afterAll(() => stderr.mockRestore());

  (haveModel ? it : it.skip)('stories260K keeps its loss within bf16 0.01, int8 0.05, nf4 0.25 nats of float32', () => {
    const loss = (extra: string[]) => evalLossCommand(['--model', MODEL, '--text', text, ...extra]).loss;
    const base = loss([]);
    expect(Math.abs(loss(['--dtype', 'bfloat16']) - base)).toBeLessThan(0.01);
    expect(Math.abs(loss(['--quantize', 'int8']) - base)).toBeLessThan(0.05);
    expect(Math.abs(loss(['--quantize', 'nf4']) - base)).toBeLessThan(0.25);
    expect(stderr.mock.calls.map(([s]) => String(s)).join('')).toMatch(/eval-loss: \d+ linear layers stored as nf4 \([\d.]+ -> [\d.]+ MiB\); embeddings, norms and the output head stay float32/);
  });

  (haveModel ? it : it.skip)('--compute-dtype bfloat16 multiplies in bf16: the loss moves, by less than 0.02 nats', () => {
    const loss = (extra: string[]) => evalLossCommand(['--model', MODEL, '--text', text, ...extra]).loss;
    const f32 = loss(['--dtype', 'bfloat16']), bf16 = loss(['--dtype', 'bfloat16', '--compute-dtype', 'bfloat16']);
    expect(bf16).not.toBe(f32);
    expect(Math.abs(bf16 - f32)).toBeLessThan(0.02);
    expect(Math.abs(loss(['--quantize', 'nf4', '--compute-dtype', 'bfloat16']) - loss(['--quantize', 'nf4']))).toBeLessThan(0.02);
    expect(stderr.mock.calls.map(([s]) => String(s)).join('')).toMatch(/eval-loss: \d+ linear layers stored as nf4, multiplied in bfloat16/);
  });

  it('refuses unknown and contradictory values before loading anything', () => {
    const run = (extra: string[]) => () => evalLossCommand(['--model', MODEL, '--text', text, ...extra]);
    expect(run(['--quantize', 'fp4'])).toThrow(new CliError("peftjs eval-loss: --quantize must be nf4 or int8, got 'fp4'"));
    expect(run(['--dtype', 'float64'])).toThrow("peftjs eval-loss: --dtype must be bfloat16, float16 or float32, got 'float64'");
    expect(run(['--quantize', 'nf4', '--dtype', 'bfloat16'])).toThrow('--quantize nf4 and --dtype bfloat16 both choose the weights\' storage; pass one');
    expect(run(['--dtype', 'bfloat16', '--compute-dtype', 'float16'])).toThrow("peftjs eval-loss: --compute-dtype must be float32 or bfloat16, got 'float16'");
    expect(run(['--compute-dtype', 'bfloat16'])).toThrow('peftjs eval-loss: --compute-dtype bfloat16 applies to low-precision weights; pass --dtype bfloat16 or --quantize nf4|int8 with it');
    expect(() => trainCommand(['--model', MODEL, '--method', 'full', '--data', text, '--out', path.join(dir, 'o'), '--quantize', 'nf4']))
      .toThrow('peftjs train: --method full trains the weights themselves; a nf4 base is frozen (use an adapter method)');
  });
});
