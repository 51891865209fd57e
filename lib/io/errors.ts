/**
 * FileFormatError: a file that is not what its format says. The message names the file and what is
 * wrong, so a corrupt checkpoint three folders deep is found without a debugger.
 */
export class FileFormatError extends Error {
  /** The path as the caller gave it. */
  readonly file: string;
  /** What is wrong, without the file name. */
  readonly problem: string;

  constructor(format: string, file: string, problem: string) {
    super(`${format} file ${file}: ${problem}`);
    this.name = 'FileFormatError';
    this.file = file;
    this.problem = problem;
  }
}
