#!/usr/bin/env node
/** The `peftjs` command. Verbs so far: info, bench. */
import { info } from '../index';

const HELP = `usage: peftjs <command> [options]

commands:
  info                      version, backends, CPU path, threads, CUDA devices (JSON)
  bench [--only NAME,...] [--json FILE] [--no-torch] [--no-tfjs]
                            kernel benchmarks beside PyTorch, TensorFlow.js and the js reference

examples:
  peftjs info
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

try {
  run(process.argv.slice(2));
} catch (e) {
  console.error((e as Error).message);
  process.exit(1);
}
