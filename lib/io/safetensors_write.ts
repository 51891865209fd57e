/**
 * Writing safetensors files the way Hugging Face's `safetensors` does, so files diff byte for byte:
 * entries sorted by dtype (widest alignment first) then name, compact JSON with "__metadata__" first,
 * the header padded with spaces to a multiple of 8 bytes. Every entry is checked before the file is
 * touched, and the write is atomic (see atomic.ts).
 */
import { Tensor } from '../tensor/tensor';
import { assertLittleEndianHost, writeAll } from './binary';
import { writeFileAtomic } from './atomic';
import { DTYPE_SIZE, encodeValues, isSafetensorsDtype, narrowFloat32, SAFETENSORS_DTYPES, type SafetensorsDtype } from './safetensors_dtypes';

/** What a Tensor is stored as. */
export type SaveDtype = 'F32' | 'F16' | 'BF16';

export interface SaveSafetensorsOptions {
  /** The dtype of Tensor entries (raw entries keep their own). Default 'F32'. */
  dtype?: SaveDtype;
}

/** An entry that is not a Tensor: values in a given dtype (see encodeValues for what `data` may be). */
export interface RawTensorInput {
  dtype: SafetensorsDtype;
  shape: readonly number[];
  data: unknown;
}

interface Planned {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  byteLength: number;
  bytes: () => Uint8Array;
}

function plan(name: string, value: Tensor | RawTensorInput, tensorDtype: SaveDtype): Planned {
  const fail = (problem: string): never => {
    throw new TypeError(`saveSafetensors: tensor ${JSON.stringify(name)}: ${problem}`);
  };
  if (name === '__metadata__') fail('"__metadata__" is reserved for the metadata');
  if (value instanceof Tensor) {
    if (value.isDisposed) fail('was disposed');
    const count = value.size;
    return {
      name, dtype: tensorDtype, shape: [...value.shape], byteLength: count * DTYPE_SIZE[tensorDtype],
      bytes: () => narrowFloat32(tensorDtype, value.toFloat32Array()),
    };
  }
  if (typeof value !== 'object' || value === null) return fail(`expected a Tensor or {dtype, shape, data}, got ${String(value)}`);
  const { dtype, shape, data } = value;
  if (!isSafetensorsDtype(dtype)) fail(`unknown dtype ${JSON.stringify(dtype)} (known: ${SAFETENSORS_DTYPES.join(', ')})`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
    fail(`shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  const count = shape.reduce((a: number, b: number) => a * b, 1);
  let encoded: Uint8Array;
  try {
    encoded = encodeValues(dtype, data, count);
  } catch (e) {
    return fail(`${(e as Error).message} (dtype ${dtype}, shape [${shape.join(', ')}])`);
  }
  return { name, dtype, shape: [...shape], byteLength: encoded.byteLength, bytes: () => encoded };
}

const ALIGNMENT_ORDER = new Map<string, number>(SAFETENSORS_DTYPES.map((d, i) => [d, i]));

/** Hugging Face's order: dtype descending (its enum order), then name by bytes (Rust's str order). */
function hfOrder(a: Planned, b: Planned): number {
  return ALIGNMENT_ORDER.get(b.dtype)! - ALIGNMENT_ORDER.get(a.dtype)! || Buffer.compare(Buffer.from(a.name), Buffer.from(b.name));
}

/** The header bytes (JSON plus space padding) for entries already in file order. */
function headerBytes(entries: Planned[], metadata: Record<string, string> | undefined): Uint8Array {
  const header: Record<string, unknown> = {};
  const put = (k: string, v: unknown) => Object.defineProperty(header, k, { value: v, enumerable: true });
  if (metadata !== undefined) put('__metadata__', metadata);
  let offset = 0;
  for (const e of entries) {
    put(e.name, { dtype: e.dtype, shape: e.shape, data_offsets: [offset, offset + e.byteLength] });
    offset += e.byteLength;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Buffer.alloc(Math.ceil(json.byteLength / 8) * 8, 0x20);
  json.copy(padded);
  return padded;
}

function checkMetadata(metadata: unknown): Record<string, string> | undefined {
  if (metadata === undefined) return undefined;
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))
    throw new TypeError('saveSafetensors: metadata must be an object of strings');
  for (const [k, v] of Object.entries(metadata))
    if (typeof v !== 'string') throw new TypeError(`saveSafetensors: metadata ${JSON.stringify(k)} must be a string, got ${typeof v}`);
  return metadata as Record<string, string>;
}

/**
 * The whole file's bytes except the tensor data, and the entries in the order their data follows:
 * what saveSafetensors writes, exposed for callers that stream the data themselves.
 */
export function planSafetensors(tensors: Record<string, Tensor | RawTensorInput>, metadata?: Record<string, string>,
  opts: SaveSafetensorsOptions = {}): { prefix: Uint8Array; entries: { name: string; bytes: () => Uint8Array }[] } {
  const dtype = opts.dtype ?? 'F32';
  if (dtype !== 'F32' && dtype !== 'F16' && dtype !== 'BF16')
    throw new TypeError(`saveSafetensors: dtype must be 'F32', 'F16' or 'BF16', got ${JSON.stringify(dtype)}`);
  if (typeof tensors !== 'object' || tensors === null) throw new TypeError('saveSafetensors: tensors must be an object of name -> tensor');
  const meta = checkMetadata(metadata);
  const entries = Object.entries(tensors).map(([name, value]) => plan(name, value, dtype)).sort(hfOrder);
  const header = headerBytes(entries, meta);
  const prefix = new Uint8Array(8 + header.byteLength);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(header.byteLength), true);
  prefix.set(header, 8);
  return { prefix, entries: entries.map((e) => ({ name: e.name, bytes: e.bytes })) };
}

/**
 * Writes tensors (float32 Tensors, stored as opts.dtype) and raw entries to `path`, atomically:
 * the old file, if any, stays whole until the new one is complete and synced.
 */
export function saveSafetensors(path: string, tensors: Record<string, Tensor | RawTensorInput>, metadata?: Record<string, string>,
  opts: SaveSafetensorsOptions = {}): void {
  assertLittleEndianHost('saveSafetensors');
  const { prefix, entries } = planSafetensors(tensors, metadata, opts);
  writeFileAtomic(path, (fd) => {
    writeAll(fd, prefix);
    for (const e of entries) writeAll(fd, e.bytes());
  });
}
