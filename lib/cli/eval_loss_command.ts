/**
 * peftjs eval-loss: the mean next-token loss of a causal model on a text file, as JSON on stdout
 * ({"tokens", "loss", "perplexity"}); logs go to stderr. Texts longer than the context are scored in
 * windows that overlap by one token, so every token after the first is predicted exactly once.
 */
import * as fs from 'fs';
import { noGrad } from '../tensor/autograd';
import { tidy } from '../tensor/scope';
import { isCausalLM } from '../nn/models/pretrained';
import type { CausalLM } from '../nn/generate';
import { CliError, parseFlags, stringFlag } from './args';
import { HUB_FLAGS, HUB_FLAGS_HELP, hubFlags, loadModelFlag, loadTokenizerFlag, STORAGE_FLAGS, storageFlag, vocabSizeOf, withAdapter } from './model_files';

export const EVAL_LOSS_HELP = `usage: peftjs eval-loss --model PATH [--tokenizer PATH] --text FILE [--adapter DIR] [--revision REV] [--token TOKEN]
  Prints {"tokens": n, "loss": L, "perplexity": P}: L is the mean of -log p(t_i | t_<i) over i = 1..n-1,
  the text encoded with BOS and no EOS.
  ${HUB_FLAGS_HELP}
example:
  peftjs eval-loss --model ../shared/models/stories260K/stories260K.bin --text story.txt`;

export interface EvalLossResult {
  tokens: number;
  loss: number;
  perplexity: number;
}

/** Mean next-token loss of ids under a causal model, in windows of at most `context` tokens. */
export function meanNextTokenLoss(lm: CausalLM, ids: readonly number[], context: number): number {
  if (ids.length < 2) throw new RangeError(`eval-loss: the text has ${ids.length} token(s); at least 2 are needed to score a prediction`);
  let total = 0;
  let counted = 0;
  noGrad(() => {
    lm.eval();
    for (let start = 0; start < ids.length - 1; start += context - 1) {
      const window = ids.slice(start, start + context);
      const sum = tidy(() => {
        const input = { data: Int32Array.from(window), shape: [1, window.length] };
        const { loss } = lm.forward({ inputIds: input, labels: input });
        return loss!.item() * (window.length - 1);
      });
      total += sum;
      counted += window.length - 1;
    }
  });
  return total / counted;
}

export function evalLossCommand(argv: string[]): EvalLossResult {
  const flags = parseFlags('eval-loss', argv, { values: ['model', 'tokenizer', 'text', 'adapter', ...STORAGE_FLAGS, ...HUB_FLAGS], required: ['model', 'text'] });
  const textFile = stringFlag(flags, 'text')!;
  if (!fs.existsSync(textFile)) throw new CliError(`peftjs eval-loss: --text ${textFile} does not exist`);
  const modelPath = stringFlag(flags, 'model')!;
  const hub = hubFlags('eval-loss', flags);
  const model = loadModelFlag('eval-loss', modelPath, storageFlag('eval-loss', flags), hub);
  const tokenizer = loadTokenizerFlag('eval-loss', modelPath, stringFlag(flags, 'tokenizer'), vocabSizeOf(model), hub);
  const ids = tokenizer.encode(fs.readFileSync(textFile, 'utf8'), { bos: true, eos: false });
  const context = 'maxPositionEmbeddings' in model.config ? model.config.maxPositionEmbeddings : model.config.nPositions;
  process.stderr.write(`eval-loss: ${ids.length} tokens, context ${context}\n`);
  if (!isCausalLM(model)) throw new CliError(`peftjs eval-loss: ${modelPath} holds a ${model.constructor.name}, not a causal language model`);
  const runner = withAdapter('eval-loss', model, stringFlag(flags, 'adapter'), hub) as CausalLM;
  const loss = meanNextTokenLoss(runner, ids, context);
  model.dispose();
  return { tokens: ids.length, loss, perplexity: Math.exp(loss) };
}
