/**
 * The README's LoRA example: fine-tune a small GPT-2 with LoRA (HF peft's API, the fused LoRA kernels,
 * AdamW) and save the adapter in HF peft's layout. The README's block is this file's peftjs import and
 * main's body above its return, verbatim (test/examples.test.ts checks), so what the README shows is what
 * runs. Run with `npx ts-node examples/lora_finetune.ts` (it writes ./my-adapter) or through `npm test`.
 */
import { AdamW, GPT2Config, GPT2LMHeadModel, getPeftModel, LoraConfig, manualSeed, tidy } from 'peftjs';

export function main(): { losses: number[]; adapterDir: string } {
  manualSeed(0);
  const model = new GPT2LMHeadModel(new GPT2Config({ vocabSize: 96, nPositions: 64, nEmbd: 64, nLayer: 2, nHead: 4 }));
  const peft = getPeftModel(model, new LoraConfig({ r: 8, loraAlpha: 16, targetModules: ['c_attn', 'c_fc'], taskType: 'CAUSAL_LM' }));
  peft.printTrainableParameters();   // trainable params: ... || all params: ... || trainable%: ...

  // A toy byte-level "tokenizer": the 96 printable ASCII characters are the vocabulary.
  const ids = Array.from('the quick brown fox jumps over the lazy dog. '.repeat(2), (c) => c.charCodeAt(0) - 32);
  const batch = { data: Int32Array.from(ids.slice(0, 64)), shape: [1, 64] };   // [B, T]: one sequence of 64 tokens
  const opt = new AdamW(peft.trainableParameters(), { lr: 3e-2 });
  const losses: number[] = [];
  for (let step = 0; step < 30; step++) {
    opt.zeroGrad();
    losses.push(tidy(() => {
      const { loss } = model.forward({ inputIds: batch, labels: batch });   // labels = inputs: next-token loss
      loss!.backward();
      return loss!.item();
    }));
    opt.step();
  }
  console.log(`loss ${losses[0].toFixed(3)} -> ${losses[losses.length - 1].toFixed(3)}`);
  peft.savePretrained('my-adapter');   // adapter_config.json + adapter_model.safetensors, as HF peft writes them
  return { losses, adapterDir: 'my-adapter' };
}

if (require.main === module) main();
