/** The kernel registry: which backend runs which kernel, and the one error for a kernel a backend lacks. */
import { backend, listKernels, rmsNorm, setBackend, withBackend, zeros } from '../lib';
import { KernelTable } from '../lib/backend/registry';
import { backendsUnderTest } from './helpers/backends';

const GROUPS = {
  primitives: ['gemm', 'binary', 'scale', 'unary', 'rowReduce', 'softmax', 'stridedCopy', 'fill', 'randomFill'],
  peft: ['loraForward', 'loraBackward', 'ia3Forward', 'ia3Backward', 'diffPruneForward', 'diffPruneBackward', 'projectTopK', 'bitfitBackward'],
  model: ['unaryBackward', 'softmaxBackward', 'columnSum', 'stridedScatter', 'rmsNormForward', 'rmsNormBackward', 'layerNormForward',
    'layerNormBackward', 'embeddingForward', 'embeddingBackward', 'rope', 'crossEntropyForward', 'crossEntropyBackward'],
  attention: ['attentionForward', 'attentionBackward'],
  optim: ['adamwStep', 'sgdStep', 'sumSquares'],
  quant: ['dequantize', 'gemmBf16'],
};
const EVERY = Object.values(GROUPS).flat().sort();

describe('listKernels', () => {
  it('lists every kernel on the js backend, and the active backend by default', () => {
    expect(listKernels('js')).toEqual(EVERY);
    expect(withBackend('js', () => listKernels())).toEqual(EVERY);
  });

  it.each(backendsUnderTest().filter((b) => b !== 'js'))('lists on %s the same set as js, or the primitives at least', (name) => {
    const names = listKernels(name);
    if (name === 'native') expect(names).toEqual(EVERY);
    else expect(names).toEqual(expect.arrayContaining(GROUPS.primitives));
  });

  it('is what the backend object registered', () => {
    expect(backend('js').kernels.names()).toEqual(listKernels('js'));
  });
});

describe('a kernel a backend lacks', () => {
  it('fails with one error naming the op, the backend and the kernel', () => {
    const table = new KernelTable('toy').register({ fill: () => undefined }, {});
    expect(table.has('fill')).toBe(true);
    expect(table.has('rmsNormForward')).toBe(false);
    expect(() => table.get('rmsNormForward', 'rmsNorm')).toThrow('rmsNorm: the toy backend has no rmsNormForward kernel; use the native or js backend');
  });

  it('refuses a kernel registered twice or a value that is not a function', () => {
    const table = new KernelTable('toy').register({ fill: () => undefined }, {});
    expect(() => table.register({ fill: () => undefined }, {})).toThrow("toy backend: kernel 'fill' is registered twice");
    expect(() => table.register({ gemm: 3 } as never, {})).toThrow("toy backend: kernel 'gemm' is not a function");
  });

  it('reaches ops through the registry: an op on a backend without its kernel names both', () => {
    // Every backend here has every kernel, so the js backend's table lends a copy without one for this spec.
    const js = backend('js');
    const saved = (js.kernels as unknown as { table: Map<string, unknown> }).table;
    const without = new Map(saved);
    without.delete('rmsNormForward');
    (js.kernels as unknown as { table: Map<string, unknown> }).table = without;
    try {
      setBackend('js');
      expect(() => rmsNorm(zeros([2, 4]), null, 1e-5)).toThrow(/rmsNorm: the js backend has no rmsNormForward kernel/);
    } finally {
      (js.kernels as unknown as { table: Map<string, unknown> }).table = saved;
    }
  });
});
