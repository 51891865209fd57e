/** peftjs generate: text from a causal model, printed as it is produced (as llama2.c prints it). */
import { type CausalLM, generate } from '../nn/generate';
import { isCausalLM } from '../nn/models/pretrained';
import { numberFlag, parseFlags, stringFlag, CliError } from './args';
import { loadModelFlag, loadTokenizerFlag, STORAGE_FLAGS, storageFlag, vocabSizeOf, withAdapter } from './model_files';

export const GENERATE_HELP = `usage: peftjs generate --model PATH [--tokenizer PATH] [--prompt TEXT] --max-tokens N
                       [--temperature T] [--top-p P] [--seed S] [--adapter DIR]
  Prints the prompt and the generated text. Temperature 0 (default) is greedy decoding.
example:
  peftjs generate --model ../shared/models/stories260K/stories260K.bin --max-tokens 64`;

export function generateCommand(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s)): void {
  const flags = parseFlags('generate', argv, { values: ['model', 'tokenizer', 'prompt', 'max-tokens', 'temperature', 'top-p', 'seed', 'adapter', ...STORAGE_FLAGS], required: ['model', 'max-tokens'] });
  const maxTokens = numberFlag('generate', flags, 'max-tokens', 0, (v) => Number.isInteger(v) && v >= 0, 'a non-negative integer');
  const temperature = numberFlag('generate', flags, 'temperature', 0, (v) => v >= 0, 'a number >= 0');
  const topP = numberFlag('generate', flags, 'top-p', 1, (v) => v > 0 && v <= 1, 'a number in (0, 1]');
  const seed = numberFlag('generate', flags, 'seed', 1234, Number.isInteger, 'an integer');
  const modelPath = stringFlag(flags, 'model')!;
  const model = loadModelFlag('generate', modelPath, storageFlag('generate', flags));
  if (!isCausalLM(model)) throw new CliError(`peftjs generate: ${modelPath} is a ${model.constructor.name}, not a causal language model`);
  const tokenizer = loadTokenizerFlag('generate', modelPath, stringFlag(flags, 'tokenizer'), vocabSizeOf(model));
  const prompt = tokenizer.encode(stringFlag(flags, 'prompt') ?? '', { bos: true });
  if (prompt.length === 0) throw new CliError('peftjs generate: the tokenizer has no BOS token; give a --prompt');
  let prev = prompt[0];
  const emit = (id: number) => {
    out(tokenizer.decodeToken ? tokenizer.decodeToken(prev, id) : tokenizer.decode([id]));
    prev = id;
  };
  prompt.slice(1).forEach(emit);
  const runner = withAdapter('generate', model, stringFlag(flags, 'adapter'));
  generate(runner as CausalLM, prompt, {
    maxNewTokens: maxTokens, temperature, topP, seed, eosTokenId: tokenizer.eosId,
    maxLength: 'maxPositionEmbeddings' in model.config ? model.config.maxPositionEmbeddings : model.config.nPositions,
    onToken: (id) => {
      if (id !== tokenizer.eosId) emit(id);
    },
  });
  out('\n');
  model.dispose();
}
