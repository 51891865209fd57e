/**
 * Philox4x32-10, bit for bit the generator of csrc/kernels/random/random.cc: element `index` of stream `seed`
 * is lane index % 4 of the block for counter floor(index / 4). Integer math in 32-bit pieces, since a
 * JS number cannot hold a 64-bit product.
 */

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;
const TWO_32 = 4294967296;

/** High 32 bits of the 64-bit product of two uint32. */
function mulhi(a: number, b: number): number {
  const al = a & 0xffff, ah = a >>> 16, bl = b & 0xffff, bh = b >>> 16;
  const ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (hh + Math.floor(lh / 65536) + Math.floor(hl / 65536) + Math.floor(mid / 65536)) >>> 0;
}

/** The four uint32 words for a block counter (< 2^53) and a seed (< 2^53). */
export function philox4x32(counter: number, seed: number, out: Uint32Array = new Uint32Array(4)): Uint32Array {
  let c0 = counter >>> 0, c1 = Math.floor(counter / TWO_32) >>> 0, c2 = 0, c3 = 0;
  let k0 = seed >>> 0, k1 = Math.floor(seed / TWO_32) >>> 0;
  for (let round = 0; round < 10; round++) {
    const hi0 = mulhi(M0, c0), lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2), lo1 = Math.imul(M1, c2) >>> 0;
    const n0 = (hi1 ^ c1 ^ k0) >>> 0;
    const n2 = (hi0 ^ c3 ^ k1) >>> 0;
    c0 = n0; c1 = lo1; c2 = n2; c3 = lo0;
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
  return out;
}

const INV_2_24 = 1 / 16777216;

/** uniform in [0, 1) from the top 24 bits, rounded to float32 as the native kernel does. */
export function bitsToUniform(x: number): number {
  return Math.fround((x >>> 8) * INV_2_24);
}

/** Fills out[i] with U(offset + i) scaled to [a, b) (a = low, b = high), or N(offset + i) with mean a and std b. */
export function philoxFill(kind: 'uniform' | 'normal', out: Float32Array, start: number, n: number,
                           seed: number, offset: number, a: number, b: number): void {
  const words = new Uint32Array(4);
  let block = -1;
  const low = Math.fround(a), span = Math.fround(Math.fround(b) - low);
  for (let i = 0; i < n; i++) {
    const index = offset + i;
    const blockIndex = Math.floor(index / 4);
    if (blockIndex !== block) { philox4x32(blockIndex, seed, words); block = blockIndex; }
    const lane = index % 4;
    if (kind === 'uniform') {
      // float arithmetic as in C++: low + (high - low) * u, each step rounded to float32
      out[start + i] = Math.fround(low + Math.fround(span * bitsToUniform(words[lane])));
    } else {
      const pair = lane & 2;
      const u1 = ((words[pair] >>> 8) + 1) * INV_2_24;
      const u2 = (words[pair + 1] >>> 8) * INV_2_24;
      const radius = Math.sqrt(-2 * Math.log(u1));
      const z = lane & 1 ? radius * Math.sin(2 * Math.PI * u2) : radius * Math.cos(2 * Math.PI * u2);
      out[start + i] = Math.fround(Math.fround(a) + Math.fround(b) * z);
    }
  }
}
