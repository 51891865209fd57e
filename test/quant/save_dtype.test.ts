/**
 * Writing model folders in bf16 / fp16 (saveModelFolder's dtype, `peftjs merge --dtype`), and folders of
 * quantized models (their linear weights dequantized into the folder): what is read back is what was meant.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadHfModel, setBackend } from '../../lib';
import { f32ArrayToBf16, bf16ToF32 } from '../../lib/io/half';
import { HfModelFolderReader } from '../../lib/io/hf_folder';
import { saveModelFolder } from '../../lib/nn/models/save_pretrained';
import { QuantizedLinear } from '../../lib/quant/quantized_linear';
import { quantizeModel } from '../../lib/quant/quantize_model';
import { backendsWithKernels } from '../helpers/backends';
import { forward, inputsOf, openGolden } from '../helpers/golden';
import { loadFamily } from '../helpers/peft_run';

describe.each(backendsWithKernels('dequantize'))('saving model folders on %s', (name) => {
  beforeAll(() => setBackend(name));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peftjs-save-dtype-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it.each(['llama', 'gpt2', 'bert'])('%s in bfloat16: every weight reads back as its bf16 rounding; torch_dtype says so', (family) => {
    const model = loadFamily(family);
    const out = path.join(dir, `${family}-bf16`);
    saveModelFolder(model as never, out, { dtype: 'bfloat16' });
    expect(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).torch_dtype).toBe('bfloat16');
    expect(fs.statSync(path.join(out, 'model.safetensors')).size).toBeLessThan(model.numParameters() * 2 + 65536);
    const back = loadHfModel(out);
    const mine = new Map(back.namedParameters());
    for (const [n, t] of model.namedParameters()) {
      const want = Float32Array.from(f32ArrayToBf16(t.toFloat32Array()), bf16ToF32);
      expect([n, Array.from(mine.get(n)!.toFloat32Array())]).toEqual([n, Array.from(want)]);
    }
  });

  it('a bf16 folder loaded with dtype bfloat16 keeps the file bits of every linear weight (no float32 detour)', () => {
    const model = loadFamily('llama');
    const out = path.join(dir, 'llama-bf16-bits');
    saveModelFolder(model as never, out, { dtype: 'bfloat16' });
    const widened = jest.spyOn(HfModelFolderReader.prototype, 'load');
    const back = loadHfModel(out, { quantization: { format: 'bfloat16' } });
    // Only the float32 parameters (embeddings, norms, the head) were widened; no linear weight was.
    const loadedKeys = widened.mock.calls.map(([k]) => k);
    widened.mockRestore();
    expect(loadedKeys.filter((k) => /_proj\.weight$/.test(k))).toEqual([]);
    expect(loadedKeys.length).toBeGreaterThan(0);
    const own = new Map(model.namedParameters());
    const layers = back.namedModules().filter(([, m]) => m instanceof QuantizedLinear) as [string, QuantizedLinear][];
    expect(layers.length).toBeGreaterThan(0);
    for (const [p, layer] of layers) {
      const bits = layer.weight.bf16Bits!;
      expect([p, Array.from(new Uint16Array(bits.buffer, bits.byteOffset, bits.length / 2))])
        .toEqual([p, Array.from(f32ArrayToBf16(own.get(`${p}.weight`)!.toFloat32Array()))]);
    }
    const inputs = inputsOf('llama', openGolden('llama'));
    expect(forward(back, inputs).logits).toAllClose(forward(loadHfModel(out), inputs).logits.toFloat32Array(), { rtol: 1e-5, atol: 1e-5 });
  });

  it('a quantized model is written with its linear weights dequantized, and reads back to the same logits', () => {
    const model = loadFamily('llama');
    quantizeModel(model, { format: 'nf4' });
    const out = path.join(dir, 'llama-nf4');
    saveModelFolder(model as never, out);
    const back = loadHfModel(out);
    expect(back.namedModules().some(([, m]) => m instanceof QuantizedLinear)).toBe(false);
    const inputs = inputsOf('llama', openGolden('llama'));
    expect(forward(back, inputs).logits).toAllClose(forward(model, inputs).logits.toFloat32Array(), { rtol: 1e-5, atol: 1e-5 });
  });

  it('refuses a dtype it does not write', () => {
    expect(() => saveModelFolder(loadFamily('llama') as never, path.join(dir, 'x'), { dtype: 'int8' as never }))
      .toThrow("saveModelFolder: dtype must be float32, bfloat16 or float16, got 'int8'");
  });
});
