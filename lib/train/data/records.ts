/**
 * Reading a data file into raw examples (text, optional label, the line each came from): JSONL (one JSON
 * object per line), CSV (a header row, then records; columns chosen by name) or plain text (one example per
 * non-empty line, or the whole file as one text to be cut into blocks later). The format comes from the
 * extension unless given.
 */
import * as fs from 'fs';
import * as path from 'path';
import { parseCsv } from './csv';
import { BadRows, type BadRowPolicy, type SkippedRow } from './data_error';

export type DataFormat = 'jsonl' | 'csv' | 'text';

export interface RawExample {
  text: string;
  /** As found in the file: a number, or a string (a class name, or digits from a CSV cell). */
  label?: number | string;
  /** 1-based line of the file the example starts on. */
  line: number;
}

export interface ReadRecordsOptions {
  format?: DataFormat;
  /** The field (JSONL) or column (CSV) holding the text. Default 'text'. */
  textField?: string;
  /** The field or column holding the label; required when withLabels. Default 'label'. */
  labelField?: string;
  /** Read labels too (classification). Default false. */
  withLabels?: boolean;
  /** Plain text: 'lines' (one example per non-empty line, default) or 'whole' (the file as one example). */
  textMode?: 'lines' | 'whole';
  /** What a bad row does. Default 'error'. */
  badRows?: BadRowPolicy;
}

export interface ReadRecordsResult {
  examples: RawExample[];
  skipped: SkippedRow[];
}

export function formatOf(file: string): DataFormat {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  if (ext === '.csv') return 'csv';
  if (ext === '.txt' || ext === '.text' || ext === '') return 'text';
  throw new Error(`reading ${file}: cannot tell the format from '${ext}' (expected .jsonl, .csv or .txt; or pass format)`);
}

/** Reads a data file; errors name it by the path given. */
export function readRecords(file: string, opts: ReadRecordsOptions = {}): ReadRecordsResult {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`reading ${file}: ${(e as Error).message}`);
  }
  return parseRecords(text, file, opts);
}

/** parseRecords: readRecords on text already in memory (`file` names it in errors). */
export function parseRecords(text: string, file: string, opts: ReadRecordsOptions = {}): ReadRecordsResult {
  const format = opts.format ?? formatOf(file);
  if (format !== 'jsonl' && format !== 'csv' && format !== 'text') throw new RangeError(`reading ${file}: unknown format ${JSON.stringify(format)} (expected 'jsonl', 'csv' or 'text')`);
  const bad = new BadRows(file, opts.badRows ?? 'error');
  const examples = format === 'jsonl' ? fromJsonl(text, bad, opts) : format === 'csv' ? fromCsv(text, file, bad, opts) : fromText(text, opts);
  return { examples, skipped: bad.skipped };
}

function fromJsonl(text: string, bad: BadRows, opts: ReadRecordsOptions): RawExample[] {
  const textField = opts.textField ?? 'text', labelField = opts.labelField ?? 'label';
  const out: RawExample[] = [];
  const lines = text.split('\n');
  lines.forEach((raw, k) => {
    const line = k + 1;
    const src = (k === 0 ? raw.replace(/^\ufeff/, '') : raw).replace(/\r$/, '');
    if (src.trim() === '') return;
    let row: unknown;
    try {
      row = JSON.parse(src);
    } catch (e) {
      bad.report(line, `not valid JSON (${(e as Error).message})`);
      return;
    }
    if (typeof row !== 'object' || row === null || Array.isArray(row)) {
      bad.report(line, `expected a JSON object, got ${Array.isArray(row) ? 'an array' : JSON.stringify(row)}`);
      return;
    }
    const obj = row as Record<string, unknown>;
    if (!(textField in obj)) return bad.report(line, `missing field ${JSON.stringify(textField)}`);
    if (typeof obj[textField] !== 'string') return bad.report(line, `field ${JSON.stringify(textField)} must be a string, got ${JSON.stringify(obj[textField])}`);
    const ex: RawExample = { text: obj[textField] as string, line };
    if (opts.withLabels) {
      if (!(labelField in obj)) return bad.report(line, `missing field ${JSON.stringify(labelField)}`);
      const label = obj[labelField];
      if (typeof label !== 'string' && typeof label !== 'number') return bad.report(line, `field ${JSON.stringify(labelField)} must be a number or a string, got ${JSON.stringify(label)}`);
      ex.label = label;
    }
    out.push(ex);
  });
  return out;
}

function fromCsv(text: string, file: string, bad: BadRows, opts: ReadRecordsOptions): RawExample[] {
  const records = parseCsv(text, file);
  if (records.length === 0) throw new Error(`${file}: empty CSV (expected a header row)`);
  const [header, ...rows] = records;
  if (header.problem) throw new Error(`${file}:${header.line}: bad header row: ${header.problem}`);
  const column = (name: string) => {
    const c = header.fields.indexOf(name);
    if (c < 0) throw new Error(`${file}:${header.line}: no column ${JSON.stringify(name)} in the header (columns: ${header.fields.map((f) => JSON.stringify(f)).join(', ')})`);
    return c;
  };
  const textCol = column(opts.textField ?? 'text');
  const labelCol = opts.withLabels ? column(opts.labelField ?? 'label') : -1;
  const out: RawExample[] = [];
  for (const r of rows) {
    if (r.problem) {
      bad.report(r.line, r.problem);
      continue;
    }
    if (r.fields.length !== header.fields.length) {
      bad.report(r.line, `expected ${header.fields.length} fields (as the header), got ${r.fields.length}`);
      continue;
    }
    const ex: RawExample = { text: r.fields[textCol], line: r.line };
    if (labelCol >= 0) {
      if (r.fields[labelCol].trim() === '') {
        bad.report(r.line, `empty ${JSON.stringify(header.fields[labelCol])}`);
        continue;
      }
      ex.label = r.fields[labelCol];
    }
    out.push(ex);
  }
  return out;
}

function fromText(text: string, opts: ReadRecordsOptions): RawExample[] {
  const body = text.replace(/^\ufeff/, '');
  if ((opts.textMode ?? 'lines') === 'whole') return body === '' ? [] : [{ text: body, line: 1 }];
  const out: RawExample[] = [];
  body.split('\n').forEach((raw, k) => {
    const t = raw.replace(/\r$/, '');
    if (t.trim() !== '') out.push({ text: t, line: k + 1 });
  });
  return out;
}
