/**
 * A progress bar on stderr: step / total, loss, tokens per second and the time left. On a terminal it
 * redraws one line; otherwise (a log file, CI) it prints plain lines, one per update, so logs stay readable.
 */

export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressUpdate {
  step: number;
  loss: number;
  /** Tokens processed since this run began. */
  tokens: number;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const two = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${two(m)}:${two(r)}` : `${m}:${two(r)}`;
}

export class ProgressBar {
  private readonly start: number;
  private startStep: number | null = null;
  private drawn = false;

  constructor(private readonly stream: ProgressStream, private readonly total: number, private readonly now: () => number = () => Date.now()) {
    this.start = now();
  }

  /** The line for an update (without a line break). */
  line(u: ProgressUpdate): string {
    if (this.startStep === null) this.startStep = u.step - 1;
    const elapsed = (this.now() - this.start) / 1000;
    const done = u.step - this.startStep;
    const rate = elapsed > 0 ? u.tokens / elapsed : 0;
    const eta = done > 0 ? (elapsed / done) * (this.total - u.step) : NaN;
    const frac = this.total > 0 ? Math.min(1, u.step / this.total) : 1;
    const width = 24;
    const filled = Math.round(frac * width);
    const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
    return `[${bar}] ${u.step}/${this.total} loss ${u.loss.toFixed(4)} | ${rate >= 1000 ? `${(rate / 1000).toFixed(1)}k` : rate.toFixed(0)} tok/s | ETA ${formatDuration(eta)}`;
  }

  update(u: ProgressUpdate): void {
    const text = this.line(u);
    if (this.stream.isTTY) {
      this.stream.write(`\r${text}\x1b[K`);
      this.drawn = true;
    } else this.stream.write(`${text}\n`);
  }

  /** A message on its own line (an evaluation), keeping the bar below it on a terminal. */
  message(text: string): void {
    if (this.stream.isTTY && this.drawn) this.stream.write(`\r\x1b[K${text}\n`);
    else this.stream.write(`${text}\n`);
    this.drawn = false;
  }

  finish(): void {
    if (this.stream.isTTY && this.drawn) this.stream.write('\n');
    this.drawn = false;
  }
}
