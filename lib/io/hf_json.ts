/**
 * JSON files the way Hugging Face writes and reads them. Reading: a parse error becomes a
 * FileFormatError naming the file and the line, column and offset where parsing stopped. Writing:
 * Python's json.dumps(value, indent=2, sort_keys=True) + "\n" (what transformers uses for config.json
 * and model.safetensors.index.json), so files we write diff cleanly against files Python writes.
 */
import * as fs from 'fs';
import { FileFormatError } from './errors';
import { jsonErrorOffset } from './json_error_position';

/** Where character `offset` of `text` sits, 1-based, as an editor shows it. */
function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/** Parses `text` read from `file`; an error names the line, column and offset where the JSON goes wrong. */
export function parseJsonText(text: string, format: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const message = (e as Error).message;
    const found = jsonErrorOffset(text);
    const offset = found >= 0 ? found : text.length;
    const { line, column } = lineColumn(text, offset);
    throw new FileFormatError(format, file, `is not valid JSON at line ${line} column ${column} (character ${offset}): ${message}`);
  }
}

/** Reads and parses a JSON file; a missing file says which path was tried. */
export function readJsonFile(file: string, format: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`${format} file ${file}: cannot read: ${(e as Error).message}`);
  }
  // A UTF-8 byte order mark is tolerated (Python's json.load is not, but editors on Windows add one).
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  return parseJsonText(text, format, file);
}

/** Python's str order: by code point (JS's default sort compares UTF-16 units; they differ past U+FFFF). */
export function compareCodePoints(a: string, b: string): number {
  const x = Array.from(a), y = Array.from(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i].codePointAt(0)! - y[i].codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

function sortKeysDeep(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeysDeep);
  if (typeof v !== 'object' || v === null) return v;
  if (typeof (v as { toJSON?: unknown }).toJSON === 'function') return v;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v).sort(compareCodePoints))
    Object.defineProperty(out, k, { value: sortKeysDeep((v as Record<string, unknown>)[k]), enumerable: true });
  return out;
}

/**
 * json.dumps(value, indent=2, sort_keys=True) + "\n": keys sorted at every level, two-space indent,
 * non-ASCII escaped as \uXXXX (Python's ensure_ascii). Numbers are written as JavaScript writes them
 * (1e-5 as 0.00001, 1.0 as 1): the values are the same, the spelling may differ from Python's.
 * Numbers JSON cannot hold (NaN, Infinity), bigints and functions are refused rather than silently
 * written as null; undefined object values are left out, as JSON.stringify does.
 */
export function hfJsonString(value: unknown, what: string): string {
  const json = JSON.stringify(sortKeysDeep(value), (key, v) => {
    if (typeof v === 'number' && !Number.isFinite(v)) throw new TypeError(`${what}: ${JSON.stringify(key)} is ${v}, which JSON cannot hold`);
    if (typeof v === 'bigint') throw new TypeError(`${what}: ${JSON.stringify(key)} is a bigint, which JSON cannot hold`);
    if (typeof v === 'function' || typeof v === 'symbol') throw new TypeError(`${what}: ${JSON.stringify(key)} is a ${typeof v}, which JSON cannot hold`);
    return v;
  }, 2);
  if (json === undefined) throw new TypeError(`${what}: nothing JSON can hold`);
  return json.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) + '\n';
}
