/**
 * Fuzzing the file loaders: valid files of every format read here, broken one mutation at a time (bit
 * flips, truncations, extensions, header and JSON field edits), and loaded in child processes. Every
 * case must either load a result that passes the format's checks, or throw an Error whose message names
 * the broken file; none may kill the process (abort, segfault) or hang it.
 *
 * Seeded and deterministic: case i of a format is the same file on every run. PEFTJS_FUZZ_CASES sets
 * the cases per format (default 200); PEFTJS_FUZZ_FORMAT runs only the formats whose name contains it.
 * A failing case is replayed by its number (see fuzz_child.ts and formats/).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { setBackend } from '../../lib';
import { type CaseOutcome, runFuzzCases } from './child_runner';
import { FORMATS } from './formats';
import type { FuzzFormat } from './formats/format';

const CASES = Number(process.env.PEFTJS_FUZZ_CASES ?? 200);
const ONLY = process.env.PEFTJS_FUZZ_FORMAT ?? '';
// A case takes milliseconds; a loader that spins for this long on a file of kilobytes is stuck.
const CASE_TIMEOUT_MS = 15_000;

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'peftjs-fuzz-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
beforeAll(() => setBackend('native'));

/** Why a case fails the spec, or null when it passes. */
function problemOf(format: FuzzFormat, c: CaseOutcome): string | null {
  if (c.outcome === 'loaded') return null;
  if (c.outcome !== 'threw') return `${c.outcome}: ${c.message}`;
  if (c.thrown === 'InvalidResult') return `loaded without error but the result is invalid: ${c.message}`;
  if (c.thrown!.startsWith('a non-Error')) return `threw ${c.thrown}: ${c.message}`;
  const named = c.message.includes(format.folder ? path.dirname(c.file) : c.file);
  if (!named) return `${c.thrown} does not name the file: ${c.message.slice(0, 300)}`;
  return null;
}

describe.each(FORMATS.filter((f) => f.name.includes(ONLY)).map((f) => [f.name, f] as const))('fuzz: %s', (name, format) => {
  test(`${CASES} mutated files: each loads a valid result or throws an Error naming the file; none crashes or hangs`, async () => {
    const dir = path.join(root, name.replace(/\W+/g, '-'));
    const samplesDir = path.join(dir, 'samples');
    fs.mkdirSync(samplesDir, { recursive: true });
    for (const note of format.makeSamples(samplesDir)) console.log(`fuzz ${name}: ${note}`);
    const outcomes = await runFuzzCases({ format: name, count: CASES, samplesDir, workDir: path.join(dir, 'work'), caseTimeoutMs: CASE_TIMEOUT_MS });
    const failures: string[] = [];
    for (const c of outcomes) {
      const problem = problemOf(format, c);
      if (problem !== null) failures.push(`case ${c.index} (${c.what}): ${problem}`);
    }
    const loaded = outcomes.filter((c) => c.outcome === 'loaded').length;
    console.log(`fuzz ${name}: ${outcomes.length} cases, ${loaded} loaded, ${outcomes.length - loaded - failures.length} refused cleanly, ${failures.length} failed`);
    expect(failures).toEqual([]);
    expect(outcomes.map((c) => c.index)).toEqual(Array.from({ length: CASES }, (_, i) => i));
  }, 600_000);
});
