/**
 * The lora_quality row: does a low-precision base cost quality? stories260K (../shared/models) gets LoRA
 * adapters (r 8 on every linear layer) trained for a fixed number of AdamW steps on a fixed text with its
 * linear layers stored as float32, bf16 or nf4 (bf16 compute for the latter two, as the lora_step rows
 * run), and each is scored by its next-token loss on a held-out text.
 */
import * as fs from 'fs';
import * as path from 'path';
import { setBackend } from '../lib/backend';
import { loadTokenizer } from '../lib/io/tokenizer';
import type { LlamaForCausalLM } from '../lib/nn/models/llama/model';
import { loadPretrained } from '../lib/nn/models/pretrained';
import { AdamW } from '../lib/optim';
import { getPeftModel, LoraConfig } from '../lib/peft';
import type { ModelQuantization } from '../lib/quant/quantize_model';
import { noGrad } from '../lib/tensor/autograd';
import { manualSeed } from '../lib/tensor/creation';
import { tidy } from '../lib/tensor/scope';

const MODEL_DIR = path.join(__dirname, '..', '..', '..', 'shared', 'models', 'stories260K');

const TRAIN_TEXT = 'Tom had a small red boat. Every morning he took the boat to the pond behind his house. ' +
  'The ducks came to see the boat and Tom gave them bread. One day the wind was strong and the boat sailed far away. ' +
  'Tom was sad, but a kind old man found the boat and gave it back. Tom said thank you and they sailed the boat together. ' +
  'From that day on, Tom and the old man were good friends, and the ducks came to see them every morning.';
const HELD_OUT_TEXT = 'Sara had a little blue kite. Every afternoon she took the kite to the hill behind her school. ' +
  'The birds came to look at the kite and Sara sang to them. One day the wind was strong and the kite flew far away. ' +
  'Sara was sad, but a kind girl found the kite and gave it back. Sara said thank you and they flew the kite together.';

// Few enough steps at a small enough rate that the adapters learn the story's style, not its 64 tokens by heart.
const STEPS = 12;
const SEQ = 64;

const STORAGE: Record<number, ModelQuantization | null> = {
  32: null,
  16: { format: 'bfloat16', computeDtype: 'bfloat16' },
  4: { format: 'nf4', computeDtype: 'bfloat16' },
};

export function loraQuality(base: number): { heldOutLoss: number; heldOutBefore: number; losses: number[]; steps: number; ms: number } | { absent: string } {
  const file = path.join(MODEL_DIR, 'stories260K.bin');
  if (!fs.existsSync(file)) return { absent: `skipped: ${file} is missing (../shared is not beside the checkout)` };
  setBackend('native');
  manualSeed(0);
  const t0 = performance.now();
  const model = loadPretrained(file, { quantization: STORAGE[base] }) as LlamaForCausalLM;
  const tokenizer = loadTokenizer(path.join(MODEL_DIR, 'tok512.bin'), { vocabSize: model.config.vocabSize });
  const ids = (text: string) => {
    const all = tokenizer.encode(text).slice(0, SEQ);
    return { data: Int32Array.from(all), shape: [1, all.length] };
  };
  const train = ids(TRAIN_TEXT), heldOut = ids(HELD_OUT_TEXT);
  const peft = getPeftModel(model as never, new LoraConfig({ r: 8, loraAlpha: 16, loraDropout: 0,
    targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] }));
  const opt = new AdamW(peft.trainableParameters(), { lr: 1e-3, weightDecay: 0 });
  const heldOutBefore = noGrad(() => tidy(() => model.forward({ inputIds: heldOut, labels: heldOut }).loss!.item()));
  model.train();
  const losses: number[] = [];
  for (let i = 0; i < STEPS; i++) {
    losses.push(tidy(() => {
      opt.zeroGrad();
      const { loss } = model.forward({ inputIds: train, labels: train });
      loss!.backward();
      opt.step();
      return loss!.item();
    }));
  }
  model.eval();
  const heldOutLoss = noGrad(() => tidy(() => model.forward({ inputIds: heldOut, labels: heldOut }).loss!.item()));
  return { heldOutLoss, heldOutBefore, losses, steps: STEPS, ms: performance.now() - t0 };
}
