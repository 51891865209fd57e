/**
 * How `peftjs compare` shows a method's training while its child process runs: the child forwards each
 * redraw of the Trainer's progress bar as a line on its stdout (see run_method.ts), and this view shows
 * the latest under the method's name. On a terminal it redraws one line, cleared when the method ends so
 * that its result line takes the place; elsewhere (a log file, CI) it prints a line every `everyMs` and
 * the last one, so a log shows the pace without a line per step.
 */
import type { ProgressStream } from '../../train/progress';

export class ChildProgressView {
  private drawn = false;
  /** The newest line not yet printed (not on a terminal). */
  private pending: string | null = null;
  private lastPrinted = -Infinity;

  constructor(private readonly stream: ProgressStream, private readonly label: string, private readonly everyMs = 10_000,
              private readonly now: () => number = () => Date.now()) {}

  /** A line from the child: the bar's text, e.g. `[####----] 120/640 loss 0.4123 | 5.2k tok/s | ETA 0:41`. */
  update(text: string): void {
    let line = `${this.label} ${text}`;
    if (this.stream.isTTY) {
      // A line longer than the terminal wraps, and \r then redraws only its last row.
      if (this.stream.columns) line = line.slice(0, this.stream.columns - 1);
      this.stream.write(`\r${line}\x1b[K`);
      this.drawn = true;
      return;
    }
    this.pending = line;
    if (this.now() - this.lastPrinted >= this.everyMs) this.flush();
  }

  /** The child has exited. */
  end(): void {
    if (this.stream.isTTY) {
      if (this.drawn) this.stream.write('\r\x1b[K');
      this.drawn = false;
    } else this.flush();
  }

  private flush(): void {
    if (this.pending === null) return;
    this.stream.write(`${this.pending}\n`);
    this.pending = null;
    this.lastPrinted = this.now();
  }
}
