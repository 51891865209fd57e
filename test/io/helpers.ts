/** Shared by the io specs: scratch folders and hand-made safetensors bytes. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/** A fresh folder under the OS temp dir; removed by the returned cleanup. */
export function scratchDir(tag: string): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `peftjs-io-${tag}-`));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** 8-byte little-endian length, the header (an object is JSON-encoded), then the data bytes. */
export function craftSafetensors(header: object | string | Uint8Array, data: Uint8Array = new Uint8Array(0), headerLength?: bigint): Buffer {
  const json = header instanceof Uint8Array ? Buffer.from(header) : Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(headerLength ?? BigInt(json.byteLength));
  return Buffer.concat([prefix, json, data]);
}

/** Little-endian bytes of typed-array values. */
export function le(a: ArrayBufferView): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** The folder of the test models (../shared beside the repository), or null when it is absent. */
export function sharedModels(): string | null {
  const dir = path.resolve(__dirname, '../../../shared/models/stories260K');
  return fs.existsSync(dir) ? dir : null;
}

/** JSON spellings of values JSON cannot hold (written by the fixture scripts). */
export function decodeNumber(v: number | string): number {
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  if (v === '-0') return -0;
  return Number(v);
}
