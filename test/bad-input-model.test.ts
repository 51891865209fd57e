/**
 * What the bad-input harness (bad-input-kernels.test.ts, cases in helpers/bad_input/model.ts) does not cover
 * for the model kernels: the addon's own entries, called without the registry, refuse every field of the
 * wrong type, float arrays of the wrong type or detached, Int32Arrays that are short or of the wrong type,
 * and every range the harness checks (memory safety, never a read past a buffer); and out-of-range token
 * ids and targets write nothing on any backend.
 */
import { backend } from '../lib';
import { loadAddon } from '../lib/backend/native/addon';
import { hostParams } from '../lib/backend/native/views';
import { backendsWithKernels } from './helpers/backends';
import { MODEL_CASES } from './helpers/bad_input/model';
import { bufOf, zerosBuf } from './helpers/bufs';

const addon = loadAddon();
const f = (n: number) => new Float32Array(n);
const i32 = (...v: number[]) => Int32Array.from(v);

(addon ? describe : describe.skip)('native model entries, called without the registry, reject bad input', () => {
  describe.each(MODEL_CASES.map((c) => [c.kernel, c] as const))('%s', (name, c) => {
    const nameRe = new RegExp(`^${name}: `);
    const js = backend('js');
    const valid = () => hostParams(c.params((n) => bufOf(js, f(n)))) as Record<string, unknown>;
    const raw = (p: unknown) => () => (addon as unknown as Record<string, (p: unknown) => unknown>)[name](p);

    it('accepts its valid params', () => {
      expect(raw(valid())).not.toThrow();
    });

    it('rejects a value of the wrong type in every field', () => {
      for (const field of Object.keys(valid())) expect(raw({ ...valid(), [field]: Symbol.for('wrong') })).toThrow(nameRe);
    });

    it('rejects float arrays of the wrong type or detached', () => {
      for (const field of c.bufs) {
        for (const bad of [new Float64Array(64), Array.from({ length: 16 }, () => 0)]) expect(raw({ ...valid(), [field]: bad })).toThrow(nameRe);
        const buffer = addon!.alloc(64);
        const detached = new Float32Array(buffer);
        addon!.free(buffer);
        expect(raw({ ...valid(), [field]: detached })).toThrow(/disposed tensor's storage is empty/);
      }
    });

    it('rejects Int32Arrays that are too short or of another type', () => {
      const ints = Object.entries(valid()).filter(([, v]) => v instanceof Int32Array).map(([k]) => k);
      for (const field of ints) for (const bad of [new Int32Array(1), f(16), [0, 0, 0, 0]]) expect(raw({ ...valid(), [field]: bad })).toThrow(nameRe);
    });

    it('rejects each range the harness checks with the registry\'s message', () => {
      for (const [change, message] of c.ranges) {
        let got = 'no error';
        try {
          raw({ ...valid(), ...hostParams(change) })();
        } catch (e) {
          got = (e as Error).message;
        }
        expect([change, got]).toEqual([change, `${name}: ${message}`]);
      }
    });
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
});
