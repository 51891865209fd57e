/** peftjs merge: a base model plus an adapter folder, merged and written as a Hugging Face model folder. */
import * as fs from 'fs';
import { saveModelFolder } from '../nn/models/save_pretrained';
import { PeftModel } from '../peft/peft_model';
import '../peft/save_load';
import { CliError, numberFlag, parseFlags, stringFlag } from './args';
import { HUB_FLAGS, HUB_FLAGS_HELP, hubFlags, loadModelFlag } from './model_files';

export const MERGE_HELP = `usage: peftjs merge --model PATH --adapter DIR --out DIR [--max-shard-size BYTES] [--dtype float32|bfloat16|float16]
                    [--revision REV] [--token TOKEN]
  Folds the adapter into the base weights (LoRA, IA3, ...) and writes config.json + model.safetensors,
  in --dtype (default float32; torch_dtype in config.json says which).
  ${HUB_FLAGS_HELP}
example:
  peftjs merge --model ../shared/models/stories260K/stories260K.bin --adapter my-lora --out merged`;

export function mergeCommand(argv: string[]): string {
  const flags = parseFlags('merge', argv, { values: ['model', 'adapter', 'out', 'max-shard-size', 'dtype', ...HUB_FLAGS], required: ['model', 'adapter', 'out'] });
  const dtype = stringFlag(flags, 'dtype') ?? 'float32';
  if (dtype !== 'float32' && dtype !== 'bfloat16' && dtype !== 'float16') throw new CliError(`peftjs merge: --dtype must be float32, bfloat16 or float16, got '${dtype}'`);
  const adapter = stringFlag(flags, 'adapter')!;
  if (!fs.existsSync(adapter)) throw new CliError(`peftjs merge: --adapter ${adapter} does not exist`);
  const out = stringFlag(flags, 'out')!;
  const maxShardSize = numberFlag('merge', flags, 'max-shard-size', 5e9, (v) => v > 0, 'a positive number of bytes');
  const model = loadModelFlag('merge', stringFlag(flags, 'model')!, null, hubFlags('merge', flags));
  const peft = PeftModel.fromPretrained(model, adapter);
  const merged = peft.mergeAndUnload();
  saveModelFolder(merged as never, out, { maxShardSize, dtype });
  merged.dispose();
  return out;
}
