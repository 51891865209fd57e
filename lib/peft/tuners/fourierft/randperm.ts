/**
 * FourierFT's spectral locations exactly as HF draws them (fourierft/layer.py update_layer):
 * torch.randperm(out * in, generator=torch.Generator().manual_seed(random_loc_seed))[:n_frequency], then
 * rows = idx // in, cols = idx % in. HF keeps them in a plain dict (not a buffer), so they are never in the
 * adapter file: a loader must draw the same ones.
 *
 * torch's CPU randperm (aten/src/ATen/native/TensorFactories.cpp, randperm_cpu) on the generator's MT19937
 * (seeded with the seed's low 32 bits, as VeRA's projections are, see ../vera/prng.ts):
 * - n < 2^32 / 20 (every layer up to 214,748,364 weights; torch 1.13 uses this branch for every n): r = 0..n-1,
 *   then for i = 0 .. n-2: z = random() % (n - i), swap r[i] and r[i + z]. Position i is final after step i,
 *   so the first k entries need only k steps and a map of the positions touched (O(k), not O(n)).
 * - larger n (torch >= 2.1): the "inside-out" Fisher-Yates with 64-bit draws (random64() = hi << 32 | lo, two
 *   32-bit draws): for i = 0 .. n-1: z = random64() % (i + 1); r[i] = r[z]; r[z] = i. Every step may change
 *   the first k entries, so all n steps run, tracking only those k entries.
 */
import { Mt19937 } from '../vera/prng';

/** torch's threshold between the two algorithms: n < std::numeric_limits<uint32_t>::max() / 20. */
export const RANDPERM_SMALL_LIMIT = 0xffffffff / 20;

/** The first k entries of torch.randperm(n, generator=torch.Generator().manual_seed(seed)) on the CPU. */
export function torchRandpermPrefix(n: number, seed: number, k: number): number[] {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`torchRandpermPrefix: n must be a non-negative integer, got ${n}`);
  if (!Number.isInteger(k) || k < 0 || k > n) throw new RangeError(`torchRandpermPrefix: k must be an integer in [0, ${n}], got ${k}`);
  if (!Number.isSafeInteger(seed)) throw new RangeError(`torchRandpermPrefix: seed must be a safe integer, got ${seed}`);
  const gen = new Mt19937(Number(BigInt.asUintN(32, BigInt(seed))));
  return n < RANDPERM_SMALL_LIMIT ? smallN(gen, n, k) : largeN(gen, n, k);
}

/** torch's n < 2^32 / 20 branch (exported for tests). */
export function smallN(gen: Mt19937, n: number, k: number): number[] {
  const moved = new Map<number, number>();
  const at = (p: number) => moved.get(p) ?? p;
  const out: number[] = [];
  // torch stops at n - 2 (the last position has nothing left to swap with); with k = n the last entry is read as it stands.
  for (let i = 0; i < k; i++) {
    if (i === n - 1) {
      out.push(at(i));
      break;
    }
    const z = gen.next() % (n - i);
    const a = at(i), b = at(i + z);
    moved.set(i + z, a);
    moved.delete(i);
    out.push(b);
  }
  return out;
}

/** (hi * 2^32 + lo) mod m, exact in doubles for m < 2^37 (each product stays below 2^53). */
function mod64(hi: number, lo: number, m: number): number {
  let r = hi % m;
  r = (r * 65536) % m;
  r = (r * 65536) % m;
  return (r + lo) % m;
}

/** torch's large-n branch (exported for tests: it is checked on small n against the whole-array algorithm). */
export function largeN(gen: Mt19937, n: number, k: number): number[] {
  if (n >= 2 ** 37) throw new RangeError(`torchRandpermPrefix: n = ${n} is beyond what is drawn exactly here (2^37)`);
  const head = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    const hi = gen.next(), lo = gen.next();
    const z = mod64(hi, lo, i + 1);
    // r[i] = r[z] (r[i] is i when z = i), then r[z] = i; only positions below k are kept.
    if (i < k) head[i] = z === i ? i : head[z];
    if (z < k) head[z] = i;
  }
  return Array.from(head);
}
