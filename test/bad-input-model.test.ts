/**
 * The model kernels' native entry points check every argument before touching memory (as bad-input.test.ts
 * does for the others), and out-of-range token ids and targets are errors naming the operation, the
 * position, the bad id and the vocabulary on every CPU backend, never a read past the table.
 */
import { backend } from '../lib';
import { loadAddon, type NativeAddon } from '../lib/backend/native/addon';
import { backendsUnderTest, backendsWithKernels } from './helpers/backends';
import { bufOf, zerosBuf } from './helpers/bufs';

const addon = loadAddon();
const f = (n: number) => new Float32Array(n);
const i32 = (...v: number[]) => Int32Array.from(v);

interface EntrySpec {
  fn: keyof NativeAddon;
  args: () => unknown[];
  dims: number[];     // indices of size arguments
  arrays: number[];   // indices of Float32Array arguments
  ints: number[];     // indices of Int32Array arguments
}

const specs: EntrySpec[] = [
  { fn: 'unaryBackward', args: () => ['gelu', f(5), f(5), f(5), 5], dims: [4], arrays: [1, 2, 3], ints: [] },
  { fn: 'softmaxBackward', args: () => [f(6), f(6), f(6), 2, 3], dims: [3, 4], arrays: [0, 1, 2], ints: [] },
  { fn: 'columnSum', args: () => [f(6), f(3), 2, 3, 1], dims: [2, 3], arrays: [0, 1], ints: [] },
  { fn: 'stridedScatter', args: () => [f(6), f(6), [2, 3], [1, 2]], dims: [], arrays: [0, 1], ints: [] },
  { fn: 'rmsNormForward', args: () => [2, 3, f(6), f(3), 1e-6, f(6), f(2)], dims: [0, 1], arrays: [2, 3, 5, 6], ints: [] },
  { fn: 'rmsNormBackward', args: () => [2, 3, f(6), f(3), 1e-6, f(2), f(6), f(6), f(3)], dims: [0, 1], arrays: [2, 3, 5, 6, 7, 8], ints: [] },
  { fn: 'layerNormForward', args: () => [2, 3, f(6), f(3), f(3), 1e-5, f(6), f(2), f(2)], dims: [0, 1], arrays: [2, 3, 4, 6, 7, 8], ints: [] },
  { fn: 'layerNormBackward', args: () => [2, 3, f(6), f(3), 1e-5, f(2), f(2), f(6), f(6), f(3), f(3)], dims: [0, 1], arrays: [2, 3, 5, 6, 7, 8, 9, 10], ints: [] },
  { fn: 'embeddingForward', args: () => [3, 2, 4, i32(0, 3, 1), f(8), f(6)], dims: [0, 1, 2], arrays: [4, 5], ints: [3] },
  { fn: 'embeddingBackward', args: () => [3, 2, 4, i32(0, 3, 1), f(6), f(8)], dims: [0, 1, 2], arrays: [4, 5], ints: [3] },
  { fn: 'rope', args: () => [2, 2, 4, 4, 8, f(16), i32(0, 1), 10000, false, false], dims: [0, 1, 2, 3, 4], arrays: [5], ints: [6] },
  { fn: 'crossEntropyForward', args: () => [2, 5, f(10), i32(4, -100), -100, f(2), f(2)], dims: [0, 1], arrays: [2, 5, 6], ints: [3] },
  { fn: 'crossEntropyBackward', args: () => [2, 5, f(10), i32(4, -100), -100, f(2), 1, f(10)], dims: [0, 1], arrays: [2, 5, 7], ints: [3] },
];

function call(fn: keyof NativeAddon, args: unknown[]): () => unknown {
  return () => (addon as unknown as Record<string, (...a: unknown[]) => unknown>)[fn](...args);
}

