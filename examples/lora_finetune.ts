/**
 * Fine-tune a small GPT-2 with LoRA: HF peft's API, the fused LoRA kernels, AdamW, and an adapter folder in
 * HF peft's layout. Run with `npx ts-node examples/lora_finetune.ts` or through `npm test`.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { AdamW, GPT2Config, GPT2LMHeadModel, getPeftModel, LoraConfig, manualSeed, tidy } from 'peftjs';

export function main(): { losses: number[]; adapterDir: string } {
  manualSeed(0);
  const model = new GPT2LMHeadModel(new GPT2Config({ vocabSize: 96, nPositions: 64, nEmbd: 64, nLayer: 2, nHead: 4 }));
  const peft = getPeftModel(model, new LoraConfig({ r: 8, loraAlpha: 16, targetModules: ['c_attn', 'c_fc'], taskType: 'CAUSAL_LM' }));
  peft.printTrainableParameters();   // trainable params: ... || all params: ... || trainable%: ...

  const text = 'the quick brown fox jumps over the lazy dog. ';
  const ids = Array.from(text.repeat(4), (c) => c.charCodeAt(0) - 32);  // a toy byte-level "tokenizer"
  const batch = { data: Int32Array.from(ids.slice(0, 64)), shape: [1, 64] };
  const opt = new AdamW(peft.trainableParameters(), { lr: 3e-2 });
  const losses: number[] = [];
  for (let step = 0; step < 30; step++) {
    opt.zeroGrad();
    losses.push(tidy(() => {
      const { loss } = model.forward({ inputIds: batch, labels: batch });
      loss!.backward();
      return loss!.item();
    }));
    opt.step();
  }
  console.log(`loss ${losses[0].toFixed(3)} -> ${losses[losses.length - 1].toFixed(3)}`);
  const adapterDir = fs.mkdtempSync(path.join(os.tmpdir(), 'peftjs-lora-'));
  peft.savePretrained(adapterDir);   // adapter_config.json + adapter_model.safetensors, as HF peft writes them
  return { losses, adapterDir };
}

if (require.main === module) main();
