/**
 * tfjs-core's own test suite (node_modules/@tensorflow/tfjs-core/dist/tests.js, run with jasmine as
 * tfjs-backend-cpu runs it) on the 'cpu' and 'peftjs' backends in one run, in a child process
 * (test/tfjs/core_suite_runner.js): every test that passes on 'cpu' passes on 'peftjs'.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/** Tests that run on 'cpu' and not on 'peftjs', each with its reason. */
const EXCLUDED: Record<string, string> = {
  // describeWithFlags('Switching cpu backends', {predicate: testEnv => testEnv.backendName === 'cpu'}):
  // registers 'cpu1'/'cpu2' as fresh MathBackendCPUs; tfjs itself registers it for the 'cpu' env only.
  'Switching cpu backends peftjs {} Move data from cpu1 to cpu2 backend': 'registered by tfjs-core for the cpu test env only',
  'Switching cpu backends peftjs {} can execute op with data from mixed backends': 'registered by tfjs-core for the cpu test env only',
};

interface SpecResult { name: string; status: string; message?: string }

describe('tfjs-core test suite on the peftjs backend', () => {
  it('passes every test that passes on cpu', () => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'peftjs-tfjs-suite-')), 'results.json');
    const run = spawnSync(process.execPath, [path.join(__dirname, 'core_suite_runner.js'), out, 'cpu,peftjs'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20, timeout: 600_000 });
    if (run.status !== 0) throw new Error(`the suite runner exited with ${run.status ?? run.signal}:\n${run.stderr.slice(-4000)}`);
    const { results } = JSON.parse(fs.readFileSync(out, 'utf8')) as { results: SpecResult[] };
    const status = new Map<string, string>();
    for (const r of results) if (status.get(r.name) !== 'failed') status.set(r.name, r.status);
    const cpuPassing = [...status].filter(([n, s]) => n.includes(' cpu {') && s === 'passed').map(([n]) => n);
    const failures: string[] = [];
    let checked = 0;
    for (const name of cpuPassing) {
      const mine = name.replace(' cpu {', ' peftjs {');
      if (EXCLUDED[mine]) continue;
      checked++;
      const s = status.get(mine);
      if (s !== 'passed') failures.push(`${mine}: ${s ?? 'did not run'} ${results.find((r) => r.name === mine && r.status === 'failed')?.message ?? ''}`);
    }
    expect(cpuPassing.length).toBeGreaterThan(3000);  // the suite ran whole
    expect(checked).toBe(cpuPassing.length - Object.keys(EXCLUDED).length);
    expect(failures).toEqual([]);
  }, 600_000);
});
