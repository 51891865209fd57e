/** peftjs/peft: every PEFT method with Hugging Face peft's API and adapter format. */
export { PeftConfig, peftConfigFromJSON, registerPeftConfig } from './config';
export type { PeftType, TaskType } from './config';
export { PeftModel, getPeftModel, trainableParametersLine } from './peft_model';
export { isTargeted, findTargets, patternValue } from './targets';
export type { TargetSelection } from './targets';
export { isAdapterLayer, registerTuner, tunerFor } from './tuner';
export type { AdapterLayer, Tuner, WeightedAdapterOptions } from './tuner';
export { ModulesToSaveWrapper, cloneModule } from './modules_to_save';
export { savePretrained, fromPretrained, loadAdapter, adapterStateDict, ADAPTER_CONFIG, ADAPTER_WEIGHTS } from './save_load';
export * from './tuners/lora';
