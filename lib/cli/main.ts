#!/usr/bin/env node
/** The `peftjs` command. */
import { info } from '../index';
import { CliError } from './args';
import { COMPARE_HELP, compareCommand, compareOneCommand } from './compare/compare_command';
import { EVAL_HELP, evalCommand } from './eval_command';
import { TRAIN_HELP, trainCommand } from './train_command';
import { isMainProcess } from '../dist';
import { EVAL_LOSS_HELP, evalLossCommand } from './eval_loss_command';
import { GENERATE_HELP, generateCommand } from './generate_command';
import { MERGE_HELP, mergeCommand } from './merge_command';

const HELP = `usage: peftjs <command> [options]

commands:
  compare [--quick] [--out DIR] [--methods a,b,...]
                            the main job (npm start): pretrain a small byte-level Llama, fine-tune it as a
                            spam classifier with every method, print and write the comparison table
  train --model PATH --method NAME --data FILE --out DIR [method options]
                            fine-tune with one method (full, lora, ia3, prompt-tuning, ...); --task sft:
                            chat data ({"messages": [...]}), loss on the assistant's tokens only; under
                            mpirun -np N (or --distributed): data-parallel over MPI, --batch-size per rank
  eval --model PATH [--adapter DIR] --data FILE
                            metrics of a model (and adapter) on a data file (JSON)
  info                      version, backends, CPU path, threads, CUDA devices (JSON)
  generate --model PATH --max-tokens N [--prompt TEXT] [--temperature T] [--top-p P] [--chat]
                            text from a causal model (llama2.c .bin or HF folder); --chat: the prompt as a
                            user message through the tokenizer's chat template
  eval-loss --model PATH --text FILE
                            mean next-token loss and perplexity of a text file (JSON)
  merge --model PATH --adapter DIR --out DIR
                            fold an adapter into the base weights; write an HF model folder
  (generate and eval-loss take --adapter DIR: an adapter folder loaded onto the model)
  (train, eval, generate and eval-loss take --quantize nf4|int8 or --dtype bfloat16|float16|float32: how the
   frozen linear weights are stored; embeddings, norms and the output head stay float32; and
   --compute-dtype float32|bfloat16: the precision those layers multiply in, float32 sums either way)
  (train, eval, generate, eval-loss and merge take --revision REV and --token TOKEN for a Hub id 'org/name' in
   --model: the branch, tag or commit to load (default main) and the token sent (default HF_TOKEN))
  bench [--only NAME,...] [--json FILE] [--no-torch] [--no-tfjs]
                            kernel benchmarks beside PyTorch, TensorFlow.js and the js reference

environment:
  PEFTJS_DEBUG=1            print an error's stack trace (errors are one line otherwise)
  PEFTJS_BACKEND=NAME       js, native or cuda (default native; js, with a warning, when the addon did not load)
  PEFTJS_MPI_LIB=FILE       the MPI library distributed training loads (default Open MPI's libmpi.so.40)
  PEFTJS_DIST_TIMEOUT=S     distributed: end the job when a rank waits in one collective over S s (default 1800; 0: never)

examples:
  peftjs compare --quick
  peftjs train --model DIR --method lora --r 8 --lora-alpha 16 --data train.jsonl --out my-lora --epochs 1
  peftjs eval --model DIR --adapter my-lora --data test.jsonl
  peftjs info
  peftjs generate --model ../shared/models/stories260K/stories260K.bin --max-tokens 64
  peftjs eval-loss --model ../shared/models/stories260K/stories260K.bin --text story.txt
  peftjs bench --only gemm --json bench.json`;

/** The commands, as an unknown one is told (compare-one, compare's internal child, is left out). */
const COMMANDS = ['compare', 'train', 'eval', 'info', 'generate', 'eval-loss', 'merge', 'bench'];

async function run(command: string | undefined, rest: string[]): Promise<void> {
  switch (command) {
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      console.log(HELP);
      return;
    case 'generate':
      if (wantsHelp(rest)) return console.log(GENERATE_HELP);
      generateCommand(rest);
      return;
    case 'eval-loss':
      if (wantsHelp(rest)) return console.log(EVAL_LOSS_HELP);
      console.log(JSON.stringify(evalLossCommand(rest)));
      return;
    case 'merge':
      if (wantsHelp(rest)) return console.log(MERGE_HELP);
      console.error(`merged model written to ${mergeCommand(rest)}`);
      return;
    case 'train':
      if (wantsHelp(rest)) return console.log(TRAIN_HELP);
      {
        const result = trainCommand(rest);
        // Under mpirun every rank ends with the same result; one JSON line, from rank 0.
        if (isMainProcess()) console.log(JSON.stringify(result));
      }
      return;
    case 'eval':
      if (wantsHelp(rest)) return console.log(EVAL_HELP);
      console.log(JSON.stringify(evalCommand(rest)));
      return;
    case 'compare':
      if (wantsHelp(rest)) return console.log(COMPARE_HELP);
      await compareCommand(rest);
      return;
    case 'compare-one':
      compareOneCommand(rest);
      return;
    case 'info':
      console.log(JSON.stringify(info(), null, 2));
      return;
    case 'bench': {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const bench = require('../../bench/main') as { main(argv: string[]): Promise<void> };
      await bench.main(rest);
      return;
    }
    default:
      throw new CliError(`peftjs: unknown command '${command}' (commands: ${COMMANDS.join(', ')}; see peftjs --help)`);
  }
}

function wantsHelp(argv: string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}

/**
 * Whether an error was thrown on purpose, with a message that says what to fix: peftjs's checks throw
 * Error, RangeError or their own classes (CliError, DataError, FileFormatError, ...; e.g. the Trainer's
 * "no checkpoint to resume from"), Node throws system errors on a path the user gave (ENOENT, EACCES),
 * JSON.parse a SyntaxError on a malformed file. A TypeError or ReferenceError reaching the top means the
 * CLI handed library code something it should not have, or a plain bug; so does a thrown non-Error.
 */
function isExpected(e: unknown): boolean {
  return e instanceof Error && !(e instanceof TypeError || e instanceof ReferenceError);
}

/**
 * A failed command ends with one line on stderr, `peftjs <command>: <message>`, and exit status 1: a stack
 * trace only buries the message for someone who mistyped a flag. An unexpected error adds a second line
 * saying how to get its stack for a bug report; PEFTJS_DEBUG=1 prints every error's stack.
 */
function fail(command: string | undefined, e: unknown): never {
  if (process.env.PEFTJS_DEBUG === '1') {
    console.error(e instanceof Error ? e.stack ?? e.message : e);
  } else {
    const expected = isExpected(e);
    let message = e instanceof Error ? e.message : String(e);
    if (!expected && e instanceof Error) message = `${e.name}: ${message}`;
    // Most messages already name their command ('peftjs train: --data ... does not exist').
    console.error(message.startsWith('peftjs') ? message : `peftjs${command ? ` ${command}` : ''}: ${message}`);
    if (!expected) console.error('peftjs: this looks like a bug in peftjs; run again with PEFTJS_DEBUG=1 to see the stack trace, and please report it');
  }
  process.exit(1);
}

const [command, ...rest] = process.argv.slice(2);
run(command, rest).catch((e: unknown) => fail(command, e));
