/** Shared steps of the PEFT method specs: a few AdamW steps on the golden batch, logits, a temp folder. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { AdamW, loadHfModel, noGrad, type PeftModel, type PretrainedModel, type Tensor, tidy } from '../../lib';
import { FIXTURES, forward } from './golden';

export const loadFamily = (family: string) => loadHfModel(path.join(FIXTURES, family));
export const tempDir = (tag: string) => fs.mkdtempSync(path.join(os.tmpdir(), `peftjs-${tag}-`));
type Inputs = Parameters<PretrainedModel['forward']>[0];

export function logitsOf(peft: PeftModel, inputs: Inputs): Tensor {
  return noGrad(() => forward(peft.model as never, inputs).logits);
}

/** Runs `steps` AdamW steps on the batch (afterStep(1..steps) after each, as the Trainer runs AdaLoRA's allocator); returns the losses before each step. */
export function train(peft: PeftModel, inputs: Inputs, steps: number, lr: number, params: Tensor[] = peft.trainableParameters(),
  afterStep?: (step: number) => void): number[] {
  const opt = new AdamW(params, { lr, weightDecay: 0 });
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) {
    opt.zeroGrad();
    losses.push(tidy(() => {
      const loss = forward(peft.model as never, inputs).loss;
      loss.backward();
      return loss.item();
    }));
    opt.step();
    afterStep?.(i + 1);
  }
  return losses;
}
