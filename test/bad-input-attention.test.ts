/**
 * The attention entry points check every argument before touching memory: each bad one throws an Error
 * naming the operation, and the messages name what was expected and what came.
 */
import { loadAddon, type NativeAddon } from '../lib/backend/native/addon';

const addon = loadAddon();
const f = (n: number) => new Float32Array(n);

// batch 2, tq 3, tk 4, qHeads 4, kvHeads 2, headDim 2: q rows 8 wide, k/v rows 4 wide.
const shared = (): unknown[] => [2, 3, 4, 4, 2, 2, 0.5, true, new Int32Array(8).fill(1), f(48), 8, f(32), 4, f(32), 4];
const forward = (): unknown[] => [...shared(), f(48), f(24)];
const backward = (): unknown[] => [...shared(), f(48), f(24), f(48), f(48), 8, f(32), 4, f(32), 4];

const specs = [
  { fn: 'attentionForward', args: forward, dims: [0, 1, 2, 3, 4, 5, 10, 12, 14], arrays: [9, 11, 13, 15, 16] },
  { fn: 'attentionBackward', args: backward, dims: [0, 1, 2, 3, 4, 5, 10, 12, 14, 19, 21, 23], arrays: [9, 11, 13, 15, 16, 17, 18, 20, 22] },
] as const;

function call(fn: keyof NativeAddon, args: unknown[]): () => unknown {
  return () => (addon as unknown as Record<string, (...a: unknown[]) => unknown>)[fn](...args);
}

(addon ? describe : describe.skip)('attention entry points reject bad input', () => {
  describe.each(specs)('$fn', (spec) => {
    const nameRe = new RegExp(`^${spec.fn}: `);

    it('accepts its valid arguments, with and without a key mask', () => {
      expect(call(spec.fn, spec.args())).not.toThrow();
      const args = spec.args();
      args[8] = null;
      expect(call(spec.fn, args)).not.toThrow();
    });

    it('rejects a wrong argument count', () => {
      expect(call(spec.fn, spec.args().slice(0, -1))).toThrow(/expected \d+ arguments, got \d+/);
    });

    it('rejects a value of the wrong type in every position', () => {
      spec.args().forEach((_, i) => {
        const args = spec.args();
        args[i] = Symbol.for('wrong');
        expect(call(spec.fn, args)).toThrow(nameRe);
      });
    });

    it('rejects negative, NaN, fractional and huge sizes and strides', () => {
      for (const i of spec.dims) for (const bad of [-1, NaN, 1.5, Infinity, 2 ** 53]) {
        const args: unknown[] = spec.args();
        args[i] = bad;
        expect(call(spec.fn, args)).toThrow(nameRe);
      }
    });

    it('rejects float arrays that are too short, of the wrong type, or detached', () => {
      for (const i of spec.arrays) {
        for (const bad of [f(1), new Float64Array(64), new Int32Array(64), Array.from({ length: 64 }, () => 0)]) {
          const args: unknown[] = spec.args();
          args[i] = bad;
          expect(call(spec.fn, args)).toThrow(nameRe);
        }
        const buffer = addon!.alloc(64);
        const detached = new Float32Array(buffer);
        addon!.free(buffer);
        const args: unknown[] = spec.args();
        args[i] = detached;
        expect(call(spec.fn, args)).toThrow(/disposed tensor's storage is empty/);
      }
    });

    it('rejects a key mask that is short or not an Int32Array', () => {
      for (const bad of [new Int32Array(7), new Float32Array(8), new Uint8Array(8), [1, 1, 1, 1, 1, 1, 1, 1]]) {
        const args: unknown[] = spec.args();
        args[8] = bad;
        expect(call(spec.fn, args)).toThrow(nameRe);
      }
    });

    it('rejects bad head counts, a zero headDim and a non-finite scale', () => {
      const withArg = (i: number, v: unknown) => { const a: unknown[] = spec.args(); a[i] = v; return a; };
      expect(call(spec.fn, withArg(4, 3))).toThrow(`${spec.fn}: kvHeads must be at least 1 and divide qHeads, got qHeads 4 and kvHeads 3`);
      expect(call(spec.fn, withArg(4, 0))).toThrow(/kvHeads must be at least 1/);
      expect(call(spec.fn, withArg(3, 0))).toThrow(/kvHeads must be at least 1 and divide qHeads, got qHeads 0/);
      expect(call(spec.fn, withArg(5, 0))).toThrow(`${spec.fn}: headDim must be at least 1, got 0`);
      expect(call(spec.fn, withArg(6, Infinity))).toThrow(`${spec.fn}: scale must be finite, got Infinity`);
      expect(call(spec.fn, withArg(6, NaN))).toThrow(nameRe);
    });
  });

  it('names the expected and the actual lengths and strides', () => {
    const a = forward();
    a[10] = 7;
    expect(call('attentionForward', a)).toThrow("attentionForward: rowStride of 'q' is 7, expected at least qHeads * headDim = 8");
    const b = forward();
    b[13] = f(31);
    expect(call('attentionForward', b)).toThrow("attentionForward: argument 'v' has 31 elements, expected at least 32");
    // A strided view spans (rows - 1) * stride + width: 7 * 12 + 4 = 88 for k as a slice of a wider row.
    const c = forward();
    c[12] = 12;
    c[11] = f(63);
    expect(call('attentionForward', c)).toThrow("attentionForward: argument 'k' has 63 elements, expected at least 88");
    const d = forward();
    d[8] = new Int32Array(7);
    expect(call('attentionForward', d)).toThrow("attentionForward: argument 'keyMask' has 7 elements, expected at least batch * tk = 8");
    const e = backward();
    e[21] = 3;
    expect(call('attentionBackward', e)).toThrow("attentionBackward: rowStride of 'dk' is 3, expected at least kvHeads * headDim = 4");
    const g = backward();
    g[16] = f(23);
    expect(call('attentionBackward', g)).toThrow("attentionBackward: argument 'lse' has 23 elements, expected at least 24");
  });

  it('accepts empty batches and sequences', () => {
    expect(call('attentionForward', [0, 3, 4, 4, 2, 2, 0.5, true, null, f(0), 8, f(0), 4, f(0), 4, f(0), f(0)])).not.toThrow();
    // No keys at all: every query sees nothing.
    const out = f(8).fill(NaN), lse = f(4);
    addon!.attentionForward(1, 2, 0, 2, 1, 2, 0.5, false, null, f(8), 4, f(0), 2, f(0), 2, out, lse);
    expect(Array.from(out)).toEqual(new Array(8).fill(0));
    expect(Array.from(lse)).toEqual(new Array(4).fill(-Infinity));
  });
});
