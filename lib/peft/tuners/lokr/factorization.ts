/**
 * HF peft's factorization(dimension, factor) (src/peft/tuners/lokr/layer.py, from LyCORIS): two numbers
 * whose product is `dimension`. A positive factor that divides it gives (factor, dimension / factor) as
 * is; otherwise the pair nearest the square root whose smaller side does not pass `factor` (-1: no limit),
 * smaller first.
 */
export function factorization(dimension: number, factor = -1): [number, number] {
  if (factor > 0 && dimension % factor === 0) return [factor, dimension / factor];
  if (factor === -1) factor = dimension;
  let m = 1, n = dimension;
  const length = m + n;
  while (m < n) {
    let newM = m + 1;
    while (dimension % newM !== 0) newM++;
    const newN = dimension / newM;
    if (newM + newN > length || newM > factor) break;
    m = newM;
    n = newN;
  }
  return m > n ? [n, m] : [m, n];
}

/**
 * LoKr's factor shapes for a Linear [out, in] (LoKrLayer.update_layer): out = a * b, in = c * d; w1 is
 * [a, c] (or w1_a [a, r] w1_b [r, c] when decompose_both and r < max(a, c) / 2), w2 is [b, d] (or
 * w2_a [b, r] w2_b [r, d] when r < max(b, d) / 2).
 */
export interface LoKrShapes {
  a: number;
  b: number;
  c: number;
  d: number;
  useW1: boolean;
  useW2: boolean;
}

export function lokrShapes(out: number, inF: number, r: number, decomposeBoth: boolean, factor: number): LoKrShapes {
  const [c, d] = factorization(inF, factor);
  const [a, b] = factorization(out, factor);
  return { a, b, c, d, useW1: !(decomposeBoth && r < Math.max(a, c) / 2), useW2: !(r < Math.max(b, d) / 2) };
}
