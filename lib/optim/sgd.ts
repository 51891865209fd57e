/**
 * SGD as torch.optim.SGD of torch 1.13: weight decay added to the gradient, an optional momentum buffer
 * (a copy of the first step's direction, then buf = momentum buf + (1 - dampening) d), and Nesterov's
 * variant d + momentum buf. One fused kernel pass per parameter; the gradient is left untouched.
 */
import type { Backend } from '../backend/types';
import type { Tensor } from '../tensor/tensor';
import { checkBoolean, checkNonNegative, stripUndefined } from './hyperparams';
import { Optimizer, type ParamGroup, type ParamsInput, type ParamState } from './optimizer';

export interface SGDOptions {
  lr: number;
  momentum: number;
  dampening: number;
  nesterov: boolean;
  weightDecay: number;
}

export class SGD extends Optimizer<SGDOptions> {
  /** lr is required, as in torch. */
  constructor(params: ParamsInput<SGDOptions>, defaults: Partial<SGDOptions> & { lr: number }) {
    if (typeof defaults !== 'object' || defaults === null || defaults.lr === undefined)
      throw new TypeError('SGD: lr is required (there is no default learning rate)');
    super('SGD', params, { momentum: 0, dampening: 0, nesterov: false, weightDecay: 0, ...stripUndefined(defaults) } as SGDOptions);
  }

  protected checkHyperparameters(h: SGDOptions, where: string): void {
    checkNonNegative(where, 'learning rate', h.lr);
    checkNonNegative(where, 'momentum value', h.momentum);
    if (typeof h.dampening !== 'number' || !Number.isFinite(h.dampening))
      throw new RangeError(`${where}: invalid dampening ${String(h.dampening)} (expected a finite number)`);
    checkBoolean(where, 'nesterov', h.nesterov);
    checkNonNegative(where, 'weightDecay value', h.weightDecay);
    if (h.nesterov && (h.momentum <= 0 || h.dampening !== 0))
      throw new RangeError(`${where}: Nesterov momentum requires a momentum > 0 and zero dampening (got momentum ${h.momentum}, dampening ${h.dampening})`);
  }

  protected bufferNames(group: ParamGroup<SGDOptions>): string[] {
    return group.momentum !== 0 ? ['momentumBuffer'] : [];
  }

  protected update(b: Backend, param: Tensor, grad: Tensor, group: ParamGroup<SGDOptions>, state: ParamState): void {
    const sgdStep = this.kernel(b, 'sgdStep');
    const firstStep = state.buffers.momentumBuffer === undefined;
    const buf = group.momentum !== 0 ? this.buffer(state, 'momentumBuffer', param) : null;
    sgdStep({
      n: param.size, param: param.buf('SGD.step'), grad: grad.buf('SGD.step'), momentumBuf: buf === null ? null : buf.buf(),
      lr: group.lr, momentum: group.momentum, dampening: group.dampening, nesterov: group.nesterov, weightDecay: group.weightDecay,
      firstStep,
    });
  }
}
