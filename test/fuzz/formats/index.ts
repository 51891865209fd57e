/** Every format the fuzzer breaks, by name (the child process looks its format up here). */
import { adapterFormat } from './adapter';
import { checkpointFormat } from './checkpoint';
import type { FuzzFormat } from './format';
import { hfTokenizerFormat } from './hf_tokenizer';
import { llama2cCheckpointFormat, llama2cTokenizerFormat } from './llama2c';
import { safetensorsFormat } from './safetensors';

export const FORMATS: FuzzFormat[] = [safetensorsFormat, adapterFormat, hfTokenizerFormat, llama2cCheckpointFormat, llama2cTokenizerFormat, checkpointFormat];

export function formatNamed(name: string): FuzzFormat {
  const f = FORMATS.find((x) => x.name === name);
  if (!f) throw new Error(`no fuzz format named ${JSON.stringify(name)}`);
  return f;
}
