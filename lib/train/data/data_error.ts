/**
 * Bad rows in a data file: each is named by file and line (`data.jsonl:17: missing field "label"`). The
 * caller chooses whether the first one is an error or every one is skipped and reported.
 */

export class DataError extends Error {
  constructor(readonly file: string, readonly line: number, readonly problem: string) {
    super(`${file}:${line}: ${problem}`);
    this.name = 'DataError';
  }
}

export interface SkippedRow {
  file: string;
  line: number;
  problem: string;
}

/** 'error': throw a DataError at the first bad row; 'skip': leave it out and list it in `skipped`. */
export type BadRowPolicy = 'error' | 'skip';

/** Applies a policy: collects bad rows or throws the first. */
export class BadRows {
  readonly skipped: SkippedRow[] = [];
  constructor(readonly file: string, readonly policy: BadRowPolicy = 'error') {
    if (policy !== 'error' && policy !== 'skip') throw new RangeError(`badRows must be 'error' or 'skip', got ${JSON.stringify(policy)}`);
  }

  report(line: number, problem: string): void {
    if (this.policy === 'error') throw new DataError(this.file, line, problem);
    this.skipped.push({ file: this.file, line, problem });
  }
}
