/**
 * One valid adapter folder per PEFT method (adapter_config.json + adapter_model.safetensors as
 * savePretrained writes them) on the tiny GPT-2 fixture: the starting points of the adapter_config
 * specs and of the fuzzer, which break them one field or one byte at a time.
 */
import * as path from 'path';
import {
  AdapterConfig, BitFitConfig, CompacterConfig, DiffPruningConfig, getPeftModel, IA3Config, LayerFreezingConfig, loadHfModel, LoraConfig,
  manualSeed, type Module, type PeftConfig, PrefixTuningConfig, PromptEncoderConfig, PromptTuningConfig,
} from '../../lib';

export const GPT2_FIXTURE = path.join(__dirname, '..', 'fixtures', 'models', 'gpt2');
export const tinyGpt2 = (): Module => loadHfModel(GPT2_FIXTURE);

/** Every method's config, small enough that saving and loading each takes milliseconds. */
export const METHOD_CONFIGS: Record<string, () => PeftConfig> = {
  LORA: () => new LoraConfig({ r: 2, loraAlpha: 4, targetModules: ['c_attn'], fanInFanOut: true, modulesToSave: ['lm_head'] }),
  IA3: () => new IA3Config({ targetModules: ['c_attn', 'mlp.c_proj'], feedforwardModules: ['mlp.c_proj'] }),
  PROMPT_TUNING: () => new PromptTuningConfig({ numVirtualTokens: 2, taskType: 'CAUSAL_LM' }),
  PREFIX_TUNING: () => new PrefixTuningConfig({ numVirtualTokens: 2, taskType: 'CAUSAL_LM' }),
  P_TUNING: () => new PromptEncoderConfig({ numVirtualTokens: 2, encoderHiddenSize: 8, taskType: 'CAUSAL_LM' }),
  BOTTLENECK_ADAPTER: () => new AdapterConfig({ reductionFactor: 8 }),
  COMPACTER: () => new CompacterConfig({ reductionFactor: 8, phmDim: 2 }),
  BITFIT: () => new BitFitConfig({ targetModules: ['c_attn'] }),
  LAYER_FREEZING: () => new LayerFreezingConfig({ numFrozenLayers: 1 }),
  DIFF_PRUNING: () => new DiffPruningConfig({ targetModules: ['c_attn'] }),
};

/** Writes method's adapter for the tiny GPT-2 into dir (seeded: the same bytes every run). */
export function writeAdapterFolder(method: string, dir: string): void {
  manualSeed(7);
  getPeftModel(tinyGpt2(), METHOD_CONFIGS[method]()).savePretrained(dir);
}
