/** LoRA through the peft API on the golden tiny models: identity at init, training moves only the adapter, merge, save and load. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  GPT2Config, GPT2LMHeadModel, getPeftModel, loadHfModel, LoraConfig, PeftModel, setBackend, type Tensor, tidy, AdamW, noGrad,
} from '../../lib';
import { forward, inputsOf, openGolden } from '../helpers/golden';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'models');
const load = (family: string) => loadHfModel(path.join(FIXTURES, family));

describe.each(['js', 'native'] as const)('LoRA on %s', (backendName) => {
  beforeAll(() => setBackend(backendName));

  it.each([
    ['llama', ['q_proj', 'v_proj']],
    ['gpt2', ['c_attn']],
    ['bert', ['query', 'value']],
  ])('on %s: B = 0 leaves outputs unchanged; a trained adapter changes them; merged == unmerged; unmerge restores W', (family, targets) => {
    const golden = openGolden(family as string);
    const inputs = inputsOf(family as string, golden);
    const peft = getPeftModel(load(family as string), new LoraConfig({ r: 4, loraAlpha: 8, targetModules: targets as string[], fanInFanOut: family === 'gpt2', modulesToSave: family === 'bert' ? ['classifier'] : null }));
    const logits = () => noGrad(() => forward(peft.model as never, inputs).logits);
    const base = logits();
    expect(base).toAllClose(golden.tensor('logits'), { rtol: 1e-4, atol: 1e-5 });
    const trainable = peft.model.namedParameters().filter(([, t]) => t.requiresGrad).map(([n]) => n);
    expect(trainable.length).toBeGreaterThan(0);
    expect(trainable.every((n) => /lora_[AB]\.default\.weight$|modules_to_save\.default\./.test(n))).toBe(true);
    const frozenBefore = peft.model.namedParameters().filter(([, t]) => !t.requiresGrad).map(([n, t]) => [n, t.toFloat32Array()] as const);

    const opt = new AdamW(peft.trainableParameters(), { lr: 1e-2 });
    for (let i = 0; i < 3; i++) {
      opt.zeroGrad();
      tidy(() => forward(peft.model as never, inputs).loss.backward());
      opt.step();
    }
    for (const [n, before] of frozenBefore) expect(peft.model.getParameter(n)).toAllClose(before, { atol: 0, rtol: 0 });
    const adapted = logits();
    expect(() => expect(adapted).toAllClose(base, { atol: 1e-4 })).toThrow();
    const disabled = peft.disableAdapter(() => logits());
    expect(disabled).toAllClose(base, { atol: 1e-6 });

    peft.merge();
    expect(logits()).toAllClose(adapted, { atol: 1e-5, rtol: 1e-5 });
    peft.unmerge();
    for (const [n, before] of frozenBefore) expect(peft.model.getParameter(n)).toAllClose(before, { atol: 1e-6, rtol: 1e-6 });

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peftjs-lora-'));
    peft.savePretrained(dir);
    const saved = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
    expect(saved.peft_type).toBe('LORA');
    expect(saved.r).toBe(4);
    const reloaded = PeftModel.fromPretrained(load(family as string), dir);
    expect(noGrad(() => forward(reloaded.model as never, inputs).logits)).toAllClose(adapted, { atol: 1e-6 });
    golden.file.close();
  });
});

describe('trainable counts as HF prints them', () => {
  it('GPT-2 small with LoRA r=8 on c_attn prints HF\'s line', () => {
    setBackend('native');
    const lines: string[] = [];
    const model = noGrad(() => new GPT2LMHeadModel(new GPT2Config()));
    const peft = getPeftModel(model, new LoraConfig({ r: 8, targetModules: ['c_attn'], fanInFanOut: true }));
    peft.printTrainableParameters((l) => lines.push(l));
    expect(lines).toEqual(['trainable params: 294,912 || all params: 124,734,720 || trainable%: 0.2364']);
    peft.dispose();
  });
});

export type { Tensor };
