/**
 * The native activations (forward and backward) against the js reference far tighter than the other
 * specs, over a dense sweep of [-20, 20] (where the tails of GELU, sigmoid and tanh' are small numbers
 * that must keep their digits) and the extremes (+-1e4, +-inf, NaN, -0), on every CPU path here (the portable path at the
 * other specs' tolerance, see SCALAR_TOL). The
 * AVX2 path (csrc/kernels/vec_act_avx2.h) also gets the edges of float itself: exp's overflow at ~88.72,
 * subnormal results, x^2 overflowing float. Measured worst |diff| / (1e-7 + 2e-6 |ref|): 0.62 (gelu
 * backward at its zero crossing near x = -0.75); relative error of values above 1e-6 at most ~4e-7.
 */
import { backend, type Backend } from '../../lib';
import type { UnaryOpName } from '../../lib/backend/types';
import { cpuPaths, hostRandom, withCpuPath } from '../helpers/backends';
import { bufOf, readBuf, zerosBuf } from '../helpers/bufs';

const TOL = { atol: 1e-7, rtol: 2e-6 };
// The portable path's float formulas cancel in the tails of the derivatives (1 - t^2 and s (1 - s) as t
// and s near 1; 0.5 (1 + t) for gelu_tanh' near x = -5 rounds to 0 where the reference is -5e-7): it is
// held to the tolerance of the other unary specs.
const SCALAR_TOL = { atol: 1e-6, rtol: 1e-5 };
const OPS: UnaryOpName[] = ['exp', 'tanh', 'sigmoid', 'silu', 'gelu', 'gelu_tanh'];
const paths = cpuPaths();
const js = backend('js');

/** 100,001 points of [-20, 20] (step 4e-4: past every branch point of the vector code), then extremes. */
function sweep(extra: number[]): Float32Array {
  const n = 100001;
  const xs = Array.from({ length: n }, (_, i) => -20 + (40 * i) / (n - 1));
  return Float32Array.from([...xs, 1e4, -1e4, Infinity, -Infinity, NaN, 0, -0, ...extra]);
}
const BRIEF = sweep([]);
// Where float itself ends: exp overflows past 88.72 and goes subnormal below -87.3; x^2 overflows past
// ~1.8e19; tiny inputs. The portable path's libm loops are not held to these (gelu_tanh' of 3e38 is
// NaN there, from x * x overflowing float, where the double reference gets 0).
const FLOAT_EDGES = sweep([88.5, 88.7, 88.8, 89, 100, -87.5, -95, -100, -103.9, -104.5, 1e-30, -1e-30, 1e-40, 2e19, -2e19, 3e38, -3e38]);

function forward(be: Backend, op: UnaryOpName, x: Float32Array): Float32Array {
  const out = zerosBuf(be, x.length, 2);
  be.unary({ op, a: bufOf(be, x, 1), out, n: x.length });
  return readBuf(be, out, x.length);
}

function backward(be: Backend, op: UnaryOpName, x: Float32Array, dy: Float32Array): Float32Array {
  const dx = zerosBuf(be, x.length, 3);
  be.kernels.get('unaryBackward', 'test')({ op, x: bufOf(be, x, 1), dy: bufOf(be, dy), dx, n: x.length });
  return readBuf(be, dx, x.length);
}

(paths.length ? describe.each(paths) : describe.skip.each(['none']))('native activations vs js, tight, on the %s path', (path) => {
  const x = path === 'scalar' ? BRIEF : FLOAT_EDGES;
  const tol = path === 'scalar' ? SCALAR_TOL : TOL;
  const native = backend('native');
  const ones = new Float32Array(x.length).fill(1);
  // |dy| < 1, so the derivative's own tolerance holds. On the sweep only: past x = 88.72, exp'(x) is inf
  // in float (on both paths) where the double reference's dy * exp(x) can still be finite.
  const dy = hostRandom(BRIEF.length, 5);

  it.each(OPS)('%s forward', (op) => {
    expect(withCpuPath(path, () => forward(native, op, x))).toAllClose(forward(js, op, x), tol);
  });

  it.each(OPS)('%s backward: the derivative itself (dy = 1) and times a random dy', (op) => {
    expect(withCpuPath(path, () => backward(native, op, x, ones))).toAllClose(backward(js, op, x, ones), tol);
    expect(withCpuPath(path, () => backward(native, op, BRIEF, dy))).toAllClose(backward(js, op, BRIEF, dy), tol);
  });

  it('saturates exactly and keeps NaN, infinities and -0 as libm does', () => {
    const at = (op: UnaryOpName, v: number[]) => Array.from(withCpuPath(path, () => forward(native, op, Float32Array.from(v))));
    expect(at('tanh', [1e4, -1e4, 20, -20, Infinity, -Infinity])).toEqual([1, -1, 1, -1, 1, -1]);
    expect(at('exp', [-Infinity, Infinity, 100, -200])).toEqual([0, Infinity, Infinity, 0]);
    expect(at('sigmoid', [-Infinity, Infinity, -1e4, 1e4])).toEqual([0, 1, 0, 1]);
    for (const op of OPS) expect(at(op, [NaN]).every(Number.isNaN)).toBe(true);
    for (const op of ['tanh', 'silu', 'gelu', 'gelu_tanh'] as UnaryOpName[]) expect(Object.is(at(op, [-0])[0], -0)).toBe(true);
    // x * sigmoid(x) at -inf is -inf * 0 in the reference as in libm's x / (1 + exp(-x)): NaN, not 0.
    expect(at('silu', [-Infinity, Infinity])).toEqual([NaN, Infinity]);
  });

  it('gives every element the same value wherever it sits (vector body, masked tail, thread chunks)', () => {
    const big = Float32Array.from(hostRandom(70001, 9), (v) => v * 20);  // two chunks of the thread pool and a tail of 1
    for (const op of OPS) {
      const whole = withCpuPath(path, () => forward(native, op, big));
      for (const start of [0, 3, 69990]) {
        for (const len of [1, 7, 9, 11]) {
          const part = withCpuPath(path, () => forward(native, op, big.slice(start, start + len)));
          expect(part).toEqual(whole.slice(start, start + len));
        }
      }
    }
  });
});
