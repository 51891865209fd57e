/**
 * DoRA as HF peft's lora/dora.py: magnitude initialised to ||W + s B A||_row, the forward
 * y = (m / ||W + s B A||_row) * x (W + s B A)^T + b with the norm detached, gradients for m, A and B,
 * merge/unmerge, HF's trainable counts, training, save/load.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  AdamW, Conv1D, getPeftModel, GPT2LMHeadModel, Linear, LlamaForCausalLM, loadHfModel, LoraConfig, LoraLinear, manualSeed, mul, noGrad,
  PeftModel, randn, setBackend, setLoraWarningHandler, sumAll, tidy, type Tensor,
} from '../../lib';
import { forward, inputsOf, openGolden } from '../helpers/golden';

const MODELS = path.join(__dirname, '..', 'fixtures', 'models');
const llama = () => loadHfModel(path.join(MODELS, 'llama')) as LlamaForCausalLM;
const gpt2 = () => loadHfModel(path.join(MODELS, 'gpt2')) as GPT2LMHeadModel;

type M = number[][];
const mat = (t: Tensor) => t.toArray() as M;
const mm = (a: M, b: M) => a.map((row) => b[0].map((_, j) => row.reduce((s, v, k) => s + v * b[k][j], 0)));
const tr = (a: M) => a[0].map((_, j) => a.map((row) => row[j]));
const rowNorms = (a: M) => a.map((row) => Math.sqrt(row.reduce((s, v) => s + v * v, 0)));

/** W as [out, in], W + s B A, and its row norms, on the host. */
function explicit(layer: LoraLinear, name: string) {
  const w = layer.base_layer instanceof Conv1D ? tr(mat(layer.base_layer.weight)) : mat(layer.base_layer.weight as Tensor);
  const s = layer.specs.get(name)!.scale;
  const ba = mm(mat(layer.lora_B.get(name).weight), mat(layer.lora_A.get(name).weight));
  const merged = w.map((row, i) => row.map((v, j) => v + s * ba[i][j]));
  return { w, merged, norm: rowNorms(merged), s };
}

beforeAll(() => setBackend('native'));
let restore: ReturnType<typeof setLoraWarningHandler>;
beforeAll(() => { restore = setLoraWarningHandler(() => {}); });
afterAll(() => setLoraWarningHandler(restore));

describe.each([
  ['Linear with bias', () => new Linear(16, 8)],
  ['Conv1D ([in, out] storage)', () => new Conv1D(16, 8, 0.3)],
])('DoRA on a %s', (_, makeBase) => {
  const make = (init: boolean) => {
    manualSeed(3);
    const base = makeBase();
    noGrad(() => base.bias?.data.forEach((_v, i, a) => { a[i] = 0.1 * (i - 4); }));
    const l = new LoraLinear(base);
    l.addAdapter('d', { r: 3, alpha: 6, dropout: 0, scale: 2, init, useDora: true });
    l.setActiveAdapters(['d']);
    return l;
  };

  it('the magnitude starts at ||W + s B A||_row; with B = 0 the output is the base layer\'s', () => {
    const l0 = make(true);
    expect(l0.lora_magnitude_vector.get('d').weight).toAllClose(rowNorms(explicit(l0, 'd').w), { atol: 1e-6, rtol: 1e-6 });
    const x = randn([5, 16]);
    expect(noGrad(() => l0.forward(x))).toAllClose(noGrad(() => l0.base_layer.forward(x)), { atol: 1e-6 });
    const l1 = make(false);
    expect(l1.lora_magnitude_vector.get('d').weight).toAllClose(explicit(l1, 'd').norm, { atol: 1e-6, rtol: 1e-6 });
  });

  it('forward = (m / ||W + sBA||) * x (W + sBA)^T + b; dm and dB as the formula with the norm held constant', () => {
    const l = make(false);
    const m = l.lora_magnitude_vector.get('d').weight;
    noGrad(() => m.data.forEach((v, i, a) => { a[i] = v * (1 + 0.05 * (i - 3)); }));
    const { merged, norm, s } = explicit(l, 'd');
    const x = randn([4, 16]);
    const mv = m.toArray() as number[];
    const bias = l.base_layer.bias ? (l.base_layer.bias.toArray() as number[]) : mv.map(() => 0);
    const pre = mm(mat(x), tr(merged));
    const expected = pre.map((row) => row.map((v, n) => (mv[n] / norm[n]) * v + bias[n]));
    const y = l.forward(x);
    expect(y).toAllClose(expected.flat(), { atol: 1e-5, rtol: 1e-5 });

    // loss = sum(y * g) for a fixed g: dL/dm[n] = sum_t g[t,n] pre[t,n] / norm[n];
    // dL/dB = s * (mns * g)^T (x A^T)  (the norm is detached, as HF).
    const g = randn([4, 8]);
    sumAll(mul(y, g)).backward();
    const gm = mat(g);
    const dm = mv.map((_v, n) => gm.reduce((acc, row, t) => acc + row[n] * pre[t][n], 0) / norm[n]);
    expect(m.grad!).toAllClose(dm, { atol: 1e-5, rtol: 1e-4 });
    const u = mm(mat(x), tr(mat(l.lora_A.get('d').weight)));
    const scaled = gm.map((row) => row.map((v, n) => (s * v * mv[n]) / norm[n]));
    expect(l.lora_B.get('d').weight.grad!).toAllClose(mm(tr(scaled), u).flat(), { atol: 1e-5, rtol: 1e-4 });
    expect(l.lora_A.get('d').weight.grad).toBeTruthy();
  });

  it('merge gives the same outputs; unmerge restores W', () => {
    const l = make(false);
    const m = l.lora_magnitude_vector.get('d').weight;
    noGrad(() => m.data.forEach((v, i, a) => { a[i] = v * (1 + 0.05 * i); }));
    const w0 = (l.base_layer.weight as Tensor).toFloat32Array();
    const x = randn([6, 16]);
    const y = noGrad(() => l.forward(x));
    l.merge(['d']);
    expect(noGrad(() => l.forward(x))).toAllClose(y, { atol: 1e-5, rtol: 1e-5 });
    expect(noGrad(() => l.base_layer.forward(x))).toAllClose(y, { atol: 1e-5, rtol: 1e-5 });
    l.unmerge();
    expect(l.base_layer.weight).toAllClose(w0, { atol: 1e-6, rtol: 1e-5 });
    expect(noGrad(() => l.forward(x))).toAllClose(y, { atol: 1e-5, rtol: 1e-5 });
  });
});

