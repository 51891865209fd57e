/**
 * Integer inputs (token ids, labels, positions, masks) live on the host as Int32Array with a shape:
 * kernels read them directly and no gradient ever flows into them.
 */
import { checkShape, formatShape, sizeOf } from './shape';

export interface IntTensor {
  readonly data: Int32Array;
  readonly shape: readonly number[];
}

/** An IntTensor from nested rows ([[1, 2], [3, 4]]) or a flat array with a shape. */
export function intTensor(values: ArrayLike<number> | number[][], shape?: number[]): IntTensor {
  if (shape === undefined) {
    if (Array.isArray(values) && values.length > 0 && Array.isArray(values[0])) {
      const rows = values as number[][];
      const cols = rows[0].length;
      const data = new Int32Array(rows.length * cols);
      rows.forEach((row, r) => {
        if (!Array.isArray(row) || row.length !== cols)
          throw new RangeError(`intTensor: ragged rows: row 0 has ${cols} values, row ${r} has ${Array.isArray(row) ? row.length : 'none'}`);
        row.forEach((v, c) => (data[r * cols + c] = checkInt(v, r * cols + c)));
      });
      return { data, shape: [rows.length, cols] };
    }
    shape = [(values as ArrayLike<number>).length];
  }
  checkShape(shape, 'intTensor');
  const flat = values as ArrayLike<number>;
  if (flat.length !== sizeOf(shape))
    throw new RangeError(`intTensor: ${flat.length} values do not fill shape ${formatShape(shape)}`);
  const data = new Int32Array(flat.length);
  for (let i = 0; i < flat.length; i++) data[i] = checkInt(flat[i], i);
  return { data, shape: [...shape] };
}

function checkInt(v: number, at: number): number {
  if (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31) throw new RangeError(`intTensor: value ${v} at index ${at} is not a 32-bit integer`);
  return v;
}

/** Accepts an IntTensor or nested rows. */
export function asIntTensor(v: IntTensor | number[][] | number[], what: string): IntTensor {
  if (v && typeof v === 'object' && 'data' in v && v.data instanceof Int32Array) return v;
  if (!Array.isArray(v)) throw new TypeError(`${what}: expected an IntTensor or an array of integers`);
  return intTensor(v as number[][]);
}
