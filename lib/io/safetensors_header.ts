/**
 * The safetensors header: 8 bytes little-endian N, N bytes of JSON
 * {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}, then the
 * byte buffer. parseHeader checks every rule of the format, so that the readers after it can trust
 * each entry: a known dtype, a shape of non-negative integers, (end - begin) = elements x dtype size,
 * and entries that tile the byte buffer exactly (sorted by offset, from 0 to the end of the file).
 */
import { readExact, setOwn } from './binary';
import { FileFormatError } from './errors';
import { DTYPE_SIZE, isSafetensorsDtype, SAFETENSORS_DTYPES, type SafetensorsDtype } from './safetensors_dtypes';

export const FORMAT = 'safetensors';

/** Hugging Face's reader refuses larger headers (100 MB); so do we, before allocating one. */
export const MAX_HEADER_BYTES = 100_000_000;

export interface TensorEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** [begin, end) relative to the start of the byte buffer. */
  dataOffsets: [number, number];
}

export interface SafetensorsHeader {
  /** Byte position of the byte buffer in the file (8 + N). */
  dataStart: number;
  /** Entries in file order (by offsets). */
  entries: TensorEntry[];
  byName: Map<string, TensorEntry>;
  metadata: Record<string, string>;
}

function describe(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function parseEntry(name: string, raw: unknown, fail: (problem: string) => never): TensorEntry {
  const where = `tensor ${JSON.stringify(name)}`;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(`${where}: entry must be an object, got ${describe(raw)}`);
  const e = raw as Record<string, unknown>;
  for (const key of ['dtype', 'shape', 'data_offsets'])
    if (!(key in e)) fail(`${where}: entry has no "${key}"`);
  if (!isSafetensorsDtype(e.dtype)) fail(`${where}: unknown dtype ${describe(e.dtype)} (known: ${SAFETENSORS_DTYPES.join(', ')})`);
  const shape = e.shape;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
    fail(`${where}: shape must be an array of non-negative integers, got ${describe(shape)}`);
  const offsets = e.data_offsets;
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1])
    fail(`${where}: data_offsets must be [begin, end] with integers 0 <= begin <= end, got ${describe(offsets)}`);
  const dtype = e.dtype;
  let elements = 1;
  for (const d of shape as number[]) elements *= d;
  const need = elements * DTYPE_SIZE[dtype];
  const [begin, end] = offsets as [number, number];
  if (!Number.isSafeInteger(need) || end - begin !== need)
    fail(`${where}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes but shape [${(shape as number[]).join(', ')}] of ${dtype} needs ${need}`);
  return { name, dtype, shape: [...(shape as number[])], dataOffsets: [begin, end] };
}

function parseMetadata(raw: unknown, fail: (problem: string) => never): Record<string, string> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(`"__metadata__" must be an object of strings, got ${describe(raw)}`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof v !== 'string') fail(`"__metadata__" values must be strings; ${JSON.stringify(k)} holds ${describe(v)}`);
    setOwn(out, k, v);
  }
  return out;
}

/** Sorted by offsets, each entry must begin where the previous one ended; the last ends at the file's end. */
function checkTiling(entries: TensorEntry[], dataBytes: number, fail: (problem: string) => never): void {
  let pos = 0;
  let previous: TensorEntry | null = null;
  for (const e of entries) {
    const [begin, end] = e.dataOffsets;
    const after = previous === null ? 'the start of the byte buffer' : `tensor ${JSON.stringify(previous.name)} ending at byte ${pos}`;
    if (begin < pos) fail(`tensor ${JSON.stringify(e.name)}: data_offsets [${begin}, ${end}] overlap ${after}`);
    if (begin > pos) fail(`tensor ${JSON.stringify(e.name)}: data_offsets [${begin}, ${end}] leave a gap of ${begin - pos} bytes after ${after}`);
    pos = end;
    previous = e;
  }
  if (pos > dataBytes)
    fail(`truncated: the tensors need ${pos} bytes after the header but the file has ${dataBytes} (tensor ${JSON.stringify(previous!.name)} ends at byte ${pos})`);
  if (pos < dataBytes)
    fail(`${dataBytes - pos} bytes after the last tensor (byte ${pos} of the ${dataBytes}-byte buffer) belong to no tensor`);
}

/** Parses and validates the header JSON, given the size of the byte buffer that follows it. */
export function parseHeader(file: string, json: Uint8Array, dataStart: number, dataBytes: number): SafetensorsHeader {
  const fail = (problem: string): never => {
    throw new FileFormatError(FORMAT, file, problem);
  };
  // TextDecoder would drop a byte order mark silently; Hugging Face's reader (serde_json) refuses one.
  if (json[0] === 0xef && json[1] === 0xbb && json[2] === 0xbf) fail('header must start with "{", got a UTF-8 byte order mark (EF BB BF)');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(json);
  } catch {
    return fail('header is not valid UTF-8');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    return fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    fail(`header must be a JSON object, got ${describe(parsed)}`);
  let metadata: Record<string, string> = {};
  const entries: TensorEntry[] = [];
  for (const [name, raw] of Object.entries(parsed as Record<string, unknown>)) {
    if (name === '__metadata__') metadata = parseMetadata(raw, fail);
    else entries.push(parseEntry(name, raw, fail));
  }
  // Hugging Face sorts by (begin, end) too; zero-byte tensors may share an offset in any order.
  entries.sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  checkTiling(entries, dataBytes, fail);
  return { dataStart, entries, byName: new Map(entries.map((e) => [e.name, e])), metadata };
}

/** Reads and validates the header of an open file of `fileSize` bytes. */
export function readHeader(fd: number, file: string, fileSize: number): SafetensorsHeader {
  if (fileSize < 8) throw new FileFormatError(FORMAT, file, `file is ${fileSize} bytes, shorter than the 8-byte header length`);
  const prefix = new Uint8Array(8);
  readExact(fd, prefix, 0, FORMAT, file);
  const n = new DataView(prefix.buffer).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES))
    throw new FileFormatError(FORMAT, file, `header length ${n} is over the ${MAX_HEADER_BYTES}-byte limit${n > BigInt(fileSize) ? ` and past the end of the ${fileSize}-byte file` : ''}`);
  const headerBytes = Number(n);
  if (8 + headerBytes > fileSize)
    throw new FileFormatError(FORMAT, file, `header length ${headerBytes} runs past the end of the file (8 + ${headerBytes} > ${fileSize} bytes)`);
  const json = new Uint8Array(headerBytes);
  readExact(fd, json, 8, FORMAT, file);
  return parseHeader(file, json, 8 + headerBytes, fileSize - 8 - headerBytes);
}
