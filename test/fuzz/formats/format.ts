/** What the fuzzer needs of a file format: valid samples to start from, and cases made from them. */
import * as fs from 'fs';
import * as path from 'path';
import type { Rng } from '../mutate';

export interface FuzzCase {
  /** The mutation, for the report. */
  what: string;
  /** The mutated file: a thrown error must name it. */
  file: string;
  /** Loads the case's files and checks what came back; throws InvalidResult when the loader returned garbage. */
  load: () => void;
}

export interface FuzzFormat {
  name: string;
  /**
   * The cases are folders of files that must agree (an adapter's config and weights): an error may
   * name the folder, or the other file of a mismatch, rather than the file that was broken.
   */
  folder?: boolean;
  /**
   * Writes the valid samples into dir (in the test process, once a run). Returns notes for the log,
   * such as a sample skipped because ../shared is absent.
   */
  makeSamples(dir: string): string[];
  /** Case files in caseDir (empty), made from the samples in samplesDir with rng's choices. */
  makeCase(rng: Rng, samplesDir: string, caseDir: string): FuzzCase;
}

/** A loader returned without error but its result breaks the format's guarantees: a bug, not a clean refusal. */
export class InvalidResult extends Error {
  override name = 'InvalidResult';
}

export function check(ok: boolean, problem: string): void {
  if (!ok) throw new InvalidResult(problem);
}

/** The sample folders or files in samplesDir, sorted (so the pick is the same on every machine). */
export function samplesIn(samplesDir: string): string[] {
  return fs.readdirSync(samplesDir).sort().map((n) => path.join(samplesDir, n));
}

/** Copies a sample folder's files into caseDir. */
export function copyFolder(from: string, to: string): void {
  for (const f of fs.readdirSync(from)) fs.copyFileSync(path.join(from, f), path.join(to, f));
}

/** The stories260K files beside the repository (../shared/models/stories260K), or null when they are absent. */
export function sharedStories(): string | null {
  const dir = path.resolve(__dirname, '../../../../shared/models/stories260K');
  return fs.existsSync(path.join(dir, 'stories260K.bin')) ? dir : null;
}
