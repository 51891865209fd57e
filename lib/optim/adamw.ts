/**
 * AdamW (Loshchilov & Hutter, decoupled weight decay) as torch.optim.AdamW of torch 1.13, without
 * amsgrad: param *= 1 - lr wd, then the bias-corrected Adam step. One fused kernel pass per parameter.
 */
import type { Backend } from '../backend/types';
import type { Tensor } from '../tensor/tensor';
import { checkNonNegative, checkUnitInterval, stripUndefined } from './hyperparams';
import { Optimizer, type ParamGroup, type ParamsInput, type ParamState } from './optimizer';

export interface AdamWOptions {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
}

/** torch's defaults (note weightDecay 1e-2, unlike Adam's 0). */
export const ADAMW_DEFAULTS: Readonly<AdamWOptions> = Object.freeze({ lr: 1e-3, betas: [0.9, 0.999] as [number, number], eps: 1e-8, weightDecay: 1e-2 });

export class AdamW extends Optimizer<AdamWOptions> {
  constructor(params: ParamsInput<AdamWOptions>, defaults: Partial<AdamWOptions> = {}) {
    const d = { ...ADAMW_DEFAULTS, ...stripUndefined(defaults) };
    super('AdamW', params, { ...d, betas: [...d.betas] as [number, number] });
  }

  protected checkHyperparameters(h: AdamWOptions, where: string): void {
    checkNonNegative(where, 'learning rate', h.lr);
    checkNonNegative(where, 'epsilon value', h.eps);
    if (!Array.isArray(h.betas) || h.betas.length !== 2)
      throw new TypeError(`${where}: betas must be a pair [beta1, beta2], got ${JSON.stringify(h.betas)}`);
    checkUnitInterval(where, 'beta parameter at index 0', h.betas[0]);
    checkUnitInterval(where, 'beta parameter at index 1', h.betas[1]);
    checkNonNegative(where, 'weightDecay value', h.weightDecay);
  }

  protected bufferNames(): string[] {
    return ['expAvg', 'expAvgSq'];
  }

  protected update(b: Backend, param: Tensor, grad: Tensor, group: ParamGroup<AdamWOptions>, state: ParamState): void {
    const adamwStep = this.kernel(b, 'adamwStep');
    const m = this.buffer(state, 'expAvg', param), v = this.buffer(state, 'expAvgSq', param);
    adamwStep({
      n: param.size, param: param.buf('AdamW.step'), grad: grad.buf('AdamW.step'), m: m.buf(), v: v.buf(),
      lr: group.lr, beta1: group.betas[0], beta2: group.betas[1], eps: group.eps, weightDecay: group.weightDecay, step: state.step,
    });
  }
}
