export { AutoConfig, AutoModelForCausalLM, AutoModelForSequenceClassification } from './auto';
export type { AutoClassifierOptions, AutoLoadOptions } from './auto';
export { MODEL_FAMILIES, SUPPORTED_MODEL_TYPES, modelForConfig, modelTypesFor } from './registry';
export type { AnyPretrainedModel, CausalLMModel, ModelTask, SequenceClassificationModel } from './registry';
