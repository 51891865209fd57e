#!/usr/bin/env node
/** The `peftjs` command. */
import { info } from '../index';
import { CliError } from './args';
import { COMPARE_HELP, compareCommand, compareOneCommand } from './compare/compare_command';
import { EVAL_HELP, evalCommand } from './eval_command';
import { TRAIN_HELP, trainCommand } from './train_command';
import { EVAL_LOSS_HELP, evalLossCommand } from './eval_loss_command';
import { GENERATE_HELP, generateCommand } from './generate_command';
import { MERGE_HELP, mergeCommand } from './merge_command';

const HELP = `usage: peftjs <command> [options]

commands:
  compare [--quick] [--out DIR] [--methods a,b,...]
                            the main job (npm start): pretrain a small byte-level Llama, fine-tune it as a
                            spam classifier with every method, print and write the comparison table
  train --model PATH --method NAME --data FILE --out DIR [method options]
                            fine-tune with one method (full, lora, ia3, prompt-tuning, ...)
  eval --model PATH [--adapter DIR] --data FILE
                            metrics of a model (and adapter) on a data file (JSON)
  info                      version, backends, CPU path, threads, CUDA devices (JSON)
  generate --model PATH --max-tokens N [--prompt TEXT] [--temperature T] [--top-p P]
                            text from a causal model (llama2.c .bin or HF folder)
  eval-loss --model PATH --text FILE
                            mean next-token loss and perplexity of a text file (JSON)
  merge --model PATH --adapter DIR --out DIR
                            fold an adapter into the base weights; write an HF model folder
  (generate and eval-loss take --adapter DIR: an adapter folder loaded onto the model)
  bench [--only NAME,...] [--json FILE] [--no-torch] [--no-tfjs]
                            kernel benchmarks beside PyTorch, TensorFlow.js and the js reference

examples:
  peftjs compare --quick
  peftjs train --model DIR --method lora --r 8 --lora-alpha 16 --data train.jsonl --out my-lora --epochs 1
  peftjs eval --model DIR --adapter my-lora --data test.jsonl
  peftjs info
  peftjs generate --model ../shared/models/stories260K/stories260K.bin --max-tokens 64
  peftjs eval-loss --model ../shared/models/stories260K/stories260K.bin --text story.txt
  peftjs bench --only gemm --json bench.json`;

function run(argv: string[]): void {
  const [command, ...rest] = argv;
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
      console.log(JSON.stringify(trainCommand(rest)));
      return;
    case 'eval':
      if (wantsHelp(rest)) return console.log(EVAL_HELP);
      console.log(JSON.stringify(evalCommand(rest)));
      return;
    case 'compare':
      if (wantsHelp(rest)) return console.log(COMPARE_HELP);
      compareCommand(rest);
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
      bench.main(rest).catch((e: Error) => {
        console.error(e.message);
        process.exit(1);
      });
      return;
    }
    default:
      throw new Error(`peftjs: unknown command '${command}' (try peftjs --help)`);
  }
}

function wantsHelp(argv: string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}

try {
  run(process.argv.slice(2));
} catch (e) {
  // Usage errors are one line; anything else keeps its stack for a bug report.
  console.error(e instanceof CliError || e instanceof RangeError || (e as NodeJS.ErrnoException).code === 'ENOENT' ? (e as Error).message : (e as Error).stack ?? String(e));
  process.exit(1);
}
