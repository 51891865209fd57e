/**
 * The op kernels' CUDA entries (`cuda<Kernel>`, csrc/binding/<op>_binding.cc) as seen without a device: the
 * CUDA backend's op list is the addon's answer (known with no GPU present), and an entry refuses host
 * buffers and missing fields with the kernel's name before anything reaches the device. Their results are
 * checked against the js reference by the op specs wherever a device is visible.
 */
import { loadAddon } from '../../lib/backend/native/addon';
import { cudaEntryName, cudaOpKernels, setCudaAllowTf32 } from '../../lib/backend/cuda';
import { deviceParams } from '../../lib/backend/cuda/device_params';
import type { Buf, Storage } from '../../lib/backend/types';
import { OP_KERNEL_NAMES } from '../../lib/ops';
import { listKernels } from '../../lib';

const addon = loadAddon();
if (!addon) console.log('skipping the CUDA entry checks: the native addon is not loaded');

(addon ? describe : describe.skip)('CUDA entries of the op kernels', () => {
  it('every op kernel has a CUDA entry, so the cuda backend lists exactly the native one\'s op kernels', () => {
    const listed = Object.keys(cudaOpKernels(addon!)).sort();
    const withEntry = OP_KERNEL_NAMES.filter((k) => typeof (addon as unknown as Record<string, unknown>)[cudaEntryName(k)] === 'function');
    expect(listed).toEqual([...withEntry].sort());
    expect(listed).toEqual([...OP_KERNEL_NAMES].sort());
    expect(cudaEntryName('rmsNormForward')).toBe('cudaRmsNormForward');
  });

  it(`listKernels('cuda') is the build's answer: native's list where CUDA is compiled in (${addon?.info().cudaCompiled ? 'here' : 'not here'}), without a device`, () => {
    if (addon!.info().cudaCompiled) expect(listKernels('cuda')).toEqual(listKernels('native'));
    else if (addon!.cudaDeviceCount().count === 0) expect(() => listKernels('cuda')).toThrow(/^backend 'cuda' is not available: /);
  });

  it('an entry checks integer inputs on the host, with the CPU entry\'s message, before anything reaches the device', () => {
    const entries = addon as unknown as Record<string, (p: unknown) => unknown>;
    const p = { n: 2, dim: 1, vocab: 3, ids: new Int32Array([1, 5]), table: null, out: null };
    const message = 'embeddingForward: ids[1] = 5 is out of range [0, 3) (vocab 3)';
    expect(() => entries.embeddingForward(p)).toThrow(message);
    expect(() => entries.cudaEmbeddingForward(p)).toThrow(message);
  });

  it('an entry refuses a host buffer where a device view belongs, naming the kernel and the field', () => {
    const raw = (addon as unknown as Record<string, (p: unknown) => unknown>).cudaRmsNormForward;
    const host = { rows: 2, cols: 3, x: new Float32Array(6), weight: null, eps: 1e-6, y: new Float32Array(6), rstd: new Float32Array(2) };
    expect(() => raw(host)).toThrow(/^rmsNormForward: argument 'x' must be/);
    expect(() => raw({ ...host, cols: 0 })).toThrow('rmsNormForward: cols must be at least 1');
    expect(() => raw(7)).toThrow('rmsNormForward: expected one params object, got number 7');
  });
});

describe('the CUDA GEMM library and TF32', () => {
  (addon ? it : it.skip)('TF32 is off by default (as in PyTorch), and the setting returns the previous one', () => {
    expect(setCudaAllowTf32(true)).toBe(false);
    expect(setCudaAllowTf32(false)).toBe(true);
    expect(() => setCudaAllowTf32(1 as unknown as boolean)).toThrow('setCudaAllowTf32: allow must be a boolean, got number');
  });

  (addon ? it : it.skip)('counts the host\'s waits for the device (none without a device)', () => {
    const before = addon!.cudaHostWaits();
    expect(Number.isInteger(before)).toBe(true);
    if (addon!.cudaDeviceCount().count === 0) {
      expect(() => addon!.cudaSynchronize()).toThrow();
      expect(addon!.cudaHostWaits()).toBe(addon!.info().cudaCompiled ? before + 1 : 0);
    }
  });

  (addon ? it : it.skip)('says which library the GEMMs use, or why not cuBLASLt', () => {
    const lib = addon!.cudaGemmLibrary();
    expect(typeof lib.cublasLt).toBe('boolean');
    if (lib.cublasLt) expect(lib.path).toMatch(/libcublasLt/);
    else expect(lib.reason.length).toBeGreaterThan(0);
  });
});

describe('device params', () => {
  const storage = (handle: unknown): Storage => ({ backend: 'cuda', device: 'cuda', size: 8, handle, refs: 0, disposed: false }) as unknown as Storage;
  const buf = (handle: unknown, offset: number): Buf => ({ storage: storage(handle), offset }) as unknown as Buf;

  it('turns every buffer, one level deep, into a [handle, offset] view and leaves the rest as it is', () => {
    const ids = new Int32Array([1, 2]);
    const h = { tag: 'h' };
    const p = deviceParams({ x: buf(h, 3), ids, q: { buf: buf(h, 5), rowStride: 4 }, bias: null, n: 2, shape: [1, 2] });
    expect(p.x).toEqual([h, 3]);
    expect(p.q).toEqual({ buf: [h, 5], rowStride: 4 });
    expect(p.ids).toBe(ids);
    expect(p.bias).toBeNull();
    expect(p.n).toBe(2);
    expect(p.shape).toEqual([1, 2]);
  });

  it('refuses a buffer of host memory, saying where it lives', () => {
    const host = { storage: { backend: 'native', device: 'cpu', size: 1, data: new Float32Array(1) }, offset: 0 } as unknown as Buf;
    expect(() => deviceParams({ x: host })).toThrow("cuda backend: storage on 'cpu' is not device memory");
    expect(() => deviceParams({ q: { buf: host, rowStride: 1 } })).toThrow("cuda backend: storage on 'cpu' is not device memory");
  });
});
