/**
 * LoRA on every model family against PyTorch (test/fixtures/model/make_family_lora_golden.py): each family's
 * tiny model (families/<family>, rope_scaling/phi3) loads through AutoModelForCausalLM, an adapter folder in
 * HF peft's layout (HF's default targets, and a wider module list with rank/alpha patterns and rslora) applies
 * through PeftModel.fromPretrained, and the logits of the fixture's padded batch match torch's to 1e-4 on
 * the js and native backends; with the adapter disabled they are the base model's golden logits again.
 * getPeftModel with a LoraConfig without targetModules picks HF peft's default targets for the family
 * (TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING); Phi-3 has none in HF peft, so it asks for them.
 */
import * as path from 'path';
import {
  AutoModelForCausalLM, getPeftModel, LoraConfig, noGrad, PeftModel, SafetensorsFile, setBackend, type Tensor,
} from '../../lib';
import { loraDefaultTargets } from '../../lib/peft/target_module_mapping';
import { backendsWithKernels } from '../helpers/backends';
import { goldenIds } from '../helpers/family_goldens';

const MODEL_ROOT = path.join(__dirname, '..', 'fixtures', 'model');
const ADAPTERS = path.join(MODEL_ROOT, 'family_lora');
const FAMILIES = ['qwen2', 'qwen3', 'mistral', 'gemma', 'gemma2', 'phi3'] as const;
const baseFolder = (family: string) => path.join(MODEL_ROOT, family === 'phi3' ? 'rope_scaling' : 'families', family);
/** HF peft's mapping at 5d602fd for these model_types (phi3: no entry). */
const HF_DEFAULTS: Record<string, string[] | null> = {
  qwen2: ['q_proj', 'v_proj'], qwen3: ['q_proj', 'v_proj'], mistral: ['q_proj', 'v_proj'], gemma: ['q_proj', 'v_proj'], gemma2: ['q_proj', 'v_proj'], phi3: null,
};

function loadTensor(file: string, name: string): Tensor {
  const st = SafetensorsFile.open(file);
  try {
    return st.load(name);
  } finally {
    st.close();
  }
}

describe.each(backendsWithKernels('rmsNormForward', 'embeddingForward', 'rope', 'attentionForward'))('LoRA adapters on each family against PyTorch on %s', (backendName) => {
  beforeAll(() => setBackend(backendName));
  afterAll(() => setBackend('js'));

  describe.each(FAMILIES)('%s', (family) => {
    it.each(['default', 'wide'])('the %s adapter gives torch\'s logits; disabled, the base model\'s', (adapter) => {
      const dir = path.join(ADAPTERS, `${family}_${adapter}`);
      const goldenFile = path.join(baseFolder(family), 'golden.safetensors');
      const golden = SafetensorsFile.open(goldenFile);
      const inputs = { inputIds: goldenIds(golden, 'input_ids'), attentionMask: goldenIds(golden, 'attention_mask') };
      golden.close();
      const peft = PeftModel.fromPretrained(AutoModelForCausalLM.fromPretrained(baseFolder(family)), dir);
      try {
        peft.eval();
        const saved = SafetensorsFile.open(path.join(dir, 'adapter_model.safetensors'));
        const adapted = peft.model.namedModules().filter(([n]) => saved.names().includes(`base_model.model.${n}.lora_A.weight`));
        expect(adapted.length * 2).toBe(saved.names().length);  // every tensor of the file found its layer
        saved.close();
        const logits = noGrad(() => (peft.forward(inputs) as { logits: Tensor }).logits);
        expect(logits).toAllClose(loadTensor(path.join(dir, 'expected.safetensors'), 'logits'), { rtol: 1e-4, atol: 1e-4 });
        const base = peft.disableAdapter(() => noGrad(() => (peft.forward(inputs) as { logits: Tensor }).logits));
        expect(base).toAllClose(loadTensor(goldenFile, 'logits'), { rtol: 1e-4, atol: 1e-5 });
      } finally {
        peft.dispose();
      }
    });
  });
});

describe('LoRA default targets per family', () => {
  beforeAll(() => setBackend('js'));

  it.each(FAMILIES)('%s: getPeftModel without targetModules uses HF peft\'s mapping', (family) => {
    expect(loraDefaultTargets(family)).toEqual(HF_DEFAULTS[family]);
    const model = AutoModelForCausalLM.fromPretrained(baseFolder(family));
    try {
      const config = new LoraConfig({ r: 2, taskType: 'CAUSAL_LM' });
      if (HF_DEFAULTS[family] === null) {
        expect(() => getPeftModel(model, config)).toThrow(/no default target modules for model type 'phi3'/);
        return;
      }
      const peft = getPeftModel(model, config);
      expect(config.targetModules).toEqual(HF_DEFAULTS[family]);
      const adapted = peft.namedParameters().map(([n]) => /\.layers\.(\d+)\..*\.(\w+)\.lora_A\.default\.weight$/.exec(n)).filter((m) => m !== null);
      // q_proj and v_proj in each of the 2 layers, nothing else
      expect(adapted.map((m) => `${m![1]}.${m![2]}`).sort()).toEqual(['0', '1'].flatMap((l) => HF_DEFAULTS[family]!.map((t) => `${l}.${t}`)).sort());
    } finally {
      model.dispose();
    }
  });
});
