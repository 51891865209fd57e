/**
 * The child process of child_runner.ts: runs cases [first, count) of one format in a row, each in a
 * fresh case folder, reporting on fd 3 before each case and after it (see ChildEvent). A case that
 * kills this process is reported by the parent from the last "start" line.
 * Arguments: format name, first, count, samples folder, work folder.
 */
import * as fs from 'fs';
import * as path from 'path';
import { setBackend } from '../../lib';
import type { ChildEvent } from './child_runner';
import { formatNamed } from './formats';
import { Rng } from './mutate';

const [formatName, first, count, samplesDir, workDir] = process.argv.slice(2);
const format = formatNamed(formatName);
setBackend('native');

const report = (e: ChildEvent) => fs.writeSync(3, `${JSON.stringify(e)}\n`);

function describeThrown(e: unknown): { thrown: string; message: string } {
  if (e instanceof Error) return { thrown: e.name, message: e.message };
  return { thrown: `a non-Error ${typeof e}`, message: String(e) };
}

for (let index = Number(first); index < Number(count); index++) {
  const caseDir = path.join(workDir, `case-${index}`);
  fs.mkdirSync(caseDir, { recursive: true });
  const c = format.makeCase(Rng.of(format.name, index), samplesDir, caseDir);
  report({ event: 'start', index, what: c.what, file: c.file });
  const t0 = Date.now();
  try {
    c.load();
    report({ event: 'end', index, outcome: 'loaded', message: '', ms: Date.now() - t0 });
  } catch (e) {
    report({ event: 'end', index, outcome: 'threw', ...describeThrown(e), ms: Date.now() - t0 });
  }
  fs.rmSync(path.join(workDir), { recursive: true, force: true });
  fs.mkdirSync(workDir, { recursive: true });
}
