/**
 * The data order's own generator: mulberry32 (a 32-bit state, one multiply-xorshift per draw), apart from
 * the tensor random stream so that shuffling never shifts dropout masks. Its whole state is one integer,
 * which a checkpoint saves; a resumed run regenerates the same permutations.
 */

export class ShuffleRng {
  private s: number;

  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) throw new RangeError(`ShuffleRng: seed must be an integer in [0, 2^32), got ${seed}`);
    this.s = seed >>> 0;
  }

  /** A uint32. */
  nextUint32(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** An integer in [0, n), without modulo bias (rejection of the top remainder). */
  below(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 2 ** 32) throw new RangeError(`ShuffleRng.below: n must be an integer in [1, 2^32], got ${n}`);
    const limit = 2 ** 32 - (2 ** 32 % n);
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
  }

  /** A uniformly random permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): number[] {
    const p = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.below(i + 1);
      [p[i], p[j]] = [p[j], p[i]];
    }
    return p;
  }

  get state(): number {
    return this.s;
  }

  set state(v: number) {
    if (!Number.isInteger(v) || v < 0 || v >= 2 ** 32) throw new RangeError(`ShuffleRng: state must be an integer in [0, 2^32), got ${v}`);
    this.s = v;
  }
}
