/**
 * LoRA on disk as HF peft writes it: the exact key set and shapes of the tiny Llama's adapter (plain,
 * bias 'lora_only' / 'all', DoRA), and adapter folders written by test/fixtures/peft/make_lora_fixture.py
 * (HF's layout reproduced in plain torch, with the adapted model's logits) loading here to the same logits.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  getPeftModel, GPT2LMHeadModel, LlamaForCausalLM, loadHfModel, LoraConfig, noGrad, PeftModel, SafetensorsFile, setBackend, setLoraWarningHandler,
} from '../../lib';
import { forward, inputsOf, openGolden } from '../helpers/golden';

const MODELS = path.join(__dirname, '..', 'fixtures', 'models');
const PEFT_FIXTURES = path.join(__dirname, '..', 'fixtures', 'peft');
const llama = () => loadHfModel(path.join(MODELS, 'llama')) as LlamaForCausalLM;
const gpt2 = () => loadHfModel(path.join(MODELS, 'gpt2')) as GPT2LMHeadModel;
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'peftjs-lora-hf-'));

function savedShapes(dir: string): Record<string, number[]> {
  const st = SafetensorsFile.open(path.join(dir, 'adapter_model.safetensors'));
  try {
    return Object.fromEntries(st.names().sort().map((k) => [k, [...st.load(k).shape]]));
  } finally {
    st.close();
  }
}

beforeAll(() => setBackend('native'));

describe('saved keys and shapes are HF peft\'s', () => {
  it('plain LoRA on q_proj/v_proj of the tiny Llama (k/v are [16, 32]: 2 kv heads x 8)', () => {
    const peft = getPeftModel(llama(), new LoraConfig({ r: 4, targetModules: ['q_proj', 'v_proj'] }));
    const dir = tmp();
    peft.savePretrained(dir);
    const expected: Record<string, number[]> = {};
    for (const l of [0, 1]) {
      const pre = `base_model.model.model.layers.${l}.self_attn`;
      expected[`${pre}.q_proj.lora_A.weight`] = [4, 32];
      expected[`${pre}.q_proj.lora_B.weight`] = [32, 4];
      expected[`${pre}.v_proj.lora_A.weight`] = [4, 32];
      expected[`${pre}.v_proj.lora_B.weight`] = [16, 4];
    }
    expect(savedShapes(dir)).toEqual(expected);
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
    expect(config).toMatchObject({ peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj'], rank_pattern: {}, alpha_pattern: {}, use_dora: false, use_rslora: false, bias: 'none', init_lora_weights: true, inference_mode: true });
  });

  it('rank_pattern / alpha_pattern change the shapes and are saved under HF\'s keys', () => {
    const peft = getPeftModel(llama(), new LoraConfig({ r: 4, targetModules: ['q_proj', 'down_proj'], rankPattern: { down_proj: 2, 'layers\\.1\\.self_attn\\.q_proj': 6 }, alphaPattern: { down_proj: 32 } }));
    const dir = tmp();
    peft.savePretrained(dir);
    const shapes = savedShapes(dir);
    expect(shapes['base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight']).toEqual([4, 32]);
    expect(shapes['base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight']).toEqual([6, 32]);
    expect(shapes['base_model.model.model.layers.0.mlp.down_proj.lora_A.weight']).toEqual([2, 56]);
    expect(shapes['base_model.model.model.layers.0.mlp.down_proj.lora_B.weight']).toEqual([32, 2]);
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
    expect(config.rank_pattern).toEqual({ down_proj: 2, 'layers\\.1\\.self_attn\\.q_proj': 6 });
    expect(config.alpha_pattern).toEqual({ down_proj: 32 });
  });

  it('DoRA adds `lora_magnitude_vector` [out] per module, without `.weight`', () => {
    const peft = getPeftModel(llama(), new LoraConfig({ r: 2, targetModules: ['k_proj'], useDora: true }));
    expect(peft.model.namedParameters().filter(([n]) => n.includes('magnitude')).map(([n]) => n)).toEqual([
      'model.layers.0.self_attn.k_proj.lora_magnitude_vector.default.weight', 'model.layers.1.self_attn.k_proj.lora_magnitude_vector.default.weight']);
    const dir = tmp();
    peft.savePretrained(dir);
    const shapes = savedShapes(dir);
    expect(Object.keys(shapes).length).toBe(6);
    for (const l of [0, 1]) {
      const pre = `base_model.model.model.layers.${l}.self_attn.k_proj`;
      expect(shapes[`${pre}.lora_A.weight`]).toEqual([2, 32]);
      expect(shapes[`${pre}.lora_B.weight`]).toEqual([16, 2]);
      expect(shapes[`${pre}.lora_magnitude_vector`]).toEqual([16]);
    }
  });

  it('bias \'lora_only\' saves each adapted layer\'s `base_layer.bias`; \'all\' every bias (GPT-2, which has biases)', () => {
    const restore = setLoraWarningHandler(() => {});
    try {
      const only = getPeftModel(gpt2(), new LoraConfig({ r: 2, targetModules: ['c_attn'], bias: 'lora_only' }));
      const dir = tmp();
      only.savePretrained(dir);
      const keys = Object.keys(savedShapes(dir));
      expect(keys.filter((k) => k.endsWith('bias')).sort()).toEqual([0, 1].map((l) => `base_model.model.transformer.h.${l}.attn.c_attn.base_layer.bias`));
      expect(keys.length).toBe(6);
      expect(savedShapes(dir)['base_model.model.transformer.h.0.attn.c_attn.lora_B.weight']).toEqual([96, 2]);

      const all = getPeftModel(gpt2(), new LoraConfig({ r: 2, targetModules: ['c_attn'], bias: 'all' }));
      const dir2 = tmp();
      all.savePretrained(dir2);
      const biasKeys = Object.keys(savedShapes(dir2)).filter((k) => k.endsWith('bias'));
      // per block: ln_1, c_attn (wrapped: base_layer), c_proj, ln_2, mlp.c_fc, mlp.c_proj; then ln_f
      expect(biasKeys.length).toBe(2 * 6 + 1);
      expect(biasKeys).toContain('base_model.model.transformer.h.1.attn.c_attn.base_layer.bias');
      expect(biasKeys).toContain('base_model.model.transformer.ln_f.bias');
      expect(biasKeys).toContain('base_model.model.transformer.h.0.mlp.c_fc.bias');
    } finally {
      setLoraWarningHandler(restore);
    }
  });
});

describe.each(['js', 'native'] as const)('adapter folders in HF\'s format (made in torch by make_lora_fixture.py) load and give torch\'s logits on %s', (backendName) => {
  beforeAll(() => setBackend(backendName));
  afterAll(() => setBackend('native'));

  it.each(['lora_llama', 'dora_llama'])('%s', (name) => {
    const dir = path.join(PEFT_FIXTURES, name);
    const golden = openGolden('llama');
    const peft = PeftModel.fromPretrained(llama(), dir);
    const logits = noGrad(() => forward(peft.model as never, inputsOf('llama', golden)).logits);
    const expected = SafetensorsFile.open(path.join(dir, 'expected.safetensors'));
    expect(logits).toAllClose(expected.load('logits'), { atol: 1e-4, rtol: 1e-4 });
    // and the adapter matters: the base model's logits are far from these
    const base = peft.disableAdapter(() => noGrad(() => forward(peft.model as never, inputsOf('llama', golden)).logits));
    expect(() => expect(base).toAllClose(expected.load('logits'), { atol: 1e-2 })).toThrow();
    // saved again here, the folder holds the same keys, shapes and values
    const out = tmp();
    peft.savePretrained(out);
    expect(savedShapes(out)).toEqual(savedShapes(dir));
    const a = SafetensorsFile.open(path.join(dir, 'adapter_model.safetensors'));
    const b = SafetensorsFile.open(path.join(out, 'adapter_model.safetensors'));
    for (const k of a.names()) expect(b.load(k)).toAllClose(a.load(k), { atol: 0, rtol: 0 });
    [a, b, expected, golden.file].forEach((f) => f.close());
  });
});
