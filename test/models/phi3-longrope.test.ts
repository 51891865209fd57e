/**
 * Phi-3's LongRoPE switch against PyTorch (test/fixtures/model/make_phi3_longrope_golden.py transcribes HF's
 * modeling_phi3.py and modeling_rope_utils.py): a tiny Phi-3 with original_max_position_embeddings 8. A forward
 * over 8 positions uses short_factor, one over 13 long_factor (dynamic_rope_update's longrope_frequency_update);
 * greedy decoding through the KV cache from a 5-token prompt crosses the switch point, where HF's
 * Phi3ForCausalLM.prepare_inputs_for_generation drops the cache and recomputes the sequence with the long
 * factors: the 10 tokens equal the script's, which differ from what the short factors alone give.
 */
import * as path from 'path';
import { AutoModelForCausalLM, generate, getPeftModel, LoraConfig, noGrad, SafetensorsFile, setBackend, type Tensor } from '../../lib';
import { dropsCacheAtRopeSwitch } from '../../lib/ops/rope/scaling';
import { backendsWithKernels } from '../helpers/backends';
import { goldenIds } from '../helpers/family_goldens';

const FOLDER = path.join(__dirname, '..', 'fixtures', 'model', 'rope_scaling', 'phi3_long');

describe.each(backendsWithKernels('rmsNormForward', 'embeddingForward', 'rope', 'attentionForward'))('Phi-3 LongRoPE switch against PyTorch on %s', (backendName) => {
  let model: ReturnType<typeof AutoModelForCausalLM.fromPretrained>;
  let golden: SafetensorsFile;
  beforeAll(() => {
    setBackend(backendName);
    model = AutoModelForCausalLM.fromPretrained(FOLDER);
    model.eval();
    golden = SafetensorsFile.open(path.join(FOLDER, 'golden.safetensors'));
  });
  afterAll(() => {
    model.dispose();
    golden.close();
    setBackend('js');
  });

  it.each(['short', 'long'])('a forward over the %s sequence matches', (which) => {
    const logits = noGrad(() => model.forward({ inputIds: goldenIds(golden, `${which}_input_ids`) }).logits);
    expect(logits).toAllClose(golden.load(`${which}_logits`) as Tensor, { rtol: 1e-4, atol: 1e-5 });
  });

  it('greedy decoding through the KV cache across the switch point gives the script\'s tokens', () => {
    const prompt = Array.from(goldenIds(golden, 'prompt_ids').data);
    const expected = Array.from(goldenIds(golden, 'greedy_ids').data);
    expect(expected).not.toEqual(Array.from(goldenIds(golden, 'greedy_ids_no_switch').data));
    expect(generate(model, prompt, { maxNewTokens: 10 })).toEqual(expected);
  });

  it('the same through a LoRA PeftModel whose adapter is disabled', () => {
    const peft = getPeftModel(model, new LoraConfig({ r: 2, targetModules: ['qkv_proj'], taskType: 'CAUSAL_LM' }));
    try {
      const prompt = Array.from(goldenIds(golden, 'prompt_ids').data);
      const tokens = peft.disableAdapter(() => generate(peft as never, prompt, { maxNewTokens: 10 }));
      expect(tokens).toEqual(Array.from(goldenIds(golden, 'greedy_ids').data));
    } finally {
      peft.unload();
    }
  });
});

describe('dropsCacheAtRopeSwitch', () => {
  it('is HF\'s Phi3ForCausalLM rule: the first step whose sequence passes original_max_position_embeddings', () => {
    const phi3 = { modelType: 'phi3', headDim: 16, ropeTheta: 1e4, maxPositionEmbeddings: 32, originalMaxPositionEmbeddings: 8, ropeScaling: { type: 'longrope' } };
    expect([[7, 8], [8, 9], [9, 10], [0, 9], [3, 12]].map(([past, total]) => dropsCacheAtRopeSwitch(phi3, past, total))).toEqual([false, true, false, false, true]);
    expect(dropsCacheAtRopeSwitch({ ...phi3, ropeScaling: null }, 8, 9)).toBe(false);
    expect(dropsCacheAtRopeSwitch({ ...phi3, modelType: 'llama' }, 8, 9)).toBe(false);  // HF overrides it for Phi-3 only
    expect(dropsCacheAtRopeSwitch(undefined, 8, 9)).toBe(false);
  });
});
