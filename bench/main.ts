/**
 * peftjs benchmarks: `npm run bench [-- --only gemm] [--json FILE]`. Prints a table; --json writes
 * {"machine": {...}, "rows": [...]}.
 */
import * as fs from 'fs';
import * as path from 'path';
import { availableBackends } from '../lib';
import { benchGemm, GEMM_SHAPES } from './gemm';
import { machine } from './machine';
import { formatTable } from './table';

interface Options {
  only: Set<string> | null;
  json: string | null;
}

const ROW_NAMES = ['gemm'];

function parseArgs(argv: string[]): Options {
  const opts: Options = { only: null, json: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`bench: ${a} needs a value`);
      return v;
    };
    if (a === '--only') {
      opts.only = new Set(value().split(','));
      for (const n of opts.only) if (!ROW_NAMES.includes(n)) throw new Error(`bench: unknown row '${n}' in --only (known: ${ROW_NAMES.join(', ')})`);
    } else if (a === '--json') opts.json = value();
    else if (a === '--help' || a === '-h') {
      console.log('usage: peftjs bench [--only NAME,NAME] [--json FILE]\nrows: ' + ROW_NAMES.join(', '));
      process.exit(0);
    } else throw new Error(`bench: unknown argument '${a}' (try --help)`);
  }
  return opts;
}

export function main(argv: string[]): void {
  const opts = parseArgs(argv);
  if (!availableBackends().includes('native')) throw new Error('bench: the native addon is not available; run `npm install` first');
  const want = (name: string) => opts.only === null || opts.only.has(name);
  const info = machine();
  console.log(`peftjs ${info.peftjs} on ${info.cpu} (${info.cores} cores, cpu path ${info.cpuPath}, ${info.threads} threads), node ${info.node}`);
  const rows: object[] = [];
  if (want('gemm')) {
    const table: (string | number)[][] = [];
    for (const [M, N, K] of GEMM_SHAPES) {
      const r = benchGemm(M, N, K);
      rows.push(r);
      table.push([`gemm ${M}x${N}x${K}`, r.ms, r.gflops, r.js_ms, r.js_gflops, `${r.speedup_vs_js.toFixed(0)}x`]);
      process.stderr.write('.');
    }
    process.stderr.write('\n');
    console.log(formatTable(['row', 'native ms', 'GFLOP/s', 'js ms*', 'js GFLOP/s', 'native/js'], table));
    console.log('* js is timed on the first rows of x and scaled to M (GEMM time is linear in M).');
  }
  if (opts.json) {
    const file = path.resolve(opts.json);
    const tmp = `${file}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, JSON.stringify({ machine: info, rows }, null, 2) + '\n');
    fs.renameSync(tmp, file);
    console.log(`wrote ${file}`);
  }
}

if (require.main === module) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    console.error((e as Error).message);
    process.exit(1);
  }
}
