/**
 * One call from a data file to tokenized examples: read (JSONL, CSV or text), check the rows (bad ones are
 * an error or skipped and reported, by option), assign class ids, tokenize and truncate.
 */
import type { Tokenizer } from '../../io/tokenizer';
import type { BadRowPolicy, SkippedRow } from './data_error';
import { assignLabels } from './labels';
import { readRecords, type DataFormat } from './records';
import { tokenizeBlocks, tokenizeCausalLM, tokenizeClassification, type TokenizedExample } from './tokenize';

export interface DatasetOptions {
  format?: DataFormat;
  textField?: string;
  /** Truncation length (block length for 'blocks'). */
  maxLength: number;
  badRows?: BadRowPolicy;
  bos?: boolean;
  eos?: boolean;
}

export interface ClassificationDatasetOptions extends DatasetOptions {
  labelField?: string;
  /** Class names by id; without, integer labels are ids and names get ids in sorted order. */
  labelNames?: string[];
}

export interface CausalLMDatasetOptions extends DatasetOptions {
  /** 'examples': one example per record (line of a text file); 'blocks': the whole text cut into maxLength blocks. */
  grouping?: 'examples' | 'blocks';
}

export interface Dataset {
  examples: TokenizedExample[];
  skipped: SkippedRow[];
  /** Classification: names by id when the labels were names. */
  labelNames?: string[] | null;
}

export function loadClassificationDataset(file: string, tokenizer: Tokenizer, opts: ClassificationDatasetOptions): Dataset {
  const raw = readRecords(file, { format: opts.format, textField: opts.textField, labelField: opts.labelField, withLabels: true, badRows: opts.badRows });
  const labelled = assignLabels(raw.examples, file, { labelNames: opts.labelNames, badRows: opts.badRows });
  return {
    examples: tokenizeClassification(labelled.examples, tokenizer, opts),
    skipped: [...raw.skipped, ...labelled.skipped].sort((a, b) => a.line - b.line),
    labelNames: labelled.labelNames,
  };
}

export function loadCausalLMDataset(file: string, tokenizer: Tokenizer, opts: CausalLMDatasetOptions): Dataset {
  const grouping = opts.grouping ?? 'examples';
  if (grouping !== 'examples' && grouping !== 'blocks') throw new RangeError(`loadCausalLMDataset: grouping must be 'examples' or 'blocks', got ${JSON.stringify(grouping)}`);
  const raw = readRecords(file, { format: opts.format, textField: opts.textField, badRows: opts.badRows, textMode: grouping === 'blocks' ? 'whole' : 'lines' });
  const examples = grouping === 'blocks' ? tokenizeBlocks(raw.examples, tokenizer, opts) : tokenizeCausalLM(raw.examples, tokenizer, opts);
  return { examples, skipped: raw.skipped };
}
