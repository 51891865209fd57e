/** peftjs/optim: AdamW, SGD, parameter groups, learning-rate schedules and gradient clipping. */
export { Optimizer } from './optimizer';
export type { ParamGroup, ParamsInput, ParamState } from './optimizer';
export { AdamW, ADAMW_DEFAULTS } from './adamw';
export type { AdamWOptions } from './adamw';
export { SGD } from './sgd';
export type { SGDOptions } from './sgd';
export type { OptimizerStateDict, ParamGroupStateDict, ParamStateDict } from './state_dict';
export { scheduleLambda } from './schedules';
export type { LrLambda, ScheduleName, ScheduleOptions } from './schedules';
export { getScheduler, LRScheduler } from './lr_scheduler';
export type { LRSchedulerState } from './lr_scheduler';
export { clipGradNorm, clipGradNormTensor } from './clip_grad';
export { createLoraplusOptimizer, loraplusParameterGroups } from './loraplus';
export type { LoraplusOptions } from './loraplus';
export { createLorafaOptimizer, LoraFAOptimizer, LORAFA_DEFAULTS, projectedGrad } from './lorafa';
export type { LoraFAOptions, LorafaOptions, LoraFAPairs } from './lorafa';
