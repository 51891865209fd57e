/**
 * llama2.c checkpoints loaded with quantization, one weight at a time: stories260K's int8 (version 2) file
 * keeps its own codes and group scales (no float32 detour) and gives the logits the float32 load of the
 * same file gives; the float32 file loaded as nf4 equals loading it whole, then quantizing.
 */
import * as fs from 'fs';
import * as path from 'path';
import { intTensor, loadPretrained, noGrad, type PretrainedModel, setBackend } from '../../lib';
import { QuantizedLinear } from '../../lib/quant/quantized_linear';
import { quantizeModel } from '../../lib/quant/quantize_model';
import { backendsWithKernels } from '../helpers/backends';

const DIR = path.join(__dirname, '..', '..', '..', 'shared', 'models', 'stories260K');
const have = fs.existsSync(path.join(DIR, 'stories260K-q8.bin'));
if (!have) console.warn(`llama2.c quantized-load specs skipped: ${DIR} is missing (../shared is not beside the checkout)`);

const logits = (m: PretrainedModel) => noGrad(() => {
  const ids = Int32Array.from({ length: 24 }, (_, i) => (i * 37 + 1) % 512);
  return (m as unknown as { forward(i: unknown): { logits: { toFloat32Array(): Float32Array } } }).forward({ inputIds: intTensor(ids, [1, 24]) }).logits.toFloat32Array();
});

(have ? describe.each(backendsWithKernels('dequantize')) : describe.skip.each(['-']))('llama2.c with quantization on %s', (name) => {
  beforeAll(() => setBackend(name as never));

  it('the int8 file as int8 keeps its codes: the same logits as its float32 load', () => {
    const file = path.join(DIR, 'stories260K-q8.bin');
    const q8 = loadPretrained(file, { quantization: { format: 'int8' } });
    const layers = q8.namedModules().filter(([, m]) => m instanceof QuantizedLinear) as [string, QuantizedLinear][];
    expect(layers.length).toBe(5 * 7);
    expect(layers.every(([, m]) => m.weight.format === 'int8')).toBe(true);
    expect(logits(q8)).toAllClose(logits(loadPretrained(file)), { rtol: 1e-4, atol: 1e-4 });
  });

  it('the float32 file as nf4 equals loading it, then quantizing', () => {
    const file = path.join(DIR, 'stories260K.bin');
    const streamed = loadPretrained(file, { quantization: { format: 'nf4' } });
    const after = loadPretrained(file);
    quantizeModel(after, { format: 'nf4' });
    expect(logits(streamed)).toEqual(logits(after));
  });
});
