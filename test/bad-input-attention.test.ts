/**
 * Fused attention's bad input beyond what the bad-input harness (bad-input-kernels.test.ts, cases in
 * helpers/bad_input/attention.ts) checks: the addon itself, called without the registry, gives the
 * registry's message for every refused field of the q, k, v (dq, dk, dv) views, the key mask and the
 * ranges, refuses view buffers that are short, of another type or detached, and both backends run empty
 * batches and sequences.
 */
import { backend, type Buf } from '../lib';
import { loadAddon } from '../lib/backend/native/addon';
import { hostParams } from '../lib/backend/native/views';
import { backendsWithKernels } from './helpers/backends';
import { ATTENTION_CASES } from './helpers/bad_input/attention';
import { messageOf } from './helpers/bad_input/case';
import { bufOf, readBuf } from './helpers/bufs';

const addon = loadAddon();
const js = backend('js');
const jsBuf = (n: number) => bufOf(js, new Float32Array(n));

const VIEWS: Record<string, string[]> = { attentionForward: ['q', 'k', 'v'], attentionBackward: ['q', 'k', 'v', 'dq', 'dk', 'dv'] };

(addon ? describe : describe.skip)('the attention entry points, called without the registry', () => {
  describe.each(ATTENTION_CASES.map((c) => [c.kernel, c] as const))('%s', (name, c) => {
    const raw = (p: unknown) => (addon as unknown as Record<string, (p: unknown) => unknown>)[name](p);
    const registry = (p: unknown) => (js.kernels.get(name, 'test') as (p: unknown) => unknown)(p);
    const valid = () => c.params(jsBuf) as Record<string, unknown>;

    it('accept valid params with and without a key mask', () => {
      expect(() => raw(hostParams(valid()))).not.toThrow();
      expect(() => raw(hostParams({ ...valid(), keyMask: null }))).not.toThrow();
      expect(() => raw(hostParams({ ...valid(), keyMask: undefined }))).not.toThrow();
    });

    it("give the registry's message for every refused range, view and key mask", () => {
      for (const [change, message] of c.ranges) {
        const p = { ...valid(), ...change };
        expect([change, messageOf(() => raw(hostParams(p)))]).toEqual([change, `${name}: ${message}`]);
        expect([change, messageOf(() => registry(p))]).toEqual([change, `${name}: ${message}`]);
      }
    });

    it('refuse view buffers that are short, of another type or detached, naming the view', () => {
      for (const v of VIEWS[name]) {
        const p = hostParams(valid()) as Record<string, { buf: unknown; rowStride: number }>;
        for (const bad of [new Float32Array(1), new Float64Array(64), new Int32Array(64), Array.from({ length: 64 }, () => 0), undefined]) {
          expect(() => raw({ ...p, [v]: { ...p[v], buf: bad } })).toThrow(new RegExp(`^${name}: argument '${v}.buf' (has 1 elements|must be a Float32Array)`));
        }
        const buffer = addon!.alloc(64);
        const detached = new Float32Array(buffer);
        addon!.free(buffer);
        expect(() => raw({ ...p, [v]: { ...p[v], buf: detached } })).toThrow(/disposed tensor's storage is empty/);
        for (const bad of [-1, NaN, 1.5, Infinity, 2 ** 53, undefined]) {
          expect(() => raw({ ...p, [v]: { ...p[v], rowStride: bad } })).toThrow(new RegExp(`^${name}: argument '${v}.rowStride' must`));
        }
      }
    });

    it('refuse a short or detached key mask', () => {
      const buffer = addon!.alloc(8);
      const detached = new Int32Array(buffer);
      addon!.free(buffer);
      expect(() => raw(hostParams({ ...valid(), keyMask: detached })))
        .toThrow(`${name}: argument 'keyMask' has 0 elements, expected at least batch * tk = 8`);
      expect(() => raw(hostParams({ ...valid(), keyMask: new Uint8Array(8) })))
        .toThrow(`${name}: argument 'keyMask' must be an Int32Array or null, got Uint8Array`);
    });
  });
});

describe.each(backendsWithKernels('attentionForward', 'attentionBackward'))('attention on %s', (b) => {
  const be = backend(b);
  const buf = (n: number, fill = 0): Buf => bufOf(be, new Float32Array(n).fill(fill));
  const forward = (p: unknown) => (be.kernels.get('attentionForward', 'test') as (p: unknown) => unknown)(p);

  it('names both lengths when a strided view spans past its buffer', () => {
    // A strided view spans (rows - 1) * stride + width: 7 * 12 + 4 = 88 for k as a slice of a wider row.
    const p = { ...ATTENTION_CASES[0].params(buf), k: { buf: { storage: be.alloc(63), offset: 0 }, rowStride: 12 } };
    expect(() => forward(p)).toThrow("attentionForward: argument 'k.buf' has 63 elements, expected at least 88");
    if (addon && b === 'native') expect(() => addon.attentionForward(hostParams(p) as never)).toThrow("attentionForward: argument 'k.buf' has 63 elements, expected at least 88");
  });

  it('refuses a view without its buffer', () => {
    expect(() => forward({ ...ATTENTION_CASES[0].params(buf), v: { rowStride: 4 } })).toThrow("attentionForward: argument 'v.buf' must be a buffer, got undefined");
  });

  it('accepts empty batches and sequences', () => {
    const none = (stride: number) => ({ buf: buf(0), rowStride: stride });
    expect(() => forward({ batch: 0, tq: 3, tk: 4, qHeads: 4, kvHeads: 2, headDim: 2, scale: 0.5, causal: true, keyMask: null,
      q: none(8), k: none(4), v: none(4), out: buf(0), lse: buf(0) })).not.toThrow();
    // No keys at all: every query sees nothing.
    const out = buf(8, NaN), lse = buf(4);
    forward({ batch: 1, tq: 2, tk: 0, qHeads: 2, kvHeads: 1, headDim: 2, scale: 0.5, causal: false, keyMask: null,
      q: { buf: buf(8), rowStride: 4 }, k: none(2), v: none(2), out, lse });
    expect(Array.from(readBuf(be, out, 8))).toEqual(new Array(8).fill(0));
    expect(Array.from(readBuf(be, lse, 4))).toEqual(new Array(4).fill(-Infinity));
  });
});
