/**
 * The training log: one JSON object per line, for each logged step ({step, epoch, loss, lr, ...}) and each
 * evaluation ({step, epoch, eval_loss, ...}). Resuming keeps the entries up to the checkpoint's step and
 * drops those a crashed run wrote after it, so the log reads as one uninterrupted run.
 */
import * as fs from 'fs';
import { writeFileAtomic } from '../io/atomic';

export interface LogEntry {
  step: number;
  epoch: number;
  [key: string]: number | string | null;
}

export class TrainLog {
  readonly entries: LogEntry[] = [];

  /** file: where to append (null: keep the entries in memory only). */
  constructor(readonly file: string | null) {}

  /** Starts a fresh log (truncating the file). */
  reset(): void {
    this.entries.length = 0;
    if (this.file) writeFileAtomic(this.file, () => undefined);
  }

  /** Reads the file's entries up to and including `step` and rewrites the file with only them. */
  resumeAt(step: number): void {
    this.entries.length = 0;
    if (!this.file || !fs.existsSync(this.file)) return this.reset();
    const lines = fs.readFileSync(this.file, 'utf8').split('\n');
    for (const line of lines) {
      if (line.trim() === '') continue;
      let e: LogEntry;
      try {
        e = JSON.parse(line);
      } catch {
        break;  // a line cut short by a crash: nothing after it can be trusted
      }
      if (typeof e.step === 'number' && e.step <= step) this.entries.push(e);
    }
    const text = this.entries.map((e) => JSON.stringify(e) + '\n').join('');
    writeFileAtomic(this.file, (fd) => fs.writeSync(fd, text));
  }

  append(e: LogEntry): void {
    this.entries.push(e);
    if (this.file) fs.appendFileSync(this.file, JSON.stringify(e) + '\n');
  }
}
