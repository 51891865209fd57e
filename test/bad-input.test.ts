/**
 * Every native entry point checks its arguments before touching memory: each bad argument below must
 * throw an Error that names the operation (and never crash the process or read past a buffer). The
 * kernels that take a params object (the primitives, the PEFT kernels, ...) are mutated field by field in
 * bad-input-kernels.test.ts; here is what that harness does not cover: a value of a foreign type in every
 * field, typed arrays of the wrong type, detached arrays, and the entries that take a list.
 */
import { loadAddon, type NativeAddon } from '../lib/backend/native/addon';
import { backend, fromArray, matmul, setBackend, type Storage, Tensor } from '../lib';

const addon = loadAddon();

interface EntrySpec {
  fn: keyof NativeAddon;
  op: string;
  params: () => Record<string, unknown>;
  arrays: string[];   // fields holding a Float32Array
}

const f = (n: number) => new Float32Array(n);

const specs: EntrySpec[] = [
  { fn: 'gemm', op: 'gemm', params: () => ({ transA: false, transB: true, m: 2, n: 3, k: 4, alpha: 1, a: f(8), lda: 4, b: f(12), ldb: 4, beta: 0, c: f(6), ldc: 3, bias: null }), arrays: ['a', 'b', 'c'] },
  { fn: 'binary', op: 'binary', params: () => ({ op: 'add', a: f(6), b: f(3), out: f(6), n: 6, bLength: 3 }), arrays: ['a', 'b', 'out'] },
  { fn: 'scale', op: 'scale', params: () => ({ a: f(5), out: f(5), n: 5, alpha: 2, beta: 1 }), arrays: ['a', 'out'] },
  { fn: 'unary', op: 'unary', params: () => ({ op: 'exp', a: f(5), out: f(5), n: 5 }), arrays: ['a', 'out'] },
  { fn: 'rowReduce', op: 'rowReduce', params: () => ({ op: 'sum', a: f(6), out: f(2), rows: 2, cols: 3 }), arrays: ['a', 'out'] },
  { fn: 'softmax', op: 'softmax', params: () => ({ a: f(6), out: f(6), rows: 2, cols: 3 }), arrays: ['a', 'out'] },
  { fn: 'stridedCopy', op: 'stridedCopy', params: () => ({ src: f(6), dst: f(6), shape: [2, 3], strides: [1, 2] }), arrays: ['src', 'dst'] },
  { fn: 'fill', op: 'fill', params: () => ({ out: f(4), n: 4, value: 1 }), arrays: ['out'] },
  { fn: 'randomFill', op: 'randomFill', params: () => ({ kind: 'normal', out: f(4), n: 4, seed: 1, offset: 0, mean: 0, std: 1 }), arrays: ['out'] },
];

function call(spec: EntrySpec, params: unknown): () => unknown {
  return () => (addon as unknown as Record<string, (p: unknown) => unknown>)[spec.fn](params);
}

(addon ? describe : describe.skip)('native entry points reject bad input', () => {
  describe.each(specs)('$fn', (spec) => {
    const nameRe = new RegExp(`^${spec.op}: `);

    it('accepts its valid params, and only as one object', () => {
      expect(call(spec, spec.params())).not.toThrow();
      expect(() => (addon as unknown as Record<string, (...p: unknown[]) => unknown>)[spec.fn](spec.params(), 1))
        .toThrow(`${spec.op}: expected one params object, got 2 arguments`);
      expect(call(spec, Object.values(spec.params()))).toThrow(`${spec.op}: expected one params object, got Array`);
    });

    it('rejects a value of a foreign type in every field', () => {
      for (const field of Object.keys(spec.params())) {
        expect(call(spec, { ...spec.params(), [field]: Symbol.for('wrong') })).toThrow(nameRe);
      }
    });

    it('rejects arrays of the wrong type, and detached ones', () => {
      for (const field of spec.arrays) {
        for (const bad of [new Float64Array(64), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]]) {
          expect(call(spec, { ...spec.params(), [field]: bad })).toThrow(new RegExp(`^${spec.op}: argument '${field}' must be a Float32Array`));
        }
        const buffer = addon!.alloc(64);
        const detached = new Float32Array(buffer);
        addon!.free(buffer);
        expect(call(spec, { ...spec.params(), [field]: detached })).toThrow(/disposed tensor's storage is empty/);
      }
    });
  });

  it('alloc rejects a wrong argument count and bad sizes', () => {
    expect(() => (addon!.alloc as (...a: unknown[]) => unknown)()).toThrow(/^alloc: expected 1 arguments, got 0/);
    for (const bad of [-1, NaN, 1.5, Infinity, 2 ** 53, 'x']) expect(() => addon!.alloc(bad as number)).toThrow(/^alloc: /);
  });

  it('refuses to free a buffer twice or one it did not allocate', () => {
    const buffer = addon!.alloc(4);
    addon!.free(buffer);
    expect(() => addon!.free(buffer)).toThrow('free: buffer was already freed');
    expect(() => addon!.free(new ArrayBuffer(16))).toThrow('free: buffer was not allocated by peftjs');
  });

  it('bounds the thread count and CPU path names', () => {
    expect(() => addon!.setNumThreads(0)).toThrow('setNumThreads: threads must be in [1, 256], got 0');
    expect(() => addon!.setCpuPath('sse9')).toThrow("setCpuPath: path must be 'scalar', 'avx2' or 'avx512', got 'sse9'");
  });

  it('rejects host memory where device memory is expected, and says why CUDA is unavailable', () => {
    expect(() => addon!.cudaGemm({ transA: false, transB: false, m: 1, n: 1, k: 1, alpha: 1, a: f(1) as never, lda: 1, b: f(1) as never,
      ldb: 1, beta: 0, c: f(1) as never, ldc: 1, bias: null }))
      .toThrow(/gemm: argument 'a' must be a CUDA view \[handle, offset\], got Float32Array/);
    expect(() => addon!.cudaFree({})).toThrow(/cudaFree: argument 'handle' must be a CUDA buffer handle/);
    if (addon!.cudaDeviceCount().count === 0) expect(() => addon!.cudaAlloc(4)).toThrow(/cudaAlloc: cannot allocate 16 bytes on the GPU: /);
  });
});

describe('the tensor layer rejects the wrong device', () => {
  it('names the tensor, its device and the active backend', () => {
    setBackend('js');
    const fake: Storage = { backend: 'cuda', device: 'cuda', size: 4, refs: 0, disposed: false, handle: {} };
    const onGpu = new Tensor(fake, [2, 2]);
    expect(() => matmul(onGpu, fromArray([[1], [1]]))).toThrow(
      "matmul: tensor [2, 2] is on 'cuda' but the active backend 'js' runs on 'cpu'; move it with .to('cpu')");
  });

  it('says why the cuda backend is unavailable', () => {
    let reason = '';
    try { backend('cuda'); } catch (e) { reason = (e as Error).message; }
    if (reason === '') console.log('a CUDA device is present: the unavailable-backend message is not checked here');
    else expect(reason).toMatch(/^backend 'cuda' is not available: /);
  });
});
