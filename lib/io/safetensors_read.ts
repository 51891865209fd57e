/**
 * Reading safetensors files without holding the file twice: the header is read first, then each
 * tensor's bytes go straight into the tensor's memory (F32 on a CPU backend) or through a small
 * scratch buffer that is widened to float32 piece by piece (F16, BF16, F64, integers).
 */
import * as fs from 'fs';
import type { Tensor } from '../tensor/tensor';
import { assertLittleEndianHost, bytesOf, openForReading, readExact, setOwn } from './binary';
import { hostTensor } from './host_tensor';
import { arrayFromBytes, DTYPE_SIZE, isFloatDtype, type RawTensor, type SafetensorsDtype, widenToFloat32 } from './safetensors_dtypes';
import { FORMAT, readHeader, type SafetensorsHeader, type TensorEntry } from './safetensors_header';

/** Widening goes through a scratch buffer of at most this many bytes (a multiple of every dtype size). */
const SCRATCH_BYTES = 1 << 22;

export interface TensorInfo {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** [begin, end) in the byte buffer after the header. */
  dataOffsets: [number, number];
}

// A file nobody closed still gets its descriptor back when the object is collected.
const unclosed = new FinalizationRegistry<number>((fd) => {
  try {
    fs.closeSync(fd);
  } catch {
    /* already closed */
  }
});

/**
 * An open safetensors file: lists its tensors and loads them one at a time. Close it when done
 * (the file descriptor stays open until then; a file replaced by rename meanwhile is still read whole).
 */
export class SafetensorsFile {
  readonly path: string;
  readonly metadata: Readonly<Record<string, string>>;
  private readonly header: SafetensorsHeader;
  private fd: number | null;

  private constructor(path: string, fd: number, header: SafetensorsHeader) {
    this.path = path;
    this.fd = fd;
    this.header = header;
    this.metadata = header.metadata;
    unclosed.register(this, fd, this);
  }

  /** Opens and validates the header; throws a FileFormatError naming the file and the problem. */
  static open(path: string): SafetensorsFile {
    assertLittleEndianHost('safetensors');
    const { fd, size } = openForReading(path, FORMAT);
    try {
      return new SafetensorsFile(path, fd, readHeader(fd, path, size));
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  /** Tensor names in file order. */
  names(): string[] {
    return this.header.entries.map((e) => e.name);
  }

  has(name: string): boolean {
    return this.header.byName.has(name);
  }

  info(name: string): TensorInfo {
    const e = this.entry(name);
    return { name: e.name, dtype: e.dtype, shape: [...e.shape], dataOffsets: [...e.dataOffsets] };
  }

  /** Every tensor's name, dtype, shape and offsets, in file order. */
  list(): TensorInfo[] {
    return this.header.entries.map((e) => this.info(e.name));
  }

  /** The tensor as float32 (any dtype: floats widen exactly, integers convert as Number does). */
  load(name: string): Tensor {
    const e = this.entry(name);
    const fd = this.openFd();
    const start = this.header.dataStart + e.dataOffsets[0];
    return hostTensor(e.shape, (out) => {
      if (e.dtype === 'F32') readExact(fd, bytesOf(out), start, FORMAT, this.path);
      else this.widenInto(fd, e, start, out);
    });
  }

  /** The tensor in its file dtype: the dtype's typed array (F16/BF16/FP8 as bit patterns). */
  loadRaw(name: string): RawTensor {
    const e = this.entry(name);
    const bytes = new Uint8Array(e.dataOffsets[1] - e.dataOffsets[0]);
    readExact(this.openFd(), bytes, this.header.dataStart + e.dataOffsets[0], FORMAT, this.path);
    return { dtype: e.dtype, shape: [...e.shape], data: arrayFromBytes(e.dtype, bytes) };
  }

  close(): void {
    if (this.fd === null) return;
    unclosed.unregister(this);
    fs.closeSync(this.fd);
    this.fd = null;
  }

  private widenInto(fd: number, e: TensorEntry, start: number, out: Float32Array): void {
    const size = DTYPE_SIZE[e.dtype];
    const total = e.dataOffsets[1] - e.dataOffsets[0];
    const scratch = new Uint8Array(Math.min(SCRATCH_BYTES, total));
    for (let done = 0; done < total; done += scratch.byteLength) {
      const piece = scratch.subarray(0, Math.min(scratch.byteLength, total - done));
      readExact(fd, piece, start + done, FORMAT, this.path);
      widenToFloat32(e.dtype, piece, out, done / size);
    }
  }

  private entry(name: string): TensorEntry {
    const e = this.header.byName.get(name);
    if (e === undefined) throw new Error(`${FORMAT} file ${this.path}: no tensor named ${JSON.stringify(name)}`);
    return e;
  }

  private openFd(): number {
    if (this.fd === null) throw new Error(`${FORMAT} file ${this.path}: the file was closed`);
    return this.fd;
  }
}

export interface LoadSafetensorsOptions {
  /** Integer and BOOL tensors become float32 Tensors too (else they come back raw). Default false. */
  integersAsFloat?: boolean;
  /** Only these tensors (each must exist). Default: all. */
  names?: string[];
}

export interface LoadedSafetensors {
  /** Float tensors (and integers with integersAsFloat) as float32 Tensors. */
  tensors: Record<string, Tensor>;
  /** Integer and BOOL tensors in their own dtype, unless integersAsFloat. */
  raw: Record<string, RawTensor>;
  metadata: Record<string, string>;
}

/** Reads a whole safetensors file; on an error no tensor is left allocated. */
export function loadSafetensors(path: string, opts: LoadSafetensorsOptions = {}): LoadedSafetensors {
  const file = SafetensorsFile.open(path);
  const out: LoadedSafetensors = { tensors: {}, raw: {}, metadata: { ...file.metadata } };
  try {
    for (const name of opts.names ?? file.names()) {
      const { dtype } = file.info(name);
      if (isFloatDtype(dtype) || opts.integersAsFloat) setOwn(out.tensors, name, file.load(name));
      else setOwn(out.raw, name, file.loadRaw(name));
    }
    return out;
  } catch (e) {
    for (const t of Object.values(out.tensors)) t.dispose();
    throw e;
  } finally {
    file.close();
  }
}

/** Runs fn with the file open, closing it whatever happens. */
export function withSafetensorsFile<T>(path: string, fn: (file: SafetensorsFile) => T): T {
  const file = SafetensorsFile.open(path);
  try {
    return fn(file);
  } finally {
    file.close();
  }
}

/** Tensor names, dtypes and shapes of a file, without reading any tensor data. */
export function listSafetensors(path: string): { tensors: TensorInfo[]; metadata: Record<string, string> } {
  const file = SafetensorsFile.open(path);
  try {
    return { tensors: file.list(), metadata: { ...file.metadata } };
  } finally {
    file.close();
  }
}
