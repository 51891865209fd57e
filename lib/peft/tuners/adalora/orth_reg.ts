/**
 * AdaLoRA's orthogonal regulariser, as HF's AdaLoraModel.forward (src/peft/tuners/adalora/model.py, peft
 * 5d602fd) adds it to the model's loss whenever the output has one (training or not):
 *   loss += orth_reg_weight * mean over the trained adapter's lora_A and lora_B of ||P P^T - I||_F
 * with P P^T = A A^T [r, r] for lora_A and B^T B [r, r] for lora_B; the Frobenius norm itself, not its
 * square (torch.norm(p="fro")). A rank-0 layer counts in the mean with a norm of 0, as in HF.
 */
import { noGrad } from '../../../tensor/autograd';
import { fromArray } from '../../../tensor/creation';
import { add, matmul, mul, scale, sqrt, sub, sumAll } from '../../../tensor/ops';
import { Tensor } from '../../../tensor/tensor';
import type { PeftModel } from '../../peft_model';
import type { AdaLoraConfig } from './config';
import { factorOf } from './rank_allocator';

function eye(r: number): Tensor {
  const v = new Float32Array(r * r);
  for (let i = 0; i < r; i++) v[i * r + i] = 1;
  return noGrad(() => fromArray(v, [r, r]));
}

/** The mean over lora_A / lora_B of ||P P^T - I||_F for adapter `name` (differentiable), or null when it has none. */
export function orthogonalRegularizer(peft: PeftModel, name: string): Tensor | null {
  let total: Tensor | null = null;
  let count = 0;
  for (const [path, p] of peft.model.namedParameters()) {
    const factor = factorOf(path, name);
    if (factor !== 'A' && factor !== 'B') continue;
    count++;
    if (p.size === 0) continue;  // [0, 0] covariance: a norm of 0
    const cov = factor === 'A' ? matmul(p, p.T) : matmul(p.T, p);
    const id = eye(cov.shape[0]);
    const d = sub(cov, id);
    const norm = sqrt(sumAll(mul(d, d)));
    id.dispose();
    total = total === null ? norm : add(total, norm);
  }
  if (count === 0 || total === null) return null;
  return scale(total, 1 / count);
}

/**
 * Tuner.afterForward: adds orth_reg_weight times the regulariser of the trained adapter `name` to
 * `output.loss` when it is a tensor. With no trained adapter (name null) HF has no trainable_adapter_name
 * and fails; nothing trains then, so nothing is added.
 */
export function addOrthogonalRegularizer(peft: PeftModel, output: unknown, name: string | null): void {
  const out = output as { loss?: unknown } | null;
  if (!out || !(out.loss instanceof Tensor) || name === null) return;
  const weight = (peft.peftConfig.get(name) as AdaLoraConfig).orthRegWeight;
  if (weight < 0) throw new RangeError(`AdaLoraConfig: orthRegWeight should be greater than or equal to 0, got ${weight}`);
  const reg = orthogonalRegularizer(peft, name);
  if (reg === null) return;
  const loss = out.loss;
  out.loss = add(loss, scale(reg, weight).reshape(loss.shape));
}
