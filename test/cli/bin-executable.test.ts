/**
 * The built CLI is executable: tsc writes new files 0644, so `npm run build` (and `prepare`, which npm runs
 * on install) end by making package.json's bin 0755, without which a linked `npx peftjs` fails with
 * "Permission denied". The step runs here on a throwaway package; the bin starts with a node shebang.
 */
import { execSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const ROOT = path.join(__dirname, '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));

describe('the peftjs bin', () => {
  it('starts with #!/usr/bin/env node (tsc keeps it in dist/)', () => {
    expect(pkg.bin.peftjs).toBe('dist/lib/cli/main.js');
    expect(fs.readFileSync(path.join(ROOT, 'lib', 'cli', 'main.ts'), 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
  });

  it('build runs tsc, then the step that makes the bin executable; prepare runs build', () => {
    const [tsc, step] = pkg.scripts.build.split(' && ');
    expect(tsc).toBe('tsc -p tsconfig.json');
    expect(step).toBe('node scripts/executable-bin.js');
    expect(pkg.scripts.prepare).toBe('npm run build');
  });

  it("that step leaves every bin of a package 0755 (run from the package root, as npm runs scripts)", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peftjs-bin-'));
    try {
      fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'x', bin: { a: 'out/a.js', b: 'b.js' } }));
      fs.mkdirSync(path.join(dir, 'out'));
      for (const f of ['out/a.js', 'b.js']) fs.writeFileSync(path.join(dir, f), '#!/usr/bin/env node\n', { mode: 0o644 });
      execSync(`node ${path.join(ROOT, 'scripts', 'executable-bin.js')}`, { cwd: dir });
      for (const f of ['out/a.js', 'b.js']) expect([f, fs.statSync(path.join(dir, f)).mode & 0o777]).toEqual([f, 0o755]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  // dist/ when built here by npm run build (a bare `npx tsc` leaves a first build 0644).
  const built = path.join(ROOT, pkg.bin.peftjs);
  (fs.existsSync(built) && (fs.statSync(built).mode & 0o111) !== 0 ? it : it.skip)('dist/lib/cli/main.js runs as a program', () => {
    expect(execSync(`${built} --help`, { encoding: 'utf8' })).toMatch(/^usage: peftjs <command>/);
  });
});
