/**
 * bitsandbytes' 8-bit blockwise quantization with its signed dynamic map (create_dynamic_map), which NF4's
 * double quantization applies to the absmax values: per block, the absmax; each value divided by it and
 * mapped to the nearest of the map's 256 values (ties to the lower). Dequantized = map[q] * absmax.
 */

/** create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8): 256 sorted float32 values in [-1, 1]. */
function dynamicMap(): Float32Array {
  const f = Math.fround;
  const data: number[] = [];
  for (let i = 0; i < 7; i++) {
    const items = 2 ** i + 1;
    // torch.linspace(0.1, 1, items) in float32: the first half from the start, the second from the end.
    // Every operation rounds to float32, as ATen's float kernel does.
    const start = f(0.1), end = 1, step = f(f(end - start) / (items - 1));
    const bounds = Array.from({ length: items }, (_, k) => (k < items / 2 ? f(start + f(k * step)) : f(end - f((items - 1 - k) * step))));
    const scale = f(10 ** (i - 6));
    for (let k = 0; k + 1 < items; k++) {
      const mean = f(f(bounds[k] + bounds[k + 1]) / 2);
      data.push(f(scale * mean), f(-scale * mean));
    }
  }
  data.push(0, 1);
  return Float32Array.from(data.sort((a, b) => a - b));
}

export const DYNAMIC_MAP = dynamicMap();
const MIDPOINTS = Float32Array.from({ length: 255 }, (_, i) => (DYNAMIC_MAP[i] + DYNAMIC_MAP[i + 1]) / 2);

export interface BlockwiseInt8 {
  readonly n: number;
  readonly blockSize: number;
  /** One byte per value: its index into DYNAMIC_MAP. */
  readonly codes: Uint8Array;
  readonly absmax: Float32Array;
}

/**
 * Walks x in blocks of blockSize as bitsandbytes' blockwise quantizers do: each block's absmax (float32),
 * and each value times 1 / absmax in float32, clamped to [-1, 1] (an all-zero block divides by 1e-38, as
 * bitsandbytes clamps it). visit(i, scaled) for every value; returns the absmax of every block.
 */
export function forEachScaled(x: Float32Array, blockSize: number, visit: (i: number, scaled: number) => void): Float32Array {
  const n = x.length, absmax = new Float32Array(Math.ceil(n / blockSize));
  for (let b = 0; b < absmax.length; b++) {
    const start = b * blockSize, end = Math.min(n, start + blockSize);
    let m = 0;
    for (let i = start; i < end; i++) m = Math.max(m, Math.abs(x[i]));
    absmax[b] = m;
    const inv = Math.fround(1 / Math.max(m, 1e-38));
    for (let i = start; i < end; i++) visit(i, Math.min(1, Math.max(-1, Math.fround(x[i] * inv))));
  }
  return absmax;
}

/** The index of the first midpoint >= v (torch.bucketize, right=False): the nearest map value, ties lower. */
function bucket(v: number): number {
  let lo = 0, hi = MIDPOINTS.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (MIDPOINTS[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function quantizeBlockwise(x: Float32Array, blockSize: number): BlockwiseInt8 {
  const codes = new Uint8Array(x.length);
  const absmax = forEachScaled(x, blockSize, (i, scaled) => { codes[i] = bucket(scaled); });
  return { n: x.length, blockSize, codes, absmax };
}

export function dequantizeBlockwise(q: BlockwiseInt8): Float32Array {
  return Float32Array.from(q.codes, (c, i) => Math.fround(DYNAMIC_MAP[c] * q.absmax[Math.floor(i / q.blockSize)]));
}
