/**
 * Checkpoint folders written atomically: the contents go into a hidden temporary folder beside the target,
 * every file and the folder are fsynced, and one rename makes `checkpoint-<step>` appear whole. An error
 * (or a crash) mid-write leaves the earlier checkpoints as they were; a crash may leave a hidden temporary
 * folder, which listing ignores and the next save (or a resume) removes. Only the newest `keep` checkpoints
 * are kept.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

export const CHECKPOINT_PREFIX = 'checkpoint-';

export interface CheckpointRef {
  step: number;
  dir: string;
}

function fsyncPath(p: string): void {
  let fd: number | null = null;
  try {
    fd = fs.openSync(p, 'r');
    fs.fsyncSync(fd);
  } catch {
    /* folders cannot be fsynced everywhere (Windows): best effort */
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}

function fsyncTree(dir: string): void {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) fsyncTree(p);
    else fsyncPath(p);
  }
  fsyncPath(dir);
}

/**
 * writeCheckpointFolder's temporaries: `.checkpoint-<step>.<pid>.<12 hex>.tmp` while a checkpoint is written,
 * and the same with `.old` appended for a checkpoint moved aside to be rewritten.
 */
const TEMPORARY = /^\.checkpoint-(\d+)\.(\d+)\.[0-9a-f]{12}\.tmp(\.old)?$/;

/** Whether a process with this id may run: signal 0 only checks, and only ESRCH (no such process) says no. */
function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Removes the temporaries that writers killed mid-save (SIGKILL, a power cut) left in outputDir. Only names of
 * writeCheckpointFolder's exact pattern are touched, and only those whose writer's pid (in the name) no
 * longer runs. The pid rather than the age decides because a temporary of a live writer may be mid-write
 * however old it is, while one of a dead writer will never be finished; this process's own pid always
 * runs, so its own saves are never touched. A dead writer's pid reused by another process only delays the
 * removal to a later save. (A writer in another pid namespace, a container sharing the folder, is not
 * seen; two runs saving into one folder would overwrite each other's checkpoints anyway.)
 * A `.old` temporary whose checkpoint is missing is that step's only copy (the kill came between moving it
 * aside and publishing its rewrite): it is put back rather than removed.
 */
export function removeStaleTemporaries(outputDir: string): void {
  if (!fs.existsSync(outputDir)) return;
  for (const name of fs.readdirSync(outputDir)) {
    const m = TEMPORARY.exec(name);
    if (!m || processRuns(Number(m[2]))) continue;
    const temp = path.join(outputDir, name), target = path.join(outputDir, `${CHECKPOINT_PREFIX}${m[1]}`);
    if (m[3] !== undefined && !fs.existsSync(target)) fs.renameSync(temp, target);
    else fs.rmSync(temp, { recursive: true, force: true });
  }
}

/** The checkpoints in outputDir, oldest first. */
export function listCheckpoints(outputDir: string): CheckpointRef[] {
  if (!fs.existsSync(outputDir)) return [];
  const out: CheckpointRef[] = [];
  for (const e of fs.readdirSync(outputDir, { withFileTypes: true })) {
    const m = /^checkpoint-(\d+)$/.exec(e.name);
    if (m && e.isDirectory()) out.push({ step: Number(m[1]), dir: path.join(outputDir, e.name) });
  }
  return out.sort((a, b) => a.step - b.step);
}

export function latestCheckpoint(outputDir: string): CheckpointRef | null {
  const all = listCheckpoints(outputDir);
  return all.length > 0 ? all[all.length - 1] : null;
}

/**
 * Writes `checkpoint-<step>` in outputDir with write(tempDir) filling the folder, atomically; then removes
 * all but the newest `keep` checkpoints (keep undefined or 0: keep all). Returns the checkpoint's path.
 */
export function writeCheckpointFolder(outputDir: string, step: number, write: (dir: string) => void, keep?: number): string {
  if (!Number.isInteger(step) || step < 0) throw new RangeError(`writeCheckpointFolder: step must be a non-negative integer, got ${step}`);
  fs.mkdirSync(outputDir, { recursive: true });
  removeStaleTemporaries(outputDir);
  const target = path.join(outputDir, `${CHECKPOINT_PREFIX}${step}`);
  const temp = path.join(outputDir, `.${CHECKPOINT_PREFIX}${step}.${process.pid}.${crypto.randomBytes(6).toString('hex')}.tmp`);
  fs.mkdirSync(temp);
  try {
    write(temp);
    fsyncTree(temp);
    if (fs.existsSync(target)) {
      // Rewriting a step (a rerun over the same folder): move the old one aside first, then drop it.
      const old = `${temp}.old`;
      fs.renameSync(target, old);
      fs.renameSync(temp, target);
      fs.rmSync(old, { recursive: true, force: true });
    } else fs.renameSync(temp, target);
  } catch (e) {
    fs.rmSync(temp, { recursive: true, force: true });
    throw e;
  }
  fsyncPath(outputDir);
  if (keep !== undefined && keep > 0) {
    const all = listCheckpoints(outputDir);
    for (const c of all.slice(0, Math.max(0, all.length - keep))) fs.rmSync(c.dir, { recursive: true, force: true });
  }
  return target;
}