describe('DoRA through the peft API', () => {
  it.each([
    ['llama', 'q_proj,v_proj', 2 * ((2 * 32 + 32 * 2 + 32) + (2 * 32 + 16 * 2 + 16))],
    ['gpt2', 'c_attn', 2 * (2 * 32 + 96 * 2 + 96)],
  ] as const)('%s: HF\'s trainable count (%s, r = 2: A + B + magnitude = %d), training lowers the loss, merged == unmerged, save -> load', (family, targets, count) => {
    const golden = openGolden(family);
    const inputs = inputsOf(family, golden);
    const model = family === 'llama' ? llama() : gpt2();
    const peft = getPeftModel(model, new LoraConfig({ r: 2, loraAlpha: 4, targetModules: targets.split(','), useDora: true }));
    expect(peft.getNbTrainableParameters().trainable).toBe(count);
    const base = noGrad(() => forward(peft.model as never, inputs));
    expect(noGrad(() => peft.disableAdapter(() => forward(peft.model as never, inputs)).logits)).toAllClose(base.logits, { atol: 1e-6 });
    const opt = new AdamW(peft.trainableParameters(), { lr: 2e-2 });
    let last = Infinity;
    for (let i = 0; i < 5; i++) {
      opt.zeroGrad();
      last = tidy(() => {
        const loss = forward(peft.model as never, inputs).loss;
        loss.backward();
        return loss.item();
      });
      opt.step();
    }
    const after = noGrad(() => forward(peft.model as never, inputs));
    expect(after.loss.item()).toBeLessThan(base.loss.item());
    expect(last).toBeLessThan(base.loss.item());
    expect(peft.disableAdapter(() => noGrad(() => forward(peft.model as never, inputs).logits))).toAllClose(base.logits, { atol: 1e-6 });

    peft.merge();
    expect(noGrad(() => forward(peft.model as never, inputs).logits)).toAllClose(after.logits, { atol: 1e-5, rtol: 1e-5 });
    peft.unmerge();
    expect(noGrad(() => forward(peft.model as never, inputs).logits)).toAllClose(after.logits, { atol: 1e-5, rtol: 1e-5 });

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peftjs-dora-'));
    peft.savePretrained(dir);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8')).use_dora).toBe(true);
    const back = PeftModel.fromPretrained(family === 'llama' ? llama() : gpt2(), dir);
    expect(noGrad(() => forward(back.model as never, inputs).logits)).toAllClose(after.logits, { atol: 1e-6 });

    const merged = back.mergeAndUnload();
    expect(merged.namedModules().some(([, m]) => m instanceof LoraLinear)).toBe(false);
    expect(noGrad(() => forward(merged as never, inputs).logits)).toAllClose(after.logits, { atol: 1e-5, rtol: 1e-5 });
    golden.file.close();
  });
});
