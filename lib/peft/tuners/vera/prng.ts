/**
 * VeRA's projections exactly as HF draws them (vera/model.py _init_vera_A_vera_B / _kaiming_init): a
 * torch.Generator on the CPU seeded with projection_prng_key, then tensor.uniform_(-bound, bound) for
 * vera_A (r, max in) and vera_B (max out, r) in turn, bound = sqrt(3) * sqrt(2) / sqrt(fan_in), fan_in
 * the second dimension. torch's CPU generator is MT19937 seeded with the key's low 32 bits; uniform_ on
 * float32 takes one 32-bit draw per element, keeps its low 24 bits as x = bits / 2^24, and returns
 * float32(x * (to - from) + from) computed in double with from and to first rounded to float32. So a
 * folder saved without the projections (save_projection false) loads with the same ones, bit for bit.
 */

/** MT19937, the standard 32-bit Mersenne Twister (std::mt19937, torch's at::mt19937). */
export class Mt19937 {
  private readonly mt = new Uint32Array(624);
  private index = 624;

  constructor(seed: number) {
    this.mt[0] = seed >>> 0;
    for (let i = 1; i < 624; i++) {
      const prev = this.mt[i - 1] ^ (this.mt[i - 1] >>> 30);
      this.mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
  }

  next(): number {
    const mt = this.mt;
    if (this.index >= 624) {
      for (let i = 0; i < 624; i++) {
        const y = (mt[i] & 0x80000000) | (mt[(i + 1) % 624] & 0x7fffffff);
        mt[i] = mt[(i + 397) % 624] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      this.index = 0;
    }
    let y = mt[this.index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }
}

/** torch's tensor.uniform_(from, to, generator) on a float32 tensor of n elements. */
export function torchUniform(gen: Mt19937, n: number, from: number, to: number): Float32Array {
  const lo = Math.fround(from), hi = Math.fround(to);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const x = (gen.next() & 0xffffff) * 2 ** -24;
    out[i] = x * (hi - lo) + lo;
  }
  return out;
}

/** HF's _kaiming_init for a [rows, cols] matrix (fan_in = cols). */
export function kaimingInit(gen: Mt19937, rows: number, cols: number): Float32Array {
  const bound = Math.sqrt(3) * (Math.SQRT2 / Math.sqrt(cols));
  return torchUniform(gen, rows * cols, -bound, bound);
}

/** vera_A [r, maxIn] then vera_B [maxOut, r] from one generator seeded with the key. */
export function veraProjections(key: number, r: number, maxIn: number, maxOut: number): { a: Float32Array; b: Float32Array } {
  const gen = new Mt19937(Number(BigInt.asUintN(32, BigInt(key))));
  const a = kaimingInit(gen, r, maxIn);
  const b = kaimingInit(gen, maxOut, r);
  return { a, b };
}
