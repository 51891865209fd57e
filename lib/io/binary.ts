/** Reading and writing exact byte ranges of open files (readSync/writeSync may do less than asked). */
import * as fs from 'fs';
import { FileFormatError } from './errors';

// One readSync/writeSync call moves at most ~2 GiB; bigger tensors go in pieces.
const MAX_IO = 1 << 30;

/** Fills `into` from the file at `position`; a short file is a FileFormatError naming where it ended. */
export function readExact(fd: number, into: Uint8Array, position: number, format: string, file: string): void {
  let done = 0;
  while (done < into.byteLength) {
    const want = Math.min(MAX_IO, into.byteLength - done);
    const got = fs.readSync(fd, into, done, want, position + done);
    if (got === 0)
      throw new FileFormatError(format, file, `unexpected end of file at byte ${position + done} (needed ${into.byteLength} bytes from byte ${position})`);
    done += got;
  }
}

/** Writes every byte of `bytes` at the file's current position. */
export function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.byteLength) done += fs.writeSync(fd, bytes, done, Math.min(MAX_IO, bytes.byteLength - done));
}

/** The byte view of a typed array (no copy). */
export function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Opens a file for reading; a missing file says which path was tried. */
export function openForReading(file: string, format: string): { fd: number; size: number } {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw new Error(`${format} file ${file}: cannot open: ${(e as Error).message}`);
  }
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw new FileFormatError(format, file, 'is not a regular file');
    return { fd, size: stat.size };
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

/** Runs fn with the file open, closing it whatever happens. */
export function withOpenFile<T>(file: string, format: string, fn: (fd: number, size: number) => T): T {
  const { fd, size } = openForReading(file, format);
  try {
    return fn(fd, size);
  } finally {
    fs.closeSync(fd);
  }
}

/** Typed-array views reinterpret bytes in host order; every format here is little-endian. */
export const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function assertLittleEndianHost(what: string): void {
  if (!HOST_IS_LITTLE_ENDIAN) throw new Error(`${what}: big-endian hosts are not supported (the file formats are little-endian)`);
}

/** obj[key] = value as an own property, even for keys like "__proto__" that a file may hold. */
export function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}
