/**
 * Checkpoint folders written atomically: the contents go into a hidden temporary folder beside the target,
 * every file and the folder are fsynced, and one rename makes `checkpoint-<step>` appear whole. An error
 * (or a crash) mid-write leaves the earlier checkpoints as they were; a crash may leave a hidden temporary
 * folder, which listing ignores. Only the newest `keep` checkpoints are kept.
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