(addon ? describe : describe.skip)('native model entry points reject bad input', () => {
  describe.each(specs)('$fn', (spec) => {
    const nameRe = new RegExp(`^${spec.fn}: `);

    it('accepts its valid arguments', () => {
      expect(call(spec.fn, spec.args())).not.toThrow();
    });

    it('rejects a wrong argument count', () => {
      expect(call(spec.fn, spec.args().slice(0, -1))).toThrow(/expected \d+ arguments, got \d+/);
    });

    it('rejects a value of the wrong type in every position', () => {
      spec.args().forEach((_, i) => {
        const args = spec.args();
        args[i] = Symbol.for('wrong') as unknown;
        expect(call(spec.fn, args)).toThrow(nameRe);
      });
    });

    it('rejects negative, NaN, fractional and huge sizes', () => {
      for (const i of spec.dims) for (const bad of [-1, NaN, 1.5, Infinity, 2 ** 53]) {
        const args = spec.args();
        args[i] = bad;
        expect(call(spec.fn, args)).toThrow(nameRe);
      }
    });

    it('rejects float arrays that are too short, of the wrong type, or detached', () => {
      for (const i of spec.arrays) {
        for (const bad of [f(1), new Float64Array(64), Array.from({ length: 16 }, () => 0)]) {
          const args = spec.args();
          args[i] = bad;
          expect(call(spec.fn, args)).toThrow(nameRe);
        }
        const buffer = addon!.alloc(64);
        const detached = new Float32Array(buffer);
        addon!.free(buffer);
        const args = spec.args();
        args[i] = detached;
        expect(call(spec.fn, args)).toThrow(/disposed tensor's storage is empty/);
      }
    });

    it('rejects integer arrays that are too short or not Int32Array', () => {
      for (const i of spec.ints) for (const bad of [new Int32Array(1), new Float32Array(16), [0, 0, 0, 0]]) {
        const args = spec.args();
        args[i] = bad;
        expect(call(spec.fn, args)).toThrow(nameRe);
      }
    });
  });

  it('names the expected and the actual', () => {
    expect(() => addon!.rmsNormForward(2, 3, f(5), null, 1e-6, f(6), f(2))).toThrow("rmsNormForward: argument 'x' has 5 elements, expected at least 6");
    expect(() => addon!.layerNormForward(2, 3, f(6), f(2), null, 1e-5, f(6), f(2), f(2))).toThrow("layerNormForward: argument 'weight' has 2 elements, expected at least 3");
    expect(() => addon!.rmsNormForward(2, 3, f(6), null, -1, f(6), f(2))).toThrow('rmsNormForward: eps must be finite and >= 0, got -1');
    expect(() => addon!.rmsNormForward(2, 0, f(6), null, 1e-6, f(6), f(2))).toThrow('rmsNormForward: cols must be at least 1');
    expect(() => addon!.unaryBackward('cube', f(1), f(1), f(1), 1)).toThrow("unaryBackward: unknown unary op 'cube'");
    expect(() => addon!.stridedScatter(f(6), f(5), [2, 3], [3, 1])).toThrow("stridedScatter: argument 'dst' has 5 elements, expected at least 6");
    expect(() => addon!.stridedScatter(f(6), f(6), [2, 3], [1])).toThrow('stridedScatter: shape has 2 dimensions but strides has 1');
    expect(() => addon!.rope(2, 2, 4, 3, 8, f(16), i32(0, 1), 10000, false, false)).toThrow('rope: rotaryDim must be even and at most headDim 4, got 3');
    expect(() => addon!.rope(2, 2, 4, 6, 8, f(16), i32(0, 1), 10000, false, false)).toThrow('rope: rotaryDim must be even and at most headDim 4, got 6');
    expect(() => addon!.rope(2, 2, 4, 4, 7, f(16), i32(0, 1), 10000, false, false)).toThrow('rope: rowStride must be at least heads * headDim = 8, got 7');
    expect(() => addon!.rope(2, 2, 4, 4, 8, f(16), i32(0, 1), 0, false, false)).toThrow('rope: theta must be finite and > 0, got 0');
    expect(() => addon!.crossEntropyForward(2, 5, f(10), i32(4, 0), 1.5, f(2), f(2))).toThrow("crossEntropyForward: argument 'ignoreIndex' must be a 32-bit integer, got 1.500000");
  });
});

describe.each(backendsWithKernels('embeddingForward', 'embeddingBackward', 'crossEntropyForward', 'crossEntropyBackward', 'rope'))('out-of-range ids and targets on %s', (name) => {
  const be = backend(name);

  it('embeddingForward / embeddingBackward name the position, the id and the vocab, and write nothing', () => {
    const table = bufOf(be, [1, 2, 3, 4, 5, 6, 7, 8]), out = bufOf(be, [9, 9, 9, 9, 9, 9]);
    for (const [ids, msg] of [
      [i32(0, 4, 1), 'embeddingForward: ids[1] = 4 is out of range [0, 4) (vocab 4)'],
      [i32(0, 1, -1), 'embeddingForward: ids[2] = -1 is out of range [0, 4) (vocab 4)'],
    ] as const) {
      expect(() => be.kernels.get('embeddingForward', 'test')({ n: 3, dim: 2, vocab: 4, ids, table, out })).toThrow(msg);
      expect(be.read(out, 6)).toEqual(Float32Array.from([9, 9, 9, 9, 9, 9]));
    }
    const dtable = zerosBuf(be, 8);
    expect(() => be.kernels.get('embeddingBackward', 'test')({ n: 3, dim: 2, vocab: 4, ids: i32(3, 2, 70), dy: bufOf(be, [1, 1, 1, 1, 1, 1]), dtable }))
      .toThrow('embeddingBackward: ids[2] = 70 is out of range [0, 4) (vocab 4)');
    expect(be.read(dtable, 8)).toEqual(new Float32Array(8));
  });

  it('crossEntropyForward / crossEntropyBackward name the row, the target and the vocab', () => {
    const logits = zerosBuf(be, 10), losses = zerosBuf(be, 2), lse = zerosBuf(be, 2);
    expect(() => be.kernels.get('crossEntropyForward', 'test')({ rows: 2, vocab: 5, logits, targets: i32(4, 5), ignoreIndex: -100, losses, lse }))
      .toThrow('crossEntropyForward: row 1 has target 5, outside [0, 5) (vocab 5) and not ignoreIndex -100');
    expect(() => be.kernels.get('crossEntropyForward', 'test')({ rows: 2, vocab: 5, logits, targets: i32(-1, 0), ignoreIndex: -100, losses, lse }))
      .toThrow('crossEntropyForward: row 0 has target -1, outside [0, 5) (vocab 5) and not ignoreIndex -100');
    expect(be.kernels.get('crossEntropyForward', 'test')({ rows: 2, vocab: 5, logits, targets: i32(-1, 0), ignoreIndex: -1, losses, lse })).toBe(1);
    expect(() => be.kernels.get('crossEntropyBackward', 'test')({ rows: 2, vocab: 5, logits, targets: i32(0, 9), ignoreIndex: -100, lse, gradScale: 1, dlogits: zerosBuf(be, 10) }))
      .toThrow('crossEntropyBackward: row 1 has target 9, outside [0, 5) (vocab 5) and not ignoreIndex -100');
  });

  it('rope rejects an odd or too large rotaryDim', () => {
    const p = { rows: 1, heads: 1, headDim: 4, rotaryDim: 3, rowStride: 4, x: zerosBuf(be, 4), positions: i32(0), theta: 10000, interleaved: false, inverse: false };
    expect(() => be.kernels.get('rope', 'test')(p)).toThrow(/^rope: rotaryDim must be even and at most headDim 4, got 3/);
  });
});
