/**
 * Weight-only int8 with absmax scales: per output row (bitsandbytes' LLM.int8 weights, load_in_8bit) or
 * per group of `groupSize` consecutive values of the row-major weight (llama2.c's Q8_0 files). Each group
 * keeps its absmax; q = round-half-even(w * (127 / absmax)) in [-127, 127]; w = q * absmax / 127 in float32.
 */

export interface Int8Weight {
  readonly format: 'int8';
  readonly n: number;
  /** Values per scale: a row's length for per-row scales. */
  readonly groupSize: number;
  readonly q: Int8Array;
  /** Each group's absmax. */
  readonly absmax: Float32Array;
}

/** torch.round: halves to even. */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export function quantizeInt8(w: Float32Array, groupSize: number): Int8Weight {
  if (!Number.isInteger(groupSize) || groupSize < 1 || w.length % groupSize !== 0)
    throw new RangeError(`quantizeInt8: groupSize must be a positive integer dividing the ${w.length} values, got ${groupSize}`);
  const groups = w.length / groupSize;
  const q = new Int8Array(w.length), absmax = new Float32Array(groups);
  for (let g = 0; g < groups; g++) {
    const start = g * groupSize;
    let m = 0;
    for (let i = start; i < start + groupSize; i++) m = Math.max(m, Math.abs(w[i]));
    absmax[g] = m;
    if (m === 0) continue;  // an all-zero group stays zero (llama2.c's export would divide 0 by 0 here)
    const k = Math.fround(127 / m);
    for (let i = start; i < start + groupSize; i++) q[i] = roundHalfEven(Math.fround(w[i] * k));
  }
  return { format: 'int8', n: w.length, groupSize, q, absmax };
}

/** Values [start, end) of the weight in float32. */
export function dequantizeInt8(q: Int8Weight, start = 0, end = q.n, out = new Float32Array(end - start)): Float32Array {
  for (let i = start; i < end; i++) out[i - start] = Math.fround(Math.fround(q.q[i] * q.absmax[Math.floor(i / q.groupSize)]) / 127);
  return out;
}
