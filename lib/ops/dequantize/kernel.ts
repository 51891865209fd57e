/**
 * Dequantizing a range of a frozen low-precision weight into float32 (the formats: lib/quant). What every
 * backend implements and the argument checks every backend runs before it (dequantize_binding.cc keeps the
 * same checks for callers that reach the addon directly). The packed weight lives in host typed arrays, not
 * in backend storage: only the output is a buffer.
 */
import { type ArgChecks, type KernelChecks, typeOf } from '../../backend/checks';
import type { Buf } from '../../backend/types';

export const WEIGHT_FORMATS = ['bfloat16', 'float16', 'int8', 'nf4'] as const;
export type WeightFormat = (typeof WEIGHT_FORMATS)[number];

/** A packed weight: what dequantize reads, and what gemmBf16 takes as bQuant. */
export type PackedWeight = Omit<DequantizeParams, 'start' | 'end' | 'out'>;

export interface DequantizeParams {
  format: WeightFormat;
  /** Values in the weight. */
  n: number;
  /** int8: values per absmax; nf4: the block size; unused (1) otherwise. */
  group: number;
  start: number;
  end: number;
  /** bfloat16/float16: 2 bytes a value, little-endian; int8: 1; nf4: two codes a byte, the first high. */
  data: Uint8Array;
  /** int8/nf4: one absmax per group; null for nf4 with double quantization. */
  absmax: Float32Array | null;
  /** NF4 double quantization: absmax[b] = DYNAMIC_MAP[nestedCodes[b]] * nestedAbsmax[b / 256] + offset. */
  nestedCodes: Uint8Array | null;
  nestedAbsmax: Float32Array | null;
  offset: number;
  /** end - start values. */
  out: Buf;
}

export interface DequantizeKernels {
  /** out[i - start] = the weight's value i for i in [start, end). */
  dequantize(p: DequantizeParams): void;
}

/** A typed array of the given kind holding at least `needed` elements (the packed bytes, the scales). */
function typedArray(c: ArgChecks, name: string, v: unknown, kind: typeof Uint8Array | typeof Float32Array, needed: number, unit: string): void {
  if (!(v instanceof kind)) c.failType(`argument '${name}' must be a ${kind.name}, got ${typeOf(v)}`);
  const length = (v as Uint8Array | Float32Array).length;
  if (length < needed) c.fail(`argument '${name}' has ${length} ${unit}, expected at least ${needed}`);
}

/** Checks a packed weight's fields against its format (`prefix` names the field holding them, if any). */
export function checkPackedWeight(c: ArgChecks, p: PackedWeight, prefix = ''): { n: number } {
  const name = (f: string) => prefix + f;
  const format = c.oneOf(name('format'), p.format, WEIGHT_FORMATS);
  const n = c.dim(name('n'), p.n);
  const grouped = format === 'int8' || format === 'nf4';
  const group = grouped ? c.dim(name('group'), p.group) : 1;
  if (group === 0) c.fail(`${name('group')} must be at least 1`);
  const groups = grouped ? Math.ceil(n / group) : 0;
  typedArray(c, name('data'), p.data, Uint8Array, format === 'nf4' ? Math.ceil(n / 2) : format === 'int8' ? n : c.mul(n, 2), 'bytes');
  if (p.absmax !== null && p.absmax !== undefined) typedArray(c, name('absmax'), p.absmax, Float32Array, groups, 'elements');
  if (p.nestedCodes !== null && p.nestedCodes !== undefined) typedArray(c, name('nestedCodes'), p.nestedCodes, Uint8Array, groups, 'bytes');
  if (p.nestedAbsmax !== null && p.nestedAbsmax !== undefined) typedArray(c, name('nestedAbsmax'), p.nestedAbsmax, Float32Array, Math.ceil(groups / 256), 'elements');
  const nested = !!p.nestedCodes && !!p.nestedAbsmax;
  if (grouped && !p.absmax && (format === 'int8' || !nested)) c.fail(`${format} needs absmax (or, for nf4, nestedCodes and nestedAbsmax)`);
  c.number(name('offset'), p.offset);
  return { n };
}

export const dequantizeChecks: KernelChecks<DequantizeKernels> = {
  dequantize(p, c) {
    const { n } = checkPackedWeight(c, p);
    const start = c.dim('start', p.start), end = c.dim('end', p.end);
    if (start > end || end > n) c.fail(`the range [${start}, ${end}) is not inside [0, n = ${n})`);
    c.buf('out', p.out, end - start);
  },
};
