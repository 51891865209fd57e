/** peftjs generate: text from a causal model, printed as it is produced (as llama2.c prints it). */
import { type CausalLM, generate } from '../nn/generate';
import { isCausalLM } from '../nn/models/pretrained';
import { numberFlag, parseFlags, stringFlag, CliError } from './args';
import { HUB_FLAGS, HUB_FLAGS_HELP, hubFlags, loadModelFlag, loadTokenizerFlag, STORAGE_FLAGS, storageFlag, vocabSizeOf, withAdapter } from './model_files';
import { ChatTemplateError, type ChatMessage } from '../io/chat_template';
import type { Tokenizer } from '../io/tokenizer';

/** --chat: the user's message (after --system's) rendered with the chat template and the assistant's header, as ids. */
function chatPrompt(tokenizer: Tokenizer, prompt: string, system: string | undefined): number[] {
  const template = tokenizer.chatTemplate?.() ?? null;
  if (template === null) throw new CliError('peftjs generate: --chat needs a tokenizer with a chat template (a "chat_template" in tokenizer_config.json); this one has none');
  const messages: ChatMessage[] = [...(system !== undefined ? [{ role: 'system', content: system }] : []), { role: 'user', content: prompt }];
  let text: string;
  try {
    text = template.render(messages, { addGenerationPrompt: true });
  } catch (e) {
    if (e instanceof ChatTemplateError) throw new CliError(`peftjs generate: --chat: ${e.message}`);
    throw e;
  }
  // The template writes the special tokens (BOS included), as HF encodes with add_special_tokens=False.
  return tokenizer.encode(text, { bos: false, eos: false });
}

export const GENERATE_HELP = `usage: peftjs generate --model PATH [--tokenizer PATH] [--prompt TEXT] --max-tokens N
                       [--temperature T] [--top-p P] [--seed S] [--adapter DIR] [--chat [--system TEXT]]
                       [--revision REV] [--token TOKEN]
  Prints the prompt and the generated text. Temperature 0 (default) is greedy decoding.
  --chat: the prompt is a user message: the tokenizer's chat template renders it (after --system's message, if
  given) with the assistant's header (add_generation_prompt), and only the reply is printed; generation stops
  at the tokenizer's EOS (tokenizer_config.json's eos_token, e.g. <|im_end|> or <|eot_id|>).
  ${HUB_FLAGS_HELP}
examples:
  peftjs generate --model ../shared/models/stories260K/stories260K.bin --max-tokens 64
  peftjs generate --model qwen2.5-0.5b-instruct --adapter my-sft --chat --prompt "Name three colours." --max-tokens 64`;

export function generateCommand(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s)): void {
  const flags = parseFlags('generate', argv, {
    values: ['model', 'tokenizer', 'prompt', 'max-tokens', 'temperature', 'top-p', 'seed', 'adapter', 'system', ...STORAGE_FLAGS, ...HUB_FLAGS], switches: ['chat'], required: ['model', 'max-tokens'],
  });
  const chat = flags.has('chat');
  if (!chat && flags.has('system')) throw new CliError('peftjs generate: --system is a chat message; pass --chat with it');
  const maxTokens = numberFlag('generate', flags, 'max-tokens', 0, (v) => Number.isInteger(v) && v >= 0, 'a non-negative integer');
  const temperature = numberFlag('generate', flags, 'temperature', 0, (v) => v >= 0, 'a number >= 0');
  const topP = numberFlag('generate', flags, 'top-p', 1, (v) => v > 0 && v <= 1, 'a number in (0, 1]');
  const seed = numberFlag('generate', flags, 'seed', 1234, Number.isInteger, 'an integer');
  const modelPath = stringFlag(flags, 'model')!;
  const hub = hubFlags('generate', flags);
  const model = loadModelFlag('generate', modelPath, storageFlag('generate', flags), hub);
  if (!isCausalLM(model)) throw new CliError(`peftjs generate: ${modelPath} is a ${model.constructor.name}, not a causal language model`);
  const tokenizer = loadTokenizerFlag('generate', modelPath, stringFlag(flags, 'tokenizer'), vocabSizeOf(model), hub);
  const prompt = chat ? chatPrompt(tokenizer, stringFlag(flags, 'prompt') ?? '', stringFlag(flags, 'system')) : tokenizer.encode(stringFlag(flags, 'prompt') ?? '', { bos: true });
  if (prompt.length === 0) throw new CliError(`peftjs generate: ${chat ? 'the chat template rendered an empty prompt' : 'the tokenizer has no BOS token; give a --prompt'}`);
  let prev = prompt[prompt.length - 1];
  const emit = (id: number) => {
    out(tokenizer.decodeToken ? tokenizer.decodeToken(prev, id) : tokenizer.decode([id]));
    prev = id;
  };
  if (!chat) {
    prev = prompt[0];
    prompt.slice(1).forEach(emit);
  }
  const runner = withAdapter('generate', model, stringFlag(flags, 'adapter'), hub);
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
