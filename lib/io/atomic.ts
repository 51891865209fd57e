/**
 * Atomic file replacement: write a temporary file in the same folder, fsync it, rename it over the
 * target, fsync the folder. A crash or an error mid-write leaves the old file (or none) and no
 * half-written one; rename within one folder is atomic on POSIX filesystems and NTFS.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

/** The temporary name: hidden, in the target's folder (rename across filesystems is not atomic). */
export function tempPathFor(target: string): string {
  const dir = path.dirname(path.resolve(target));
  return path.join(dir, `.${path.basename(target)}.${process.pid}.${crypto.randomBytes(6).toString('hex')}.tmp`);
}

function fsyncFolder(dir: string): void {
  // Makes the rename itself durable; not possible on every platform (Windows), where it is skipped.
  let fd: number | null = null;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    /* best effort */
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}

/** Runs write(fd) on a fresh temporary file and, only if it returns, moves the file to `target`. */
export function writeFileAtomic(target: string, write: (fd: number) => void): void {
  const temp = tempPathFor(target);
  let fd: number | null = fs.openSync(temp, 'wx');
  let renamed = false;
  try {
    write(fd);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = null;
    fs.renameSync(temp, target);
    renamed = true;
  } finally {
    if (fd !== null) fs.closeSync(fd);
    if (!renamed) {
      try {
        fs.unlinkSync(temp);
      } catch {
        /* already gone */
      }
    }
  }
  fsyncFolder(path.dirname(path.resolve(target)));
}
