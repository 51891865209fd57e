/**
 * toAllClose(expected, {atol, rtol}): every |actual - expected| <= atol + rtol * |expected|, NaNs equal
 * to NaNs; on failure the message names the worst element, its index and both values.
 */
import { Tensor } from '../../lib';

type Numeric = Tensor | ArrayLike<number> | number;

function flat(x: Numeric): { values: ArrayLike<number>; shape?: readonly number[] } {
  if (x instanceof Tensor) return { values: x.toFloat32Array(), shape: x.shape };
  if (typeof x === 'number') return { values: [x] };
  return { values: x };
}

export interface CloseOptions {
  atol?: number;
  rtol?: number;
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace jest {
    interface Matchers<R> {
      toAllClose(expected: Numeric, opts?: CloseOptions): R;
    }
  }
}

expect.extend({
  toAllClose(received: Numeric, expected: Numeric, opts: CloseOptions = {}) {
    const atol = opts.atol ?? 1e-5;
    const rtol = opts.rtol ?? 1e-5;
    const a = flat(received), e = flat(expected);
    if (a.shape && e.shape && a.shape.join(',') !== e.shape.join(','))
      return { pass: false, message: () => `shapes differ: received [${a.shape}] expected [${e.shape}]` };
    if (a.values.length !== e.values.length)
      return { pass: false, message: () => `lengths differ: received ${a.values.length} expected ${e.values.length}` };
    let worst = -1, worstExcess = 0, failures = 0;
    for (let i = 0; i < e.values.length; i++) {
      const x = a.values[i], y = e.values[i];
      if (Number.isNaN(x) && Number.isNaN(y)) continue;
      if (x === y) continue;  // equal infinities
      const excess = Math.abs(x - y) - (atol + rtol * Math.abs(y));
      if (!(excess <= 0)) {
        failures++;
        if (worst < 0 || !(excess <= worstExcess)) { worst = i; worstExcess = excess; }
      }
    }
    const pass = failures === 0;
    return {
      pass,
      message: () => pass
        ? `expected values not to be close (atol ${atol}, rtol ${rtol})`
        : `${failures} of ${e.values.length} elements differ (atol ${atol}, rtol ${rtol}); worst at index ${worst}: ` +
          `received ${a.values[worst]}, expected ${e.values[worst]}, |diff| ${Math.abs(a.values[worst] - e.values[worst])}`,
    };
  },
});
