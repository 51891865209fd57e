/** peftjs/train/data: data files (JSONL, CSV, text) to tokenized examples, shuffling, padded batches. */
export { DataError, BadRows } from './data_error';
export type { BadRowPolicy, SkippedRow } from './data_error';
export { parseCsv } from './csv';
export type { CsvRecord } from './csv';
export { readRecords, parseRecords, formatOf } from './records';
export type { DataFormat, RawExample, ReadRecordsOptions, ReadRecordsResult } from './records';
export { assignLabels } from './labels';
export type { LabelledExample, LabelResult } from './labels';
export { tokenizeClassification, tokenizeCausalLM, tokenizeBlocks } from './tokenize';
export type { TokenizedExample, TokenizeOptions } from './tokenize';
export { ShuffleRng } from './shuffle';
export { collate } from './collate';
export type { Batch, TaskKind } from './collate';
export { loadClassificationDataset, loadCausalLMDataset } from './dataset';
export type { CausalLMDatasetOptions, ClassificationDatasetOptions, Dataset, DatasetOptions } from './dataset';
