/** The README's example: run with `npx ts-node examples/basic.ts`, or through `npm test` (test/examples.test.ts). */
import { info, linear, randn, softmax, tidy } from 'peftjs';

export function main(): number[] {
  console.log(info().native);                          // version, CPU path, threads, CUDA
  const w = randn([768, 768], { seed: 1, std: 0.03 });  // counter-based RNG: same numbers on every backend
  const probs = tidy(() => {
    const x = randn([4, 768], { seed: 2 });
    return softmax(linear(x, w));                      // x W^T, then a row-wise softmax; x is freed on return
  });
  const firstRow = Array.from(probs.toFloat32Array().slice(0, 768));
  console.log(probs.shape, firstRow.slice(0, 4));
  probs.dispose();
  w.dispose();
  return firstRow;
}

if (require.main === module) main();
