/** Gemma's RMSNorm (HF's GemmaRMSNorm): x / rms(x) * (1 + weight), the weight starting at zero. */
import { rmsNorm } from '../../../ops/norm/op';
import { noGrad } from '../../../tensor/autograd';
import { fill_, scale } from '../../../tensor/ops';
import type { Tensor } from '../../../tensor/tensor';
import { RMSNorm } from '../../layers/norm';

export class GemmaRMSNorm extends RMSNorm {
  constructor(size: number, eps = 1e-6) {
    super(size, eps);
    noGrad(() => fill_(this.weight, 0));
  }

  /** HF: _norm(x.float()) * (1.0 + weight.float()); (1 + weight) is rounded to float32 first, as there. */
  override forward(x: Tensor): Tensor {
    return rmsNorm(x, scale(this.weight, 1, 1), this.eps);
  }
}
