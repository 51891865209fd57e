/**
 * The op kernels' CUDA entries (`cuda<Kernel>`, csrc/binding/<op>_binding.cc) as seen without a device: the
 * CUDA backend's op list is the addon's answer (known with no GPU present), and an entry refuses host
 * buffers and missing fields with the kernel's name before anything reaches the device. Their results are
 * checked against the js reference by the op specs wherever a device is visible.
 */
import { loadAddon } from '../../lib/backend/native/addon';
import { cudaEntryName, cudaOpKernels } from '../../lib/backend/cuda';
import { OP_KERNEL_NAMES } from '../../lib/ops';

const addon = loadAddon();
if (!addon) console.log('skipping the CUDA entry checks: the native addon is not loaded');

(addon ? describe : describe.skip)('CUDA entries of the op kernels', () => {
  const WITH_ENTRIES = ['rmsNormForward', 'rmsNormBackward', 'layerNormForward', 'layerNormBackward', 'adamwStep', 'sgdStep',
    'unaryBackward', 'softmaxBackward', 'columnSum', 'stridedScatter', 'bitfitBackward'];

  it('the cuda backend lists exactly the op kernels that have an entry, the norms, optimizer updates and gradient pieces among them', () => {
    const listed = Object.keys(cudaOpKernels(addon!)).sort();
    expect(listed).toEqual(expect.arrayContaining(WITH_ENTRIES));
    expect(listed).toEqual(OP_KERNEL_NAMES.filter((k) => typeof (addon as unknown as Record<string, unknown>)[cudaEntryName(k)] === 'function').sort());
    expect(cudaEntryName('rmsNormForward')).toBe('cudaRmsNormForward');
  });

  it('an entry refuses a host buffer where a device view belongs, naming the kernel and the field', () => {
    const raw = (addon as unknown as Record<string, (p: unknown) => unknown>).cudaRmsNormForward;
    const host = { rows: 2, cols: 3, x: new Float32Array(6), weight: null, eps: 1e-6, y: new Float32Array(6), rstd: new Float32Array(2) };
    expect(() => raw(host)).toThrow(/^rmsNormForward: argument 'x' must be/);
    expect(() => raw({ ...host, cols: 0 })).toThrow('rmsNormForward: cols must be at least 1');
    expect(() => raw(7)).toThrow('rmsNormForward: expected one params object, got number 7');
  });
});
