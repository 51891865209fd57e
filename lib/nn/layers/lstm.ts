/**
 * LSTM (torch.nn.LSTM with batch_first=True) written with autograd ops, so its backward is the ops'
 * backward: per step gates = x_t W_ih^T + b_ih + h W_hh^T + b_hh, split as PyTorch orders them
 * (input, forget, cell, output); c = f c + i g, h = o tanh(c). Parameter names and shapes are PyTorch's
 * (weight_ih_l0 [4H, in], weight_hh_l0 [4H, H], bias_ih_l0 [4H], bias_hh_l0 [4H], `_reverse` for the
 * backward direction), initialised as PyTorch does: U(-1/sqrt(H), 1/sqrt(H)). Sequences here are short
 * (P-tuning runs it over the virtual tokens), so one small graph node per op and step is fine.
 */
import { add, linear, mul, sigmoid, tanh } from '../../tensor/ops';
import { concat, dropout } from '../../tensor/shape_ops';
import { formatShape } from '../../tensor/shape';
import type { Tensor } from '../../tensor/tensor';
import { uniformFanInParameter } from '../init';
import { Module } from '../module';
import { checkFeatures } from './linear';

export interface LSTMOptions {
  numLayers?: number;
  bidirectional?: boolean;
  /** Dropout on each layer's output except the last's, in training mode (PyTorch's `dropout`). */
  dropout?: number;
}

interface DirectionWeights {
  wih: Tensor;
  whh: Tensor;
  bih: Tensor;
  bhh: Tensor;
}

/**
 * One direction of one layer: x [B, T, in] -> h for every step [B, T, H]; h0 = c0 = 0. reverse runs
 * from the last step to the first (outputs stay in time order).
 */
export function lstmDirection(x: Tensor, w: DirectionWeights, reverse: boolean): Tensor {
  const [batch, time] = x.shape;
  const hidden = w.whh.shape[1];
  const projected = linear(x, w.wih, w.bih);
  const outs: Tensor[] = new Array(time);
  let h: Tensor | null = null, c: Tensor | null = null;
  for (let s = 0; s < time; s++) {
    const t = reverse ? time - 1 - s : s;
    const xt = projected.slice(1, t, t + 1).reshape([batch, 4 * hidden]);
    // h0 = 0: the first step's recurrent term is b_hh alone.
    const gates = h ? add(xt, linear(h, w.whh, w.bhh)) : add(xt, w.bhh);
    const i = sigmoid(gates.slice(1, 0, hidden));
    const f = sigmoid(gates.slice(1, hidden, 2 * hidden));
    const g = tanh(gates.slice(1, 2 * hidden, 3 * hidden));
    const o = sigmoid(gates.slice(1, 3 * hidden, 4 * hidden));
    c = c ? add(mul(f, c), mul(i, g)) : mul(i, g);
    h = mul(o, tanh(c));
    outs[t] = h.reshape([batch, 1, hidden]);
  }
  return concat(outs, 1);
}

export class LSTM extends Module {
  readonly numLayers: number;
  readonly bidirectional: boolean;
  readonly dropout: number;

  constructor(readonly inputSize: number, readonly hiddenSize: number, opts: LSTMOptions = {}) {
    super();
    this.numLayers = opts.numLayers ?? 1;
    this.bidirectional = opts.bidirectional ?? false;
    this.dropout = opts.dropout ?? 0;
    checkFeatures('LSTM', inputSize, hiddenSize, this.numLayers);
    if (!(this.dropout >= 0 && this.dropout < 1)) throw new RangeError(`LSTM: dropout must be in [0, 1), got ${this.dropout}`);
    const dirs = this.bidirectional ? 2 : 1;
    for (let layer = 0; layer < this.numLayers; layer++) {
      const inSize = layer === 0 ? inputSize : hiddenSize * dirs;
      for (let d = 0; d < dirs; d++) {
        const suffix = `l${layer}${d === 1 ? '_reverse' : ''}`;
        this.registerParameter(`weight_ih_${suffix}`, uniformFanInParameter([4 * hiddenSize, inSize], hiddenSize));
        this.registerParameter(`weight_hh_${suffix}`, uniformFanInParameter([4 * hiddenSize, hiddenSize], hiddenSize));
        this.registerParameter(`bias_ih_${suffix}`, uniformFanInParameter([4 * hiddenSize], hiddenSize));
        this.registerParameter(`bias_hh_${suffix}`, uniformFanInParameter([4 * hiddenSize], hiddenSize));
      }
    }
  }

  private weights(layer: number, reverse: boolean): DirectionWeights {
    const suffix = `l${layer}${reverse ? '_reverse' : ''}`;
    const p = (n: string) => this.getParameter(`${n}_${suffix}`);
    return { wih: p('weight_ih'), whh: p('weight_hh'), bih: p('bias_ih'), bhh: p('bias_hh') };
  }

  /** x [B, T, inputSize] -> [B, T, hiddenSize * (2 if bidirectional)] (PyTorch's `output`). */
  forward(x: Tensor): Tensor {
    if (x.rank !== 3 || x.shape[2] !== this.inputSize)
      throw new RangeError(`LSTM: expected input [B, T, ${this.inputSize}], got ${formatShape(x.shape)}`);
    let h = x;
    for (let layer = 0; layer < this.numLayers; layer++) {
      if (layer > 0) h = dropout(h, this.dropout, this.training);
      const fwd = lstmDirection(h, this.weights(layer, false), false);
      h = this.bidirectional ? concat([fwd, lstmDirection(h, this.weights(layer, true), true)], 2) : fwd;
    }
    return h;
  }
}
