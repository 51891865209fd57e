/**
 * Temporaries a killed save left behind (`.checkpoint-<step>.<pid>.<hex>.tmp`) are removed by the next save
 * or a resume, but only names of that exact pattern whose writer is gone: a live writer's temporary and
 * anything else in the folder stay.
 */
import { spawn, spawnSync, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { listCheckpoints, removeStaleTemporaries, setBackend, Trainer, type TrainerOptions } from '../../lib';
import { countingData, goldenGpt2, tempDir } from './train_fixtures';

beforeAll(() => setBackend('native'));

/** The pid of a process that has exited (reused by another only in the unlikely case the pids wrap meanwhile). */
const deadPid = () => spawnSync(process.execPath, ['-e', '']).pid;

let live: ChildProcess;
beforeAll(() => {
  live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 600000)'], { stdio: 'ignore' });
});
afterAll(() => live.kill());

/** Makes folder `name` in dir with a file in it, as a save cut short leaves one. */
function leftover(dir: string, name: string): void {
  fs.mkdirSync(path.join(dir, name));
  fs.writeFileSync(path.join(dir, name, 'model.safetensors'), 'partial');
}

/** Stale temporaries, and names that must survive: a live writer's, look-alikes of other patterns, user files. */
function populate(dir: string): { stale: string[]; kept: string[] } {
  const dead = deadPid();
  const stale = [`.checkpoint-4.${dead}.0123456789ab.tmp`, `.checkpoint-12.${dead}.ba9876543210.tmp`];
  const kept = [
    `.checkpoint-4.${live.pid}.0123456789ab.tmp`,  // a concurrent writer, alive: maybe mid-write
    `.checkpoint-4.${dead}.tmp`, `.checkpoint-4.${dead}.0123456789ab.tmp.bak`, `.checkpoint-4.${dead}.0123456789AB.tmp`, `.checkpoint-x.${dead}.0123456789ab.tmp`,
    `.log.jsonl.${dead}.0123456789ab.tmp`, 'notes',
  ];
  for (const name of [...stale, ...kept]) leftover(dir, name);
  return { stale, kept };
}

const plan = (outputDir: string, extra: Partial<TrainerOptions> = {}): TrainerOptions =>
  ({ trainDataset: countingData(4), batchSize: 2, maxSteps: 2, saveSteps: 2, outputDir, lr: 1e-2, progress: false, ...extra });

describe('stale checkpoint temporaries', () => {
  it('the next save removes those of dead writers and keeps the rest', () => {
    const dir = tempDir('stale-save');
    const { stale, kept } = populate(dir);
    new Trainer(goldenGpt2(), plan(dir)).train();
    const names = fs.readdirSync(dir);
    for (const name of stale) expect(names).not.toContain(name);
    for (const name of kept) expect(names).toContain(name);
    expect(listCheckpoints(dir).map((c) => c.step)).toEqual([2]);
  });

  it('a resume removes them, even when it saves nothing more', () => {
    const dir = tempDir('stale-resume');
    new Trainer(goldenGpt2(), plan(dir)).train();
    const { stale, kept } = populate(dir);
    new Trainer(goldenGpt2(), plan(dir, { resumeFromCheckpoint: true })).train();  // at step 2 of 2 already: no step, no save
    const names = fs.readdirSync(dir);
    for (const name of stale) expect(names).not.toContain(name);
    for (const name of kept) expect(names).toContain(name);
  });

  it('a checkpoint moved aside for a rewrite is put back when the kill came before the rewrite was published, else removed', () => {
    const dir = tempDir('stale-aside');
    const dead = deadPid();
    leftover(dir, `.checkpoint-6.${dead}.0123456789ab.tmp.old`);  // checkpoint-6's only copy
    leftover(dir, `.checkpoint-6.${dead}.ba9876543210.tmp`);  // its rewrite, unfinished
    leftover(dir, `.checkpoint-4.${dead}.a1b2c3d4e5f6.tmp.old`);  // checkpoint-4 was rewritten: this copy is stale
    fs.mkdirSync(path.join(dir, 'checkpoint-4'));
    removeStaleTemporaries(dir);
    expect(fs.readdirSync(dir).sort()).toEqual(['checkpoint-4', 'checkpoint-6']);
    expect(fs.readFileSync(path.join(dir, 'checkpoint-6', 'model.safetensors'), 'utf8')).toBe('partial');
  });
});
