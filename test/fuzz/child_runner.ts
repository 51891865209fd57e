/**
 * Runs fuzz cases in child processes, so that a loader that aborts, segfaults or hangs is caught and
 * the case named, instead of taking the test runner down. One child runs many cases in a row (starting
 * node and the library costs more than most cases). Before each case it reports the case, after it
 * the outcome, as JSON lines on its own pipe (fd 3: library output on stdout cannot garble them).
 * A child that dies, or stays silent for caseTimeoutMs, is blamed on the case it last started; a new
 * child resumes at the next case.
 *
 * The children run the TypeScript sources without ts-jest: BOOTSTRAP below transpiles each .ts file
 * on require (no type check), caching the output by content hash, so later children start in ~0.2 s.
 */
import { spawn } from 'child_process';
import * as os from 'os';
import * as path from 'path';
import * as readline from 'readline';

export const CHILD_ENTRY = path.join(__dirname, 'fuzz_child.ts');

/** What a case did: loaded (and passed the format's checks), threw, or killed / hung its process. */
export interface CaseOutcome {
  index: number;
  /** The mutation, for the report ("flip 2 bit(s) at bytes 3, 17"). */
  what: string;
  /** The mutated file, whose path a thrown error must name. */
  file: string;
  outcome: 'loaded' | 'threw' | 'died' | 'hung';
  /** The error's message (threw), or how the process ended (died, hung). */
  message: string;
  /** The thrown value's class name (Error, FileFormatError, ...), or a description of a non-Error. */
  thrown?: string;
  ms: number;
}

/** What a child writes on fd 3, one JSON object a line. */
export type ChildEvent = { event: 'start'; index: number; what: string; file: string } | ({ event: 'end' } & Omit<CaseOutcome, 'what' | 'file'>);

export interface FuzzRun {
  format: string;
  /** Cases first..count-1 are run. */
  count: number;
  /** Valid files to mutate, written by the parent (see formats.ts). */
  samplesDir: string;
  /** Scratch folder of the children's case files. */
  workDir: string;
  caseTimeoutMs: number;
}

const CACHE = path.join(os.tmpdir(), 'peftjs-fuzz-ts-cache');

const BOOTSTRAP = `
const fs = require('fs'), path = require('path'), crypto = require('crypto');
const cache = ${JSON.stringify(CACHE)};
fs.mkdirSync(cache, { recursive: true });
let ts = null;
require.extensions['.ts'] = (m, file) => {
  const src = fs.readFileSync(file, 'utf8');
  const out = path.join(cache, crypto.createHash('sha1').update(file + '\\0' + src).digest('hex') + '.js');
  let js;
  try { js = fs.readFileSync(out, 'utf8'); } catch {
    ts = ts || require(${JSON.stringify(require.resolve('typescript'))});
    js = ts.transpileModule(src, { fileName: file, compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true } }).outputText;
    const tmp = out + '.' + process.pid;
    fs.writeFileSync(tmp, js);
    fs.renameSync(tmp, out);
  }
  m._compile(js, file);
};
require(process.argv[1]);
`;

/** Runs cases [first, count) in one child until it finishes, dies or hangs; returns the outcomes it gave. */
function runChild(run: FuzzRun, first: number): Promise<CaseOutcome[]> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--expose-gc', '-e', BOOTSTRAP, CHILD_ENTRY, run.format, String(first), String(run.count), run.samplesDir, run.workDir],
      { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
    const outcomes: CaseOutcome[] = [];
    let started: Extract<ChildEvent, { event: 'start' }> | null = null;
    let startedAt = Date.now();
    let stderr = '';
    let timer: NodeJS.Timeout | null = null;
    let hung = false;
    const arm = () => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        hung = true;
        child.kill('SIGKILL');
      }, run.caseTimeoutMs);
    };
    arm();
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    readline.createInterface({ input: child.stdio[3] as NodeJS.ReadableStream }).on('line', (line) => {
      const e = JSON.parse(line) as ChildEvent;
      arm();
      if (e.event === 'start') {
        started = e;
        startedAt = Date.now();
      } else {
        outcomes.push({ ...e, what: started!.what, file: started!.file });
        started = null;
      }
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const s = started as Extract<ChildEvent, { event: 'start' }> | null;
      if (s !== null) {
        const how = hung ? `no answer within ${run.caseTimeoutMs} ms (killed)` : `exit code ${code}, signal ${signal}; stderr: ${stderr.trim()}`;
        outcomes.push({ index: s.index, what: s.what, file: s.file, outcome: hung ? 'hung' : 'died', message: how, ms: Date.now() - startedAt });
      } else if (code !== 0 || signal !== null) {
        // Died between cases (at start-up, say): report it on the next case so the run cannot pass silently.
        outcomes.push({ index: first + outcomes.length, what: '(between cases)', file: '', outcome: hung ? 'hung' : 'died', message: `exit code ${code}, signal ${signal}; stderr: ${stderr.trim()}`, ms: 0 });
      }
      resolve(outcomes);
    });
  });
}

/** Every case's outcome, in order: children are restarted after the case that killed or hung the last one. */
export async function runFuzzCases(run: FuzzRun): Promise<CaseOutcome[]> {
  const all: CaseOutcome[] = [];
  let next = 0;
  while (next < run.count) {
    const got = await runChild(run, next);
    all.push(...got);
    if (got.length === 0) throw new Error(`fuzz ${run.format}: a child made no progress from case ${next}`);
    next = got[got.length - 1].index + 1;
  }
  return all;
}
